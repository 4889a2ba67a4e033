"""The shared retry loop, exercised over real loopback HTTP."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from airflow_provider_cscs_dwdi.hooks._http import (
    RetryPolicy,
    TransientHTTPError,
    retry_after_seconds,
    send_with_retries,
)

LOG = logging.getLogger(__name__)


class ScriptedServer:
    """Answers each GET with the next scripted (status, headers) pair, then 200."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                status, headers = outer.script.pop(0) if outer.script else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


FAST = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_cap=0.05, max_total_seconds=30)


def send(
    server_url: str, policy: RetryPolicy = FAST, sleep: RecordingSleep | None = None
) -> requests.Response:
    with requests.Session() as session:
        return send_with_retries(
            session,
            "GET",
            server_url,
            policy=policy,
            log=LOG,
            describe="test call",
            sleep=sleep or RecordingSleep(),
            timeout=5,
        )


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_transient_status_is_retried_until_success(server: ScriptedServer, status: int) -> None:
    server.script = [(status, {}), (status, {})]
    assert send(server.url).status_code == 200
    assert server.hits == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 500])
def test_other_statuses_are_returned_without_retry(server: ScriptedServer, status: int) -> None:
    server.script = [(status, {})]
    assert send(server.url).status_code == status
    assert server.hits == 1


def test_retry_after_header_sets_the_delay(server: ScriptedServer) -> None:
    sleep = RecordingSleep()
    server.script = [(429, {"Retry-After": "7"})]
    assert send(server.url, sleep=sleep).status_code == 200
    assert sleep.delays == [7.0]


def test_attempts_are_bounded(server: ScriptedServer) -> None:
    server.script = [(503, {})] * 10
    with pytest.raises(TransientHTTPError, match=r"test call failed after 4 attempt\(s\).*HTTP 503") as info:
        send(server.url)
    assert info.value.status == 503
    assert server.hits == 4


def test_total_time_is_bounded_by_retry_after(server: ScriptedServer) -> None:
    sleep = RecordingSleep()
    server.script = [(429, {"Retry-After": "3600"})]
    with pytest.raises(TransientHTTPError, match="HTTP 429"):
        send(server.url, sleep=sleep)
    assert sleep.delays == []
    assert server.hits == 1


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    sleep = RecordingSleep()
    with pytest.raises(TransientHTTPError, match="ConnectionError"):
        send(f"http://127.0.0.1:{closed_port}/", sleep=sleep)
    assert len(sleep.delays) == FAST.max_attempts - 1


def test_backoff_grows_exponentially_with_jitter_and_cap() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=5.0)
    assert [policy.backoff(n, rng=lambda: 1.0) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert [policy.backoff(n, rng=lambda: 0.0) for n in range(3)] == [0.5, 1.0, 2.0]


@pytest.mark.parametrize(
    ("header", "expected"),
    [("12", 12.0), (" 0 ", 0.0), ("soon", None), ("", None), (None, None)],
)
def test_retry_after_parsing(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header) == expected


def test_retry_after_http_date() -> None:
    from datetime import datetime

    now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Mon, 23 Nov 2026 12:00:30 GMT", now=now) == 30.0
