"""DWDIHook against the real OIDC issuer and the DWDI double over loopback. test_connection (the UI's Test button): never raises, says what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_cscs_dwdi.hooks.dwdi import (
    CONNECTION_TEST_ACCOUNT,
    DWDIHook,
)
from tests.hooks.dwdi.helpers import (
    CLIENT,
    CONN_ID,
    INSTANT_RETRIES,
    SECRET,
    HookFactory,
    unused_port,
)


def test_connection_ok(make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any) -> None:
    sandbox = make_sandbox()
    ok, message = make_hook(sandbox.url).test_connection()
    assert ok, message
    assert "Connected" in message
    (recorded,) = sandbox.requests
    assert recorded.query["account"] == [CONNECTION_TEST_ACCOUNT]
    assert recorded.authorized


def test_connection_bad_credentials(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox()
    ok, message = make_hook(sandbox.url, secret="wrong-secret").test_connection()
    assert not ok
    assert message.startswith("bad credentials")
    assert "wrong-secret" not in message
    assert sandbox.requests == []


def test_connection_issuer_down(make_hook: HookFactory) -> None:
    token_url = f"http://127.0.0.1:{unused_port()}/token"
    ok, message = make_hook("http://127.0.0.1:9", token_url=token_url).test_connection()
    assert not ok
    assert message.startswith(f"OIDC issuer unreachable at {token_url}")


def test_connection_api_5xx(make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any) -> None:
    sandbox = make_sandbox()
    sandbox.fail_next(503, count=INSTANT_RETRIES.max_attempts)
    ok, message = make_hook(sandbox.url).test_connection()
    assert not ok
    assert "DWDI API answered 503" in message


def test_connection_missing_configuration(set_connection: Callable[..., None]) -> None:
    set_connection(CONN_ID, conn_type="cscs_dwdi", host="https://dwdi.example", login=CLIENT, password=SECRET)
    ok, message = DWDIHook(CONN_ID).test_connection()
    assert not ok
    assert message.startswith("configuration:")
    assert "oidc_endpoint_url" in message
    assert "missing" in message


def test_connection_unknown_connection_id_does_not_raise() -> None:
    ok, message = DWDIHook("no_such_dwdi_connection").test_connection()
    assert not ok
    assert message
