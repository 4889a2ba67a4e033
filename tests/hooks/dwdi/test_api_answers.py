"""DWDIHook against the real OIDC issuer and the DWDI double over loopback. API answers: retries on 429/503, one token renewal after a 401, other statuses and bodies that are not usage JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.hooks.dwdi import (
    DWDIAPIError,
    DWDIAuthenticationError,
    DWDIResponseError,
)
from tests.hooks.dwdi.helpers import (
    CLIENT,
    INSTANT_RETRIES,
    MONTH,
    SECRET,
    HookFactory,
)


def test_a_503_is_retried(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any, sleeps: list[float]
) -> None:
    sandbox = make_sandbox()
    sandbox.fail_next(503)
    hook = make_hook(sandbox.url)
    result = hook.get_compute_usage(MONTH, MONTH, accounts=["g001"])
    assert isinstance(result["compute"], list)
    assert [r.status for r in sandbox.requests] == [503, 200]
    assert len(sleeps) == 1
    assert issuer.token_count(CLIENT) == 1


def test_a_429_waits_as_long_as_retry_after_says(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any, sleeps: list[float]
) -> None:
    sandbox = make_sandbox()
    sandbox.fail_next(429, headers={"Retry-After": "7"})
    hook = make_hook(sandbox.url)
    hook.get_compute_usage(MONTH, MONTH, accounts=["g001"])
    assert [r.status for r in sandbox.requests] == [429, 200]
    assert sleeps == [7.0]


def test_a_lasting_503_names_the_status(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any, sleeps: list[float]
) -> None:
    sandbox = make_sandbox()
    sandbox.fail_next(503, count=INSTANT_RETRIES.max_attempts)
    hook = make_hook(sandbox.url)
    with pytest.raises(DWDIAPIError, match="DWDI API answered 503") as raised:
        hook.get_compute_usage(MONTH, MONTH, accounts=["g001"])
    assert raised.value.status == 503
    assert len(sandbox.requests) == INSTANT_RETRIES.max_attempts


def test_an_api_401_gets_one_fresh_token(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox()
    hook = make_hook(sandbox.url)
    hook.get_compute_usage(MONTH, MONTH, accounts=["g001"])
    sandbox.reject_next_token()
    hook.get_compute_usage(MONTH, MONTH, accounts=["g002"])
    assert [r.status for r in sandbox.requests] == [200, 401, 200]
    assert issuer.token_count(CLIENT) == 2


def test_an_api_that_keeps_refusing_tokens_renews_only_once(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox()
    sandbox.reject_next_token(count=5)
    hook = make_hook(sandbox.url)
    with pytest.raises(DWDIAuthenticationError, match="refused a freshly issued token"):
        hook.get_compute_usage(MONTH, MONTH, accounts=["g001"])
    assert [r.status for r in sandbox.requests] == [401, 401]
    assert issuer.token_count(CLIENT) == 2


def test_other_4xx_are_not_retried_and_name_status_and_body(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any, sleeps: list[float]
) -> None:
    sandbox = make_sandbox()
    sandbox.fail_next(400, body=b"bad month " + b"x" * 500, content_type="text/plain")
    hook = make_hook(sandbox.url)
    with pytest.raises(DWDIAPIError) as raised:
        hook.get_compute_usage(MONTH, MONTH, accounts=["g001"])
    message = str(raised.value)
    assert raised.value.status == 400
    assert "answered 400" in message
    assert "bad month " + "x" * 190 in message
    assert "x" * 191 not in message  # only the first 200 bytes
    assert len(sandbox.requests) == 1
    assert sleeps == []


def test_a_body_that_is_not_json_is_reported_without_secrets(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox()
    hook = make_hook(sandbox.url)
    token = hook.get_token()
    # A misbehaving gateway that echoes credentials must not leak them through our error.
    sandbox.set_raw_response(f"<html>gateway {token} {SECRET}</html>".encode(), "text/html", status=200)
    with pytest.raises(DWDIResponseError) as raised:
        hook.get_compute_usage(MONTH, MONTH, accounts=["g001"])
    message = str(raised.value)
    assert "is not JSON" in message
    assert "HTTP 200" in message
    assert "text/html" in message
    assert "<html>gateway ***" in message
    assert token not in message
    assert SECRET not in message
    assert (raised.value.status, raised.value.content_type) == (200, "text/html")


@pytest.mark.parametrize("body", [b'{"compute": {}}', b"[]", b'{"storage": []}', b"null"])
def test_a_body_of_the_wrong_shape_is_reported(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any, body: bytes
) -> None:
    sandbox = make_sandbox()
    sandbox.set_raw_response(body, "application/json")
    hook = make_hook(sandbox.url)
    with pytest.raises(DWDIResponseError, match="documented") as raised:
        hook.get_compute_usage(MONTH, MONTH, accounts=["g001"])
    assert "application/json" in str(raised.value)
    assert body.decode() in str(raised.value)
