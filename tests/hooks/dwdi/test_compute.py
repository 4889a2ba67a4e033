"""DWDIHook against the real OIDC issuer and the DWDI double over loopback. Compute usage: one token for many split pages, raw and parsed pages, row counting, the session."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.hooks.dwdi import (
    MAX_URL_BYTES,
    DWDIAPIError,
    DWDIResponseError,
    count_rows,
)
from sandbox.dwdi_data import DwdiDataset
from tests.hooks.dwdi.helpers import (
    CLIENT,
    MONTH,
    HookFactory,
    entry,
)


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


def test_the_session_sends_tcp_keep_alive_probes_as_http_hook_does(make_hook: HookFactory) -> None:
    from airflow.providers.http.hooks.http import HttpHook

    http_hook_adapter = HttpHook(method="GET").keep_alive_adapter
    assert http_hook_adapter is not None
    session = make_hook("https://dwdi.example").session
    for url in ("https://dwdi.example/api", "http://dwdi.example/api"):
        adapter = session.get_adapter(url)
        assert type(adapter) is type(http_hook_adapter)
        options = adapter.socket_options  # type: ignore[attr-defined]
        assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in options
        assert options == http_hook_adapter.socket_options  # type: ignore[attr-defined]


def test_an_empty_account_list_makes_no_request(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox()
    hook = make_hook(sandbox.url)
    assert hook.get_compute_usage(MONTH, MONTH, accounts=[]) == {"compute": []}
    assert sandbox.requests == []
    assert issuer.token_count() == 0


def test_compute_pages_and_merges_as_a_family_with_its_own_log_lines(
    make_sandbox: Callable[..., Any],
    make_hook: HookFactory,
    issuer: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = make_sandbox(dataset=DwdiDataset(accounts=["g001", "g002"]))
    sandbox.set_entries(MONTH, [entry("g001", "1.1", users=2), entry("g002", "2.25", users=3)])
    hook = make_hook(sandbox.url)

    merged = hook.get_compute_usage(MONTH, MONTH, accounts=["g001", "g002", "g001"], clusters=["daint"])

    assert [e["account"] for e in merged["compute"]] == ["g001", "g002"]
    logs = caplog.text + capsys.readouterr().out  # the hook logs through structlog to stdout
    describe = f"DWDI compute usage {MONTH}..{MONTH}"
    assert "Ignoring 1 repeated account name(s)." in logs
    assert f"{describe}: 2 account(s), clusters ['daint'] in 1 request(s)." in logs
    assert f"{describe}: 1 request(s), 2 entries, 5 user rows." in logs


def test_a_404_of_the_compute_path_is_reported_with_its_status_and_body(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any
) -> None:
    # Unlike storage and inference, the compute path is the seed's own: no "set <extra>" advice.
    sandbox = make_sandbox()
    sandbox.fail_next(404, body=b"<html>no such page</html>", content_type="text/html")
    hook = make_hook(sandbox.url)
    with pytest.raises(DWDIAPIError) as raised:
        hook.get_compute_usage(MONTH, MONTH, accounts=["g001"])
    assert raised.value.status == 404
    assert "DWDI API answered 404 (text/html): '<html>no such page</html>'" in str(raised.value)
    assert "compute_usage_path" not in str(raised.value)


def test_the_hook_closes_its_session_as_a_context_manager_and_reopens_on_use(
    make_sandbox: Callable[..., Any], make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox(dataset=DwdiDataset(accounts=["g001"]))
    with make_hook(sandbox.url) as hook:
        first = hook.session
        hook.get_compute_usage(MONTH, MONTH, accounts=["g001"])
        assert hook.session is first  # one pooled session for the token and every page
    assert hook._session is None  # released on exit
    hook.get_compute_usage(MONTH, MONTH, accounts=["g001"])
    assert hook.session is not first
    assert issuer.token_count(CLIENT) == 1  # closing keeps the cached token
    hook.close()
