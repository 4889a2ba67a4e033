"""DWDIHook against the real OIDC issuer and the DWDI double over loopback. Secrets never reach logs or errors; every request goes through the configured proxy."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_cscs_dwdi.hooks.dwdi import (
    DWDIAPIError,
    DWDIAuthenticationError,
    DWDIResponseError,
)
from tests.hooks.dwdi.helpers import (
    MONTH,
    SECRET,
    HookFactory,
    unused_port,
)


def test_secrets_never_reach_logs_or_errors(
    make_sandbox: Callable[..., Any],
    make_hook: HookFactory,
    issuer: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = make_sandbox()
    hook = make_hook(sandbox.url)
    tokens = [hook.get_token()]
    sandbox.reject_next_token()
    sandbox.fail_next(503)
    hook.get_compute_usage(MONTH, MONTH, accounts=["g001", "g002"])
    tokens.append(hook.get_token())
    sandbox.reject_next_token(count=2)
    with pytest.raises(DWDIAuthenticationError) as raised:
        hook.get_compute_usage(MONTH, MONTH, accounts=["g001"])
    tokens.append(hook.get_token())
    bad = make_hook(sandbox.url, secret="other-wrong-secret")
    ok, reason = bad.test_connection()

    assert not ok
    assert caplog.text  # the hook did log (counts, retries, renewals)
    for secret in [SECRET, "other-wrong-secret", *tokens]:
        assert secret not in caplog.text
        assert secret not in str(raised.value)
        assert secret not in reason


def test_requests_go_through_the_configured_proxy(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any, http_proxy: Any
) -> None:
    sandbox = make_sandbox()
    hook = make_hook(sandbox.url, proxy_url=http_proxy.url)
    hook.get_compute_usage(MONTH, MONTH, accounts=["g001"])

    relayed = http_proxy.requests
    assert [(r.method, urlsplit(r.url).path) for r in relayed] == [
        ("POST", urlsplit(issuer.token_url).path),
        ("GET", urlsplit(sandbox.url).path.rstrip("/") + "/api/v1/compute/usage-month-multiaccount"),
    ]
    assert [r.status for r in relayed] == [200, 200]
    token_request, api_request = relayed
    # The secret travels only in the token request's form body: no Basic auth, no extras as headers.
    assert "authorization" not in token_request.headers
    assert api_request.headers["authorization"].startswith("Bearer ")
    extras = {"oidc_endpoint_url", "timeout_seconds", "proxy_url"}
    assert not extras & {name.replace("-", "_") for r in relayed for name in r.headers}
    assert sandbox.requests[0].authorized


def test_a_socks_proxy_is_used_for_the_issuer_too(make_hook: HookFactory, issuer: Any) -> None:
    # Nothing listens at the SOCKS address: if the proxy were ignored, the token request would
    # reach the (running) issuer directly and succeed.
    hook = make_hook("http://127.0.0.1:9", proxy_url=f"socks5h://127.0.0.1:{unused_port()}")
    ok, reason = hook.test_connection()
    assert not ok
    assert reason.startswith("OIDC issuer unreachable at")
    assert issuer.token_count() == 0


def test_storage_and_inference_go_through_the_proxy_with_one_token(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any, http_proxy: Any
) -> None:
    sandbox = make_sandbox()
    hook = make_hook(sandbox.url, proxy_url=http_proxy.url)
    assert hook.get_storage_usage(MONTH, ["/capstor/store/cscs/p001"])["storage"]
    assert hook.get_inference_cost(MONTH, MONTH, None)["inference"]

    assert [(r.method, urlsplit(r.url).path, r.status) for r in http_proxy.requests] == [
        ("POST", urlsplit(issuer.token_url).path, 200),
        ("GET", "/api/v1/storage/usage-month", 200),
        ("GET", "/api/v1/inference/resource/cost", 200),
    ]
    assert all(r.authorized for r in sandbox.requests)


def test_storage_and_inference_failures_keep_secrets_out_of_logs_and_errors(
    make_sandbox: Callable[..., Any],
    make_hook: HookFactory,
    issuer: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = make_sandbox(unavailable_endpoints=["storage"])
    hook = make_hook(sandbox.url)
    token = hook.get_token()
    messages = []
    with pytest.raises(DWDIAPIError) as missing:
        hook.get_storage_usage(MONTH, None)
    messages.append(str(missing.value))
    echo = f"<html>{token} {SECRET}</html>".encode()
    sandbox.fail_next(404, body=echo, content_type="text/html")
    with pytest.raises(DWDIAPIError) as echoed:
        hook.get_inference_cost(MONTH, MONTH, None)
    messages.append(str(echoed.value))
    sandbox.set_raw_response(echo, "text/html")
    with pytest.raises(DWDIResponseError) as not_json:
        hook.get_inference_cost(MONTH, MONTH, None)
    messages.append(str(not_json.value))

    logs = caplog.text + capsys.readouterr().out  # the hook logs through structlog to stdout
    assert "DWDI inference cost" in logs
    assert "set inference_cost_path" in messages[1]
    for secret in (SECRET, token):
        assert secret not in logs
        assert all(secret not in message for message in messages)


def test_a_fetched_token_is_masked_in_task_logs(make_hook: HookFactory, issuer: Any) -> None:
    # The hook only ever logs about the token, never the token itself, so a log line containing it
    # comes from elsewhere (a library's debug output, a user's callback, an exception text): it must
    # still come out masked. ``mask_logs`` is the processor Airflow puts in front of every task log.
    from airflow.sdk.log import mask_logs

    token = make_hook("http://127.0.0.1:9").get_token()
    line = f"Authorization: Bearer {token}"

    event = mask_logs(None, "info", {"event": line, "header": line})

    assert token not in repr(event)
    assert event == {"event": "Authorization: Bearer ***", "header": "Authorization: Bearer ***"}
