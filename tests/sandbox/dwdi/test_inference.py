"""The DWDI double's inference endpoint and dataset: several entries per resource summed on a
half cent, dashed and undashed UUIDs, resources without data, exact sums, injections, 404."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import requests

from sandbox.dwdi_server import INFERENCE_PATH, DWDISandbox, InferenceDataset
from tests.sandbox.dwdi.helpers import STATIC, TODAY, MakeSandbox, get, run_cli, stop, usage_entries

RESOURCES = [uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-test/r{n}").hex for n in range(1, 21)]
RESOURCES_SORTED = sorted(RESOURCES)  # the dataset's order (profiles go by position in it)
OCTOBER = {"from": "2026-10", "to": "2026-10"}


@pytest.fixture
def inference() -> InferenceDataset:
    return InferenceDataset(resource_uuids=RESOURCES, today=TODAY)


@pytest.fixture
def inference_sandbox(make_dwdi_sandbox: MakeSandbox, inference: InferenceDataset) -> DWDISandbox:
    return make_dwdi_sandbox(inference=inference, today=TODAY)


def _hex(value: str) -> str:
    return value.replace("-", "").lower()


def test_profiles_several_entries_no_data_and_both_uuid_spellings(inference: InferenceDataset) -> None:
    entries = inference.entries("2026-10", "2026-10")
    assert entries == InferenceDataset(resource_uuids=list(reversed(RESOURCES)), today=TODAY).entries(
        "2026-10", "2026-10"
    )
    names = [e["waldurResourceUuid"] for e in entries]
    assert any("-" in name for name in names)
    assert any("-" not in name for name in names)
    counts = {_hex(n): names.count(n) for n in names}
    assert max(counts.values()) >= 2  # summed by the client
    assert len(counts) == 18  # positions 4 and 14 have no data
    assert inference.entries("2026-12", "2026-12") == []  # after today


def test_costs_have_up_to_six_exact_decimals_and_multi_entry_sums_end_on_half_a_cent(
    inference: InferenceDataset,
) -> None:
    months = [f"2026-{m:02d}" for m in range(1, 12)]
    for month in months:
        sums: dict[str, Decimal] = {}
        for item in inference.entries(month, month):
            text = repr(item["totalCost"])
            assert len(text.partition(".")[2]) <= 6, text
            key = _hex(item["waldurResourceUuid"])
            sums[key] = sums.get(key, Decimal(0)) + Decimal(text)
        multi = [RESOURCES_SORTED[i] for i in range(len(RESOURCES_SORTED)) if i % 10 in (1, 5, 8)]
        assert all(sums[key] * 1000 % 10 == 5 for key in multi if key in sums)


def test_expected_costs_are_the_served_sums(
    inference_sandbox: DWDISandbox, inference: InferenceDataset, session: requests.Session
) -> None:
    asked = [str(uuid.UUID(r)) if n % 3 else r for n, r in enumerate(RESOURCES)]  # some dashed
    served = usage_entries(
        session,
        inference_sandbox,
        INFERENCE_PATH,
        **{"from": "2026-09", "to": "2026-11"},
        resource_uuid=asked,
    )
    sums = {_hex(r): Decimal(0) for r in RESOURCES}
    for item in served:
        sums[_hex(str(item["waldurResourceUuid"]))] += item["totalCost"]  # type: ignore[operator]
    assert inference.expected_costs("2026-09", "2026-11", asked) == sums
    without = inference.resources_without_data("2026-09", "2026-11", asked)
    assert len(without) == 2
    assert all(sums[key] == 0 for key in without)


def test_only_requested_resources_are_answered_in_any_spelling(
    inference_sandbox: DWDISandbox, session: requests.Session
) -> None:
    target = RESOURCES_SORTED[0]
    for spelling in (target, str(uuid.UUID(target)), str(uuid.UUID(target)).upper()):
        served = usage_entries(session, inference_sandbox, INFERENCE_PATH, **OCTOBER, resource_uuid=spelling)
        assert {_hex(str(e["waldurResourceUuid"])) for e in served} == {target}
    assert (
        len(usage_entries(session, inference_sandbox, INFERENCE_PATH, **OCTOBER)) > 18
    )  # no resource_uuid: all


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"to": "2026-10"}, "from"),
        ({"from": "2026-10", "to": "2026-10-31"}, "YYYY-MM"),
        ({**OCTOBER, "resource_uuid": "g001"}, "UUID"),
    ],
)
def test_bad_queries_are_400(
    inference_sandbox: DWDISandbox, session: requests.Session, query: dict[str, str], problem: str
) -> None:
    response = get(session, inference_sandbox, INFERENCE_PATH, **query)
    assert response.status_code == 400
    assert problem in response.json()["detail"]


def test_an_unknown_resource_is_answered_and_expected_as_unknown(
    inference_sandbox: DWDISandbox, inference: InferenceDataset, session: requests.Session
) -> None:
    stranger = uuid.uuid4().hex
    inference.add_unknown_resource(stranger, "3.005")
    served = usage_entries(session, inference_sandbox, INFERENCE_PATH, **OCTOBER, resource_uuid=RESOURCES[:2])
    assert {"waldurResourceUuid": str(uuid.UUID(stranger)), "totalCost": Decimal("3.005")} in served
    assert inference.expected_unknown("2026-10", "2026-10") == [stranger]
    assert stranger not in inference.expected_costs("2026-10", "2026-10", RESOURCES[:2])
    with pytest.raises(ValueError, match="in the dataset"):
        inference.add_unknown_resource(RESOURCES[0])


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("negative", b"-5"),
        ("null", b"null"),
        ("nan_string", b'"NaN"'),
        ("nan_token", b"NaN"),
        ("text", b'"12 TB"'),
    ],
)
def test_a_bad_total_cost_is_served_and_expected_as_an_issue(
    inference_sandbox: DWDISandbox,
    inference: InferenceDataset,
    session: requests.Session,
    kind: str,
    raw: bytes,
) -> None:
    target = RESOURCES_SORTED[0]
    inference.set_bad_cost(target, kind)
    response = get(session, inference_sandbox, INFERENCE_PATH, **OCTOBER, resource_uuid=target)
    assert b'"totalCost": ' + raw in response.content
    assert inference.expected_issues("2026-10", "2026-10") == {target: f"totalCost is {kind}"}
    assert target not in inference.expected_costs("2026-10", "2026-10")


def test_injections_404_and_expectations_through_the_admin_api(
    inference_sandbox: DWDISandbox, session: requests.Session
) -> None:
    admin = inference_sandbox.url + "/sandbox"
    stranger = uuid.uuid4().hex
    assert session.post(
        f"{admin}/inference/unknown-resource", json={"resource_uuid": stranger, "total_cost": "2"}, timeout=10
    ).ok
    assert session.post(
        f"{admin}/inference/bad-cost", json={"resource_uuid": RESOURCES_SORTED[0], "kind": "null"}, timeout=10
    ).ok
    expected = session.get(
        f"{admin}/expected-inference", params={**OCTOBER, "resource_uuid": RESOURCES}, timeout=10
    ).json()
    assert expected["unknown"] == [stranger]
    assert expected["issues"] == {RESOURCES_SORTED[0]: "totalCost is null"}
    assert len(expected["no_data"]) == 2
    assert all(isinstance(cost, str) for cost in expected["costs"].values())
    assert session.post(f"{admin}/clear-injections", timeout=10).ok
    assert session.post(
        f"{admin}/endpoint-available", json={"family": "inference", "available": False}, timeout=10
    ).ok
    assert get(session, inference_sandbox, INFERENCE_PATH, **OCTOBER).status_code == 404
    info = session.get(f"{admin}/info", timeout=10).json()
    assert info["unavailable_endpoints"] == ["inference"]
    assert info["resource_uuids"] == RESOURCES_SORTED


def test_same_url_limit_and_authentication_as_compute(
    make_dwdi_sandbox: MakeSandbox, inference: InferenceDataset, session: requests.Session
) -> None:
    sandbox = make_dwdi_sandbox(inference=inference, static_token=STATIC, unavailable_endpoints=["storage"])
    assert get(session, sandbox, INFERENCE_PATH, **OCTOBER).status_code == 401
    assert get(session, sandbox, INFERENCE_PATH, token=STATIC, **OCTOBER).status_code == 200
    many = [uuid.uuid4().hex for _ in range(200)]
    assert (
        get(session, sandbox, INFERENCE_PATH, token=STATIC, **OCTOBER, resource_uuid=many).status_code == 414
    )


def test_the_cli_serves_storage_and_inference(session: requests.Session) -> None:
    process, url = run_cli(
        "--static-token",
        STATIC,
        "--storage-paths-count",
        "3",
        "--resource-uuids-count",
        "3",
        "--today",
        "2026-11-23",
    )
    try:
        headers = {"Authorization": f"Bearer {STATIC}"}
        storage = session.get(
            url + "/api/v1/storage/usage-month",
            params={"exact-month": "2026-10"},
            headers=headers,
            timeout=10,
        )
        inference = session.get(url + INFERENCE_PATH, params=OCTOBER, headers=headers, timeout=10)
        assert [e["path"] for e in storage.json()["storage"]] == [
            f"/capstor/store/cscs/p{n:03d}" for n in range(1, 4)
        ]
        assert inference.json()["inference"]
    finally:
        stop(process)
