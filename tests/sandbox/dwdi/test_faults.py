"""The DWDI double's fault injection, recording, concurrency and life cycle."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from sandbox.dwdi_data import DwdiDataset
from sandbox.dwdi_server import DWDISandbox
from tests.sandbox.dwdi.helpers import (
    MONTH_PATH,
    STATIC,
    MakeSandbox,
    get,
)


def test_fail_next_counts_and_then_recovers(open_sandbox: DWDISandbox, session: requests.Session) -> None:
    open_sandbox.fail_next(503, count=2)
    month = {"from": "2026-10", "to": "2026-10"}
    statuses = [get(session, open_sandbox, **month).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert [r.status for r in open_sandbox.requests] == [503, 503, 200]


def test_fail_next_with_headers_and_body(open_sandbox: DWDISandbox, session: requests.Session) -> None:
    open_sandbox.fail_next(429, headers={"Retry-After": "1"})
    open_sandbox.fail_next(502, body=b"bad gateway", content_type="text/plain")
    month = {"from": "2026-10", "to": "2026-10"}
    first = get(session, open_sandbox, **month)
    assert (first.status_code, first.headers["Retry-After"], first.json()) == (
        429,
        "1",
        {"detail": "injected"},
    )
    second = get(session, open_sandbox, **month)
    assert (second.status_code, second.text, second.headers["Content-Type"]) == (
        502,
        "bad gateway",
        "text/plain",
    )
    assert get(session, open_sandbox, **month).status_code == 200


def test_faults_come_before_authentication(make_dwdi_sandbox: MakeSandbox, session: requests.Session) -> None:
    sandbox = make_dwdi_sandbox(static_token=STATIC)
    sandbox.fail_next(503)
    assert get(session, sandbox, **{"from": "2026-10", "to": "2026-10"}).status_code == 503


def test_delay_next(open_sandbox: DWDISandbox, session: requests.Session) -> None:
    open_sandbox.delay_next(0.3)
    month = {"from": "2026-10", "to": "2026-10"}
    started = time.monotonic()
    assert get(session, open_sandbox, **month).ok
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert get(session, open_sandbox, **month).ok
    assert time.monotonic() - started < 0.3
    # A client with a shorter timeout sees the delay as a timeout.
    open_sandbox.delay_next(0.5)
    with pytest.raises(requests.Timeout):
        session.get(open_sandbox.url + MONTH_PATH, params=month, timeout=0.1)


def test_recording_and_reset(make_dwdi_sandbox: MakeSandbox, session: requests.Session) -> None:
    sandbox = make_dwdi_sandbox(static_token=STATIC)
    get(session, sandbox, token=STATIC, **{"from": "2026-10", "to": "2026-10"}, account=["a", "b"])
    get(session, sandbox, **{"from": "2026-10", "to": "2026-10"})
    first, second = sandbox.requests
    assert first.method == "GET"
    assert first.path == MONTH_PATH
    assert first.query == {"from": ["2026-10"], "to": ["2026-10"], "account": ["a", "b"]}
    assert first.url_length == len(f"{MONTH_PATH}?from=2026-10&to=2026-10&account=a&account=b")
    assert (first.authorized, first.status, first.token_subject) == (True, 200, None)
    assert (second.authorized, second.status) == (False, 401)
    # Admin calls are not recorded.
    assert session.get(sandbox.url + "/sandbox/info", timeout=10).ok
    assert len(sandbox.requests) == 2
    sandbox.reset_requests()
    assert sandbox.requests == []


def test_concurrent_requests_are_all_answered_and_recorded(
    open_sandbox: DWDISandbox, session: requests.Session
) -> None:
    open_sandbox.fail_next(503, count=5)

    def call(index: int) -> int:
        with requests.Session() as http:
            http.trust_env = False
            return get(
                http, open_sandbox, **{"from": "2026-10", "to": "2026-10"}, account=f"g{index:03d}"
            ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(call, range(1, 41)))
    assert sorted(statuses) == [200] * 35 + [503] * 5
    assert len(open_sandbox.requests) == 40


def test_the_sandbox_is_a_context_manager(dataset: DwdiDataset) -> None:
    with DWDISandbox(jwks_url=None, issuer=None, dataset=dataset) as sandbox:
        response = requests.get(sandbox.url + "/sandbox/info", timeout=10)
        assert json.loads(response.content)["url"] == sandbox.url
    with pytest.raises(requests.ConnectionError):
        requests.get(sandbox.url + "/sandbox/info", timeout=2)


def test_stop_is_quick_with_a_client_waiting(open_sandbox: DWDISandbox) -> None:
    """A delayed request in flight does not block stop() (daemon handler threads)."""
    open_sandbox.delay_next(2.0)
    worker = threading.Thread(
        target=lambda: requests.get(
            open_sandbox.url + MONTH_PATH, params={"from": "2026-10", "to": "2026-10"}, timeout=5
        ),
        daemon=True,
    )
    worker.start()
    time.sleep(0.1)
    started = time.monotonic()
    open_sandbox.stop()
    assert time.monotonic() - started < 1.0
