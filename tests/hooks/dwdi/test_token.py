"""DWDIHook against the real OIDC issuer and the DWDI double over loopback. Tokens: renewal timing, the cache shared by every call and by concurrent callers, bad credentials, an unreachable issuer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.hooks.dwdi import (
    DWDIAuthenticationError,
    DWDIIssuerUnreachableError,
    renewal_delay,
)
from tests.hooks.dwdi.helpers import (
    BRIEF_CLIENT,
    BRIEF_SECRET,
    CLIENT,
    INSTANT_RETRIES,
    MONTH,
    FakeClock,
    HookFactory,
    unused_port,
)


@pytest.mark.parametrize(
    ("lifetime", "reuse"), [(2, 1), (300, 150), (599, 299.5), (600, 300), (3600, 3300), (0, 0)]
)
def test_renewal_is_five_minutes_early_or_at_half_life_for_short_tokens(
    lifetime: float, reuse: float
) -> None:
    assert renewal_delay(lifetime) == reuse


def test_token_is_reused_until_half_its_300s_life(make_hook: HookFactory, issuer: Any) -> None:
    clock = FakeClock()
    hook = make_hook("http://127.0.0.1:9", hook_kwargs={"clock": clock})
    first = hook.get_token()
    clock.now += 149
    assert hook.get_token() == first
    assert issuer.token_count(CLIENT) == 1
    clock.now += 2
    second = hook.get_token()
    assert second != first
    assert issuer.token_count(CLIENT) == 2


def test_a_short_lived_token_is_renewed_before_it_expires(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox()
    hook = make_hook(sandbox.url, client_id=BRIEF_CLIENT, secret=BRIEF_SECRET)
    # The hook's own clock, moved by hand: a loaded machine must not decide what "within the first
    # half of its life" means. The issuer's 60 s tokens are real (the API checks their expiry) and
    # long enough in real time that no load lets one expire between these calls.
    now = [0.0]
    hook._clock = lambda: now[0]

    hook.get_compute_usage(MONTH, MONTH, accounts=["g001"])
    now[0] = 29.0
    hook.get_compute_usage(MONTH, MONTH, accounts=["g002"])
    assert issuer.token_count(BRIEF_CLIENT) == 1  # reused within the first half of its 60 s
    now[0] = 31.0
    hook.get_compute_usage(MONTH, MONTH, accounts=["g003"])

    assert issuer.token_count(BRIEF_CLIENT) == 2
    # Renewed proactively at half-life: the API never had to refuse a token.
    assert [r.status for r in sandbox.requests] == [200, 200, 200]
    assert [r.token_subject for r in sandbox.requests] == [BRIEF_CLIENT] * 3


def test_concurrent_callers_share_one_token_request(make_hook: HookFactory, issuer: Any) -> None:
    hook = make_hook("http://127.0.0.1:9")
    barrier = threading.Barrier(8)
    tokens: list[str] = []

    def fetch() -> None:
        barrier.wait()
        tokens.append(hook.get_token())

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tokens) == 8
    assert len(set(tokens)) == 1
    assert issuer.token_count(CLIENT) == 1


def test_a_wrong_secret_is_bad_credentials_and_not_retried(
    make_hook: HookFactory, issuer: Any, sleeps: list[float]
) -> None:
    hook = make_hook("http://127.0.0.1:9", secret="not-the-secret")
    with pytest.raises(DWDIAuthenticationError) as raised:
        hook.get_token()
    message = str(raised.value)
    assert message.startswith(f"bad credentials: the OIDC issuer rejected client '{CLIENT}'")
    assert "invalid_client" in message or "unauthorized_client" in message
    assert "not-the-secret" not in message
    assert hook.token_requests == 1
    assert sleeps == []
    assert issuer.token_count() == 0


def test_an_unreachable_issuer_is_retried_then_reported(make_hook: HookFactory, sleeps: list[float]) -> None:
    token_url = f"http://127.0.0.1:{unused_port()}/realms/cscs/protocol/openid-connect/token"
    hook = make_hook("http://127.0.0.1:9", token_url=token_url)
    with pytest.raises(DWDIIssuerUnreachableError, match=f"OIDC issuer unreachable at {token_url}"):
        hook.get_token()
    assert len(sleeps) == INSTANT_RETRIES.max_attempts - 1
