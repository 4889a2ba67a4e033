"""LeanSession sends byte for byte what requests.Session sends, over real loopback HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from airflow_provider_cscs_dwdi.hooks._http import LeanSession


class CapturingServer:
    """Records each request's line, headers (in order) and body; answers 201 with a cookie-free body."""

    def __init__(self) -> None:
        self.captured: list[tuple[str, list[tuple[str, str]], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _capture(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.captured.append((self.requestline, list(self.headers.items()), body))
                self.send_response(201)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = _capture

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> CapturingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server() -> Iterator[CapturingServer]:
    with CapturingServer() as capturing:
        yield capturing


def _configured(session: requests.Session) -> requests.Session:
    session.trust_env = False
    session.headers.update({"Authorization": "Token abc", "Accept": "application/json"})
    return session


CALLS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "GET",
        "/api/resources/",
        {"params": {"offering_uuid": "ab12", "state": ["OK", "Updating"], "page_size": 100}},
    ),
    ("GET", "/api/resources/?page=2&field=uuid", {"params": None}),
    ("GET", "/api/users/me/", {}),
    (
        "POST",
        "/api/set_usage/",
        {"json": {"resource": "ab12", "usages": [{"type": "nodeHours", "amount": "1.50"}]}},
    ),
    ("POST", "/api/set_user_usages/", {"json": {"usages": [{"username": "üser", "usage": "0.25"}]}}),
    ("POST", "/api/empty/", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), CALLS, ids=[f"{m} {p}" for m, p, _ in CALLS])
def test_lean_requests_are_identical_to_ordinary_ones(
    server: CapturingServer, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    for session in (_configured(requests.Session()), _configured(LeanSession())):
        with session:
            response = session.request(method, server.url + path, timeout=5, **kwargs)
        assert response.status_code == 201
    ordinary, lean = server.captured
    assert lean == ordinary


def test_unencodable_json_fails_like_requests(server: CapturingServer) -> None:
    for session in (_configured(requests.Session()), _configured(LeanSession())):
        with pytest.raises(requests.exceptions.InvalidJSONError), session:
            session.request("POST", server.url + "/api/x/", json={"amount": float("nan")}, timeout=5)
        with pytest.raises(TypeError), session:
            session.request("POST", server.url + "/api/x/", json={"amount": Decimal("1")}, timeout=5)
    assert server.captured == []


def test_a_session_with_cookies_or_url_credentials_goes_the_ordinary_way(server: CapturingServer) -> None:
    session = _configured(LeanSession())
    session.cookies.set("csrftoken", "xyz")
    session.request("GET", server.url + "/api/a/", timeout=5)
    url_with_credentials = server.url.replace("http://", "http://user:pw@")
    _configured(LeanSession()).request("GET", url_with_credentials + "/api/b/", timeout=5)
    (_, cookie_headers, _), (_, auth_headers, _) = server.captured
    assert ("Cookie", "csrftoken=xyz") in cookie_headers
    assert ("Authorization", "Basic dXNlcjpwdw==") in auth_headers
