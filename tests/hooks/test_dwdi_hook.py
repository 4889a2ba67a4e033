"""DWDIHook against a real OIDC issuer (Node oidc-provider) and the DWDI sandbox, over loopback.

The sandbox validates every bearer JWT against the issuer's JWKS (expiry included), so a test that
passes proves the hook obtained, cached and renewed real tokens.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.hooks._http import RetryPolicy
from airflow_provider_cscs_dwdi.hooks.dwdi import (
    CONNECTION_TEST_ACCOUNT,
    MAX_URL_BYTES,
    DWDIAPIError,
    DWDIAuthenticationError,
    DWDIConfigurationError,
    DWDIHook,
    DWDIIssuerUnreachableError,
    DWDIResponseError,
    compute_usage_url,
    count_rows,
    parse_settings,
    renewal_delay,
    split_accounts,
)
from sandbox.dwdi_data import DwdiDataset

CLIENT, SECRET = "dwdi-client", "dwdi-secret"
SHORT_CLIENT, SHORT_SECRET = "dwdi-short", "short-secret"
CONN_ID = "dwdi_test"
DEFAULT_ACCOUNTS = [f"g{n:03d}" for n in range(1, 21)]
MONTH = datetime.now(timezone.utc).strftime("%Y-%m")
INSTANT_RETRIES = RetryPolicy(max_attempts=4, backoff_base=0.0, backoff_cap=0.0, max_total_seconds=30.0)


class FakeClock:
    """A monotonic clock the test moves by hand (the hook's token cache reads it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


HookFactory = Callable[..., DWDIHook]


@pytest.fixture
def sleeps() -> list[float]:
    """The delays the hook's retries asked for (the recorded sleep does not wait)."""
    return []


@pytest.fixture
def make_hook(
    set_connection: Callable[..., None], oidc_issuer: Any, sleeps: list[float]
) -> Iterator[HookFactory]:
    """``make_hook(api_url, client_id=..., secret=..., token_url=..., **extras)`` -> DWDIHook."""
    hooks: list[DWDIHook] = []

    def make(
        api_url: str,
        *,
        client_id: str = CLIENT,
        secret: str = SECRET,
        token_url: str | None = None,
        hook_kwargs: dict[str, Any] | None = None,
        **extra: Any,
    ) -> DWDIHook:
        set_connection(
            CONN_ID,
            conn_type="cscs_dwdi",
            host=api_url,
            login=client_id,
            password=secret,
            extra={"oidc_endpoint_url": token_url or oidc_issuer.token_url, "timeout_seconds": 10, **extra},
        )
        kwargs: dict[str, Any] = {
            "retry_policy": INSTANT_RETRIES,
            "sleep": sleeps.append,
            **(hook_kwargs or {}),
        }
        hook = DWDIHook(CONN_ID, **kwargs)
        hooks.append(hook)
        return hook

    yield make
    for hook in hooks:
        hook.close()


@pytest.fixture
def issuer(oidc_counts_reset: Any) -> Any:
    """The session-wide issuer with its per-client token counts zeroed for this test."""
    return oidc_counts_reset


@pytest.fixture
def make_sandbox(make_dwdi_sandbox: Callable[..., Any], oidc_issuer: Any) -> Callable[..., Any]:
    """``make_sandbox(**kwargs)``: a DWDI sandbox that verifies every bearer JWT against the issuer
    (signature, expiry, ``iss``, ``aud``); default data: accounts g001..g020."""

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("dataset", DwdiDataset(accounts=DEFAULT_ACCOUNTS))
        return make_dwdi_sandbox(
            jwks_url=oidc_issuer.jwks_url,
            issuer=oidc_issuer.realm_url,
            audience=oidc_issuer.audience,
            **kwargs,
        )

    return make


def unused_port() -> int:
    """A loopback port nobody listens on (bound by the OS, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def entry(account: str, node_hours: str = "1.5", users: int = 1) -> dict[str, Any]:
    return {
        "account": account,
        "cluster": "daint",
        "totalNodeHours": float(node_hours),
        "users": [{"username": f"u{n}", "nodeHours": float(node_hours) / users} for n in range(users)],
    }


# ------------------------------------------------------------------------------ pure functions


@pytest.mark.parametrize(
    ("lifetime", "reuse"), [(2, 1), (300, 150), (599, 299.5), (600, 300), (3600, 3300), (0, 0)]
)
def test_renewal_is_five_minutes_early_or_at_half_life_for_short_tokens(
    lifetime: float, reuse: float
) -> None:
    assert renewal_delay(lifetime) == reuse


def test_split_accounts_keeps_every_url_within_the_limit() -> None:
    endpoint = "https://dwdi.example/api/v1/compute/usage-month/account"
    # Names needing percent-encoding make the encoded length differ from the raw one.
    accounts = [f"g{n:04d}" for n in range(1000)] + ["ä/ß&=?" * 5, "x" * 300]
    batches = split_accounts(endpoint, MONTH, MONTH, accounts, ["daint", "eiger"])
    assert [a for batch in batches for a in batch] == accounts
    lengths = [len(compute_usage_url(endpoint, MONTH, MONTH, b, ["daint", "eiger"])) for b in batches]
    assert len(batches) > 1
    assert max(lengths) <= MAX_URL_BYTES
    # Greedy: each batch is full, i.e. the next account would not have fit.
    for batch, following in itertools.pairwise(batches):
        longer = compute_usage_url(endpoint, MONTH, MONTH, [*batch, following[0]], ["daint", "eiger"])
        assert len(longer) > MAX_URL_BYTES


def test_an_account_longer_than_a_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="longer than 8192"):
        split_accounts("https://dwdi.example/p", MONTH, MONTH, ["a" * 9000])


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"host": None}, "host (DWDI API URL)"),
        ({"login": ""}, "login (OIDC client ID)"),
        ({"password": None}, "password (OIDC client secret)"),
        ({"extra": {}}, "oidc_endpoint_url"),
        ({"extra": {"oidc_endpoint_url": "  "}}, "oidc_endpoint_url"),
        ({"extra": {"oidc_endpoint_url": "ftp://x/token"}}, "oidc_endpoint_url"),
        ({"extra": {"oidc_endpoint_url": "https://i/t", "timeout_seconds": 0}}, "timeout_seconds"),
        ({"extra": {"oidc_endpoint_url": "https://i/t", "timeout_seconds": "inf"}}, "timeout_seconds"),
        ({"extra": {"oidc_endpoint_url": "https://i/t", "verify_tls": "maybe"}}, "verify_tls"),
        (
            {"extra": {"oidc_endpoint_url": "https://i/t", "ca_bundle_path": "/nonexistent.pem"}},
            "ca_bundle_path",
        ),
        ({"extra": {"oidc_endpoint_url": "https://i/t", "proxy_url": "ftp://p:1"}}, "proxy_url"),
    ],
)
def test_incomplete_connections_name_the_missing_field(fields: dict[str, Any], named: str) -> None:
    values: dict[str, Any] = {
        "host": "https://dwdi.example",
        "port": None,
        "login": CLIENT,
        "password": SECRET,
        "extra": {"oidc_endpoint_url": "https://issuer.example/token"},
        **fields,
    }
    with pytest.raises(DWDIConfigurationError) as raised:
        parse_settings(values["host"], values["port"], values["login"], values["password"], values["extra"])
    assert named in str(raised.value)
    assert SECRET not in str(raised.value)


def test_settings_defaults_and_repr_hides_the_secret() -> None:
    settings = parse_settings(
        "dwdi.example/base/",
        None,
        CLIENT,
        SECRET,
        {
            "oidc_endpoint_url": "https://issuer.example/token",
            "proxy_url": "socks5h://user:pw@localhost:1080",
        },
    )
    assert settings.compute_usage_url == "https://dwdi.example/base/api/v1/compute/usage-month-multiaccount"
    assert (settings.scope, settings.timeout_seconds, settings.verify) == ("openid", 60.0, True)
    assert SECRET not in repr(settings)
    assert ":pw@" not in repr(settings)


# ------------------------------------------------------------------------------ tokens


def test_one_token_serves_many_requests_and_long_account_lists_are_split(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any
) -> None:
    accounts = [f"g{n:04d}" for n in range(1000)]
    dataset = DwdiDataset(accounts=accounts)
    sandbox = make_sandbox(dataset=dataset, max_url_bytes=MAX_URL_BYTES)
    hook = make_hook(sandbox.url)

    result = hook.get_compute_usage(MONTH, MONTH, accounts=accounts)

    requests_made = sandbox.requests
    assert len(requests_made) >= 2
    assert all(r.status == 200 and r.authorized for r in requests_made)
    assert {r.token_subject for r in requests_made} == {CLIENT}  # a real JWT, verified
    assert max(r.url_length for r in requests_made) <= MAX_URL_BYTES
    asked = [a for r in requests_made for a in r.query["account"]]
    assert asked == accounts  # every account asked exactly once, in order
    assert len(result["compute"]) == len(dataset.entries(MONTH)) > 0
    node_hours: dict[str, Decimal] = {}
    for item in result["compute"]:
        for row in item["users"]:
            node_hours[item["account"]] = node_hours.get(item["account"], Decimal(0)) + row["nodeHours"]
    expected = {
        account: totals["total"]["nodeHours"]
        for account, totals in dataset.expected_totals(MONTH).items()
        if totals["users"]
    }
    assert node_hours == expected
    assert issuer.token_count(CLIENT) == 1

    # A second run on the same hook reuses the token as well.
    hook.get_compute_usage(MONTH, MONTH, accounts=accounts[:10])
    assert issuer.token_count(CLIENT) == 1


def test_the_sandbox_refuses_urls_over_8_kib(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any
) -> None:
    # The control for the test above: without the split, the server's URL limit bites.
    accounts = [f"g{n:04d}" for n in range(1000)]
    sandbox = make_sandbox(dataset=DwdiDataset(accounts=accounts), max_url_bytes=MAX_URL_BYTES)
    hook = make_hook(sandbox.url, hook_kwargs={"max_url_bytes": 10 * MAX_URL_BYTES})
    with pytest.raises(DWDIAPIError, match="answered 414"):
        hook.get_compute_usage(MONTH, MONTH, accounts=accounts)


def test_pages_stream_raw_bytes_and_decimals(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox(dataset=DwdiDataset(accounts=["g001", "g002"]))
    sandbox.set_entries(MONTH, [entry("g001", "1.1"), entry("g002", "2.25", users=3)])
    hook = make_hook(sandbox.url)

    pages = list(hook.iter_compute_usage(MONTH, MONTH, accounts=["g001", "g002", "g001"], clusters=["daint"]))

    assert [(p.index, p.accounts, p.status) for p in pages] == [(0, ["g001", "g002"], 200)]
    assert pages[0].raw.startswith(b"{")
    totals = {e["account"]: e["totalNodeHours"] for e in pages[0].data["compute"]}
    assert totals == {"g001": Decimal("1.1"), "g002": Decimal("2.25")}
    (recorded,) = sandbox.requests
    assert recorded.query["account"] == ["g001", "g002"]  # the repeated account is asked once
    assert recorded.query["cluster"] == ["daint"]
    assert (recorded.query["from"], recorded.query["to"]) == ([MONTH], [MONTH])


def test_unparsed_pages_carry_the_raw_body_and_exact_row_counts(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox(dataset=DwdiDataset(accounts=["g001", "g002"]))
    sandbox.set_entries(MONTH, [entry("g001", "1.1", users=2), entry("g002", "2.25", users=3)])
    hook = make_hook(sandbox.url)

    (page,) = hook.iter_compute_usage(MONTH, MONTH, accounts=["g001", "g002"], parse=False)

    assert page.data is None
    assert count_rows(page.raw) == (2, 5)
    parsed = json.loads(page.raw, parse_float=Decimal)
    assert [e["account"] for e in parsed["compute"]] == ["g001", "g002"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"compute": []}', (0, 0)),
        (b'{"compute":[{"account" : "a","users":[{"username":"username"},{"username":"x"}]}]}', (1, 2)),
        # Key-like text inside a string value is not a key (its quotes are escaped).
        (b'{"compute":[{"account":"a \\"account\\": b","users":[]}]}', (1, 0)),
    ],
)
def test_count_rows_counts_keys_not_values(raw: bytes, expected: tuple[int, int]) -> None:
    assert count_rows(raw) == expected


@pytest.mark.parametrize(
    ("body", "content_type", "problem"),
    [
        (b"<html>login</html>", "text/html", "not a JSON object"),
        (b'{"storage": []}', "application/json", "documented"),
        (b'{"compute": []}', "text/plain", "not declared as JSON"),
    ],
)
def test_unparsed_pages_still_refuse_answers_that_are_not_compute_json(
    make_sandbox: Callable[..., Any],
    make_hook: HookFactory,
    issuer: Any,
    body: bytes,
    content_type: str,
    problem: str,
) -> None:
    sandbox = make_sandbox()
    sandbox.set_raw_response(body, content_type)
    hook = make_hook(sandbox.url)
    with pytest.raises(DWDIResponseError, match=problem) as raised:
        list(hook.iter_compute_usage(MONTH, MONTH, accounts=["g001"], parse=False))
    assert content_type in str(raised.value)


def test_the_session_sends_tcp_keep_alive_probes(make_hook: HookFactory) -> None:
    session = make_hook("https://dwdi.example").session
    for url in ("https://dwdi.example/api", "http://dwdi.example/api"):
        options = session.get_adapter(url).socket_options  # type: ignore[attr-defined]
        assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in options


def test_an_empty_account_list_makes_no_request(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox()
    hook = make_hook(sandbox.url)
    assert hook.get_compute_usage(MONTH, MONTH, accounts=[]) == {"compute": []}
    assert sandbox.requests == []
    assert issuer.token_count() == 0


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
    hook = make_hook(sandbox.url, client_id=SHORT_CLIENT, secret=SHORT_SECRET)

    hook.get_compute_usage(MONTH, MONTH, accounts=["g001"])
    hook.get_compute_usage(MONTH, MONTH, accounts=["g002"])
    assert issuer.token_count(SHORT_CLIENT) == 1  # reused within its first second
    time.sleep(1.1)
    hook.get_compute_usage(MONTH, MONTH, accounts=["g003"])

    assert issuer.token_count(SHORT_CLIENT) == 2
    # Renewed proactively: the API never saw the expired token.
    assert [r.status for r in sandbox.requests] == [200, 200, 200]
    assert [r.token_subject for r in sandbox.requests] == [SHORT_CLIENT] * 3


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


# ------------------------------------------------------------------------------ API answers


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


# ------------------------------------------------------------------------------ test_connection


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


# ------------------------------------------------------------------------------ secrets and proxy


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
