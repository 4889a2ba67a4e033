"""DWDIHook inference cost against the real OIDC issuer and the DWDI double over loopback: one
token for many split pages, UUIDs dashed or not asked once, the 404 of an older DWDI, bad answers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.hooks.dwdi import (
    MAX_URL_BYTES,
    DWDIAPIError,
    DWDIConfigurationError,
    DWDIResponseError,
    count_inference_entries,
    uuid_identity,
)
from sandbox.dwdi_server import InferenceDataset
from tests.hooks.dwdi.helpers import CLIENT, DEFAULT_RESOURCE_UUIDS, MONTH, SECRET, HookFactory

MakeSandbox = Callable[..., Any]


def _sums(entries: list[dict[str, Any]]) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for item in entries:
        key = uuid_identity(item["waldurResourceUuid"])
        sums[key] = sums.get(key, Decimal(0)) + item["totalCost"]
    return sums


def test_ten_thousand_uuids_one_token_every_url_within_8_kib_every_uuid_once(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any
) -> None:
    resources = [uuid.uuid5(uuid.NAMESPACE_URL, f"r{n}") for n in range(10_000)]
    # Half of them asked dashed, half as 32 hex digits: both are the same resource to DWDI.
    asked = [str(r) if n % 2 else r.hex for n, r in enumerate(resources)]
    inference = InferenceDataset(resource_uuids=[r.hex for r in resources])
    sandbox = make_sandbox(inference=inference, max_url_bytes=MAX_URL_BYTES)
    hook = make_hook(sandbox.url)

    result = hook.get_inference_cost(MONTH, MONTH, asked)

    recorded = sandbox.requests
    assert len(recorded) > 2
    assert all(r.status == 200 and r.authorized and r.token_subject == CLIENT for r in recorded)
    assert max(r.url_length for r in recorded) <= MAX_URL_BYTES
    assert [u for r in recorded for u in r.query["resource_uuid"]] == asked  # each once, as given
    assert {(r.query["from"][0], r.query["to"][0]) for r in recorded} == {(MONTH, MONTH)}
    assert issuer.token_count(CLIENT) == 1
    expected = inference.expected_costs(MONTH, MONTH, asked)
    without_data = set(inference.resources_without_data(MONTH, MONTH, asked))
    assert without_data  # resources without data are simply absent from the answer (cost 0)
    assert all(expected[key] == 0 for key in without_data)
    assert _sums(result["inference"]) == {k: v for k, v in expected.items() if k not in without_data}
    assert len(result["inference"]) > len(expected) - len(without_data)  # several entries for some


def test_the_double_refuses_unsplit_uuid_lists(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox()
    hook = make_hook(sandbox.url, hook_kwargs={"max_url_bytes": 10 * MAX_URL_BYTES})
    with pytest.raises(DWDIAPIError, match="answered 414"):
        hook.get_inference_cost(MONTH, MONTH, [uuid.uuid4().hex for _ in range(500)])


def test_a_resource_spelled_twice_is_asked_once(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox()
    first = DEFAULT_RESOURCE_UUIDS[0]
    dashed = str(uuid.UUID(first)).upper()
    pages = list(
        make_hook(sandbox.url).iter_inference_cost(MONTH, MONTH, [first, dashed, DEFAULT_RESOURCE_UUIDS[1]])
    )
    assert [p.keys for p in pages] == [[first, DEFAULT_RESOURCE_UUIDS[1]]]
    assert sandbox.requests[0].query["resource_uuid"] == [first, DEFAULT_RESOURCE_UUIDS[1]]


@pytest.mark.parametrize("value", ["g001", "not-a-uuid", "1234", ""])
def test_a_value_that_is_not_a_uuid_is_refused_before_any_request(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any, value: str
) -> None:
    sandbox = make_sandbox()
    with pytest.raises(DWDIConfigurationError) as raised:
        make_hook(sandbox.url).get_inference_cost(MONTH, MONTH, [DEFAULT_RESOURCE_UUIDS[0], value])
    assert repr(value) in str(raised.value)
    assert sandbox.requests == []


@pytest.mark.parametrize(("month_from", "month_to"), [("2026-11-01", "2026-11-30"), ("2026-11", "26-11")])
def test_months_must_be_yyyy_mm(make_hook: HookFactory, month_from: str, month_to: str) -> None:
    with pytest.raises(DWDIConfigurationError, match="must be YYYY-MM"):
        make_hook("http://127.0.0.1:9").get_inference_cost(month_from, month_to, DEFAULT_RESOURCE_UUIDS)


def test_unparsed_pages_carry_raw_bytes_and_exact_entry_counts(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any
) -> None:
    sandbox = make_sandbox()
    (page,) = make_hook(sandbox.url).iter_inference_cost(MONTH, MONTH, DEFAULT_RESOURCE_UUIDS, parse=False)
    assert (page.index, page.keys, page.status, page.data) == (0, DEFAULT_RESOURCE_UUIDS, 200, None)
    assert (
        count_inference_entries(page.raw)
        == len(json.loads(page.raw)["inference"])
        > len(DEFAULT_RESOURCE_UUIDS)
    )


def test_a_404_names_the_path_and_the_extra_to_set(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any, sleeps: list[float]
) -> None:
    sandbox = make_sandbox(unavailable_endpoints=["inference"])
    hook = make_hook(sandbox.url)
    with pytest.raises(DWDIAPIError) as raised:
        hook.get_inference_cost(MONTH, MONTH, DEFAULT_RESOURCE_UUIDS)
    assert (
        "this DWDI release has no inference API at /api/v1/inference/resource/cost: set inference_cost_path"
        in str(raised.value)
    )
    assert raised.value.status == 404
    assert len(sandbox.requests) == 1
    assert sleeps == []
    assert hook.get_storage_usage(MONTH, None)["storage"]  # the other families are unaffected


@pytest.mark.parametrize(
    ("body", "content_type", "problem"),
    [
        (b"<html>{token} {secret}</html>", "text/html", "is not JSON"),
        (b'{"storage": []}', "application/json", 'is not the documented {"inference": [...]} object'),
        (b'{"inference": null}', "application/json", "documented"),
    ],
)
def test_answers_without_the_inference_list_are_refused_without_secrets(
    make_sandbox: MakeSandbox,
    make_hook: HookFactory,
    issuer: Any,
    body: bytes,
    content_type: str,
    problem: str,
) -> None:
    sandbox = make_sandbox()
    hook = make_hook(sandbox.url)
    token = hook.get_token()
    sandbox.set_raw_response(
        body.replace(b"{token}", token.encode()).replace(b"{secret}", SECRET.encode()), content_type
    )
    with pytest.raises(DWDIResponseError) as raised:
        hook.get_inference_cost(MONTH, MONTH, DEFAULT_RESOURCE_UUIDS)
    message = str(raised.value)
    assert problem in message
    assert "DWDI inference cost" in message
    assert token not in message
    assert SECRET not in message


def test_a_503_is_retried(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any, sleeps: list[float]
) -> None:
    sandbox = make_sandbox()
    sandbox.fail_next(503)
    result = make_hook(sandbox.url).get_inference_cost(MONTH, MONTH, DEFAULT_RESOURCE_UUIDS)
    assert result["inference"]
    assert [r.status for r in sandbox.requests] == [503, 200]
    assert len(sleeps) == 1


def test_unknown_resources_and_bad_costs_reach_the_caller_as_sent(
    make_sandbox: MakeSandbox, make_hook: HookFactory, issuer: Any
) -> None:
    """Matching and judging is the core's job: the hook neither drops nor alters entries."""
    inference = InferenceDataset(resource_uuids=DEFAULT_RESOURCE_UUIDS)
    sandbox = make_sandbox(inference=inference)
    stranger = uuid.uuid4().hex
    inference.add_unknown_resource(stranger, "7.25")
    bad = next(r for r in DEFAULT_RESOURCE_UUIDS if inference.has_data(r))
    inference.set_bad_cost(bad, "null")
    hook = make_hook(sandbox.url)

    served = hook.get_inference_cost(MONTH, MONTH, DEFAULT_RESOURCE_UUIDS)["inference"]

    assert {"waldurResourceUuid": str(uuid.UUID(stranger)), "totalCost": Decimal("7.25")} in served
    assert None in [e["totalCost"] for e in served if uuid_identity(e["waldurResourceUuid"]) == bad]
