"""The documents handed between tasks: each survives JSON, and a bad one is refused by name.

The round trip through Airflow's own XCom serialisation is in tests/operators/test_xcom_round_trip.py
(this directory never imports Airflow).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.errors import ReportError
from airflow_provider_cscs_dwdi.core.xcom import (
    FETCH_RESULT_VERSION,
    BackendIds,
    BillingPlan,
    FetchResult,
    PushResult,
    UsageReport,
)
from tests.core.xcom_samples import (
    BACKEND_IDS,
    FETCH,
    INFERENCE_FETCH,
    PLAN,
    PUSH,
    STORAGE_PUSH,
    sample_report,
)


def through_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


@pytest.mark.parametrize(
    "document",
    [BACKEND_IDS, FETCH, INFERENCE_FETCH, PUSH, STORAGE_PUSH],
    ids=["BackendIds", "FetchResult", "FetchResult-inference", "PushResult", "PushResult-storage"],
)
def test_a_document_survives_json(document: Any) -> None:
    assert type(document).from_xcom(through_json(document.to_xcom())) == document


def test_the_billing_plan_survives_json_as_its_two_xcoms() -> None:
    months, accounts = through_json(PLAN.to_xcom()), through_json(PLAN.accounts_to_xcom())

    assert (months, accounts) == (["2026-10", "2026-11"], ["g1", "g2"])
    assert BillingPlan.from_xcom(months, accounts) == PLAN
    assert BillingPlan.ACCOUNTS_KEY == "accounts"


def test_the_report_survives_json() -> None:
    report = sample_report()

    assert UsageReport.from_xcom(through_json(report.to_xcom())) == report
    assert [issue.kind for issue in report.issues] == ["null_value"]
    assert report.accounts["g2"] == {
        "total": {"nodeHours": "0.00", "gpuHours": "0.00", "cpuHours": "0.00"},
        "users": {},
    }


def test_the_documents_keep_their_published_keys() -> None:
    assert list(FETCH.to_xcom()) == [
        "schema_version",
        "month",
        "window",
        "query",
        "accounts_requested",
        "accounts_sha256",
        "archive",
        "archive_sha256",
        "archive_bytes",
        "pages",
        "entries",
        "user_rows",
        "host",
        "usage_kind",
    ]
    assert FETCH.to_xcom()["schema_version"] == FETCH_RESULT_VERSION == 1
    assert FETCH.to_xcom()["usage_kind"] == "compute"
    assert list(PUSH.to_xcom()) == [*PUSH.counts(), "issues", "failures", "without_data", "held", "anomalies"]
    # A push result written before the anomaly guard reads as nothing held, no anomaly.
    older = {key: value for key, value in PUSH.to_xcom().items() if key not in ("held", "anomalies")}
    assert (PushResult.from_xcom(older).held, PushResult.from_xcom(older).anomalies) == (0, ())
    assert STORAGE_PUSH.to_xcom()["without_data_count"] == 1
    assert STORAGE_PUSH.to_xcom()["without_data"] == ["s4"]
    assert PUSH.to_xcom()["failures"][0] == {
        "backend_id": "g2",
        "resource_uuid": None,
        "reason": "backend_id matches 2 Waldur resources",
    }
    assert list(BACKEND_IDS.to_xcom()) == ["backend_ids", "issues", "resource_uuids"]
    assert BACKEND_IDS.to_xcom()["resource_uuids"]["g2"] == ["1b" * 16, "2c" * 16]


def test_documents_written_before_storage_and_inference_are_still_read() -> None:
    old_backend_ids = {"backend_ids": ["g1"], "issues": []}
    old_fetch = {key: value for key, value in FETCH.to_xcom().items() if key != "usage_kind"}
    old_push = {
        key: value
        for key, value in PUSH.to_xcom().items()
        if key not in ("without_data", "without_data_count")
    }

    assert BackendIds.from_xcom(old_backend_ids).resource_uuids == {}
    assert FetchResult.from_xcom(old_fetch).usage_kind == "compute"
    push = PushResult.from_xcom(old_push)
    assert (push.without_data_count, push.without_data) == (0, ())


def test_backend_ids_give_the_single_uuid_of_each_resource_and_set_aside_the_others() -> None:
    resources, unresolved = BACKEND_IDS.uuids_of(["g1", "g2", "g9"])

    assert resources == {"0a" * 16: "g1"}
    # g2 belongs to two resources, g9 to none: neither has one resource whose cost to report.
    assert unresolved == {"g2": ("1b" * 16, "2c" * 16), "g9": ()}


def replaced(doc: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """``doc`` with ``key`` set to ``value``, or left out when ``value`` is ``...``."""
    return {name: item for name, item in {**doc, key: value}.items() if item is not ...}


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("archive", ..., "fetch result: archive: expected str, got nothing"),
        ("archive_sha256", 5, "fetch result: archive_sha256: expected str, got int 5"),
        ("pages", True, "fetch result: pages: expected int, got bool True"),
        ("pages", "3", "fetch result: pages: expected int, got str '3'"),
        ("window", "2026-11", "fetch result: window: expected dict or null, got str '2026-11'"),
        ("schema_version", 2, "fetch result: schema_version: expected 1, got 2"),
        (
            "usage_kind",
            "gpu",
            "fetch result: usage_kind: expected one of compute, storage, inference, got 'gpu'",
        ),
        ("usage_kind", 3, "fetch result: usage_kind: expected str or null, got int 3"),
    ],
)
def test_a_bad_fetch_result_is_refused_naming_the_field(key: str, value: Any, error: str) -> None:
    with pytest.raises(ReportError) as raised:
        FetchResult.from_xcom(replaced(FETCH.to_xcom(), key, value))

    assert str(raised.value) == error


def test_a_fetch_result_without_window_or_account_count_is_read() -> None:
    doc = {**FETCH.to_xcom(), "window": None, "accounts_requested": None}

    fetch = FetchResult.from_xcom(doc)

    assert (fetch.window, fetch.accounts_requested) == (None, None)


def test_a_fetch_result_from_before_the_host_field_is_read_without_host() -> None:
    doc = replaced(FETCH.to_xcom(), "host", ...)

    assert FetchResult.from_xcom(doc).host is None
    assert FetchResult.from_xcom(FETCH.to_xcom()).host == "worker-1"


@pytest.mark.parametrize(
    ("read", "error"),
    [
        (lambda: BackendIds.from_xcom(None), "backend IDs: expected an object, got nothing"),
        (
            lambda: BackendIds.from_xcom({"backend_ids": "g1"}),
            "backend IDs: backend_ids: expected list, got str",
        ),
        (
            lambda: BackendIds.from_xcom({"backend_ids": ["g1", " "], "issues": []}),
            "backend IDs: backend_ids[1]: expected a non-blank string, got ' '",
        ),
        (
            lambda: BackendIds.from_xcom({"backend_ids": [], "issues": [{"kind": "k"}]}),
            "backend IDs: issues[0].message: expected a string, got None",
        ),
        (
            lambda: BackendIds.from_xcom({"backend_ids": ["g1"], "resource_uuids": {"g1": "0a"}}),
            "backend IDs: resource_uuids.g1: expected list, got str '0a'",
        ),
        (
            lambda: PushResult.from_xcom(replaced(PUSH.to_xcom(), "without_data", [""])),
            "push result: without_data[0]: expected a non-blank string",
        ),
        (
            lambda: BillingPlan.from_xcom(["2026-11"], None),
            "billing plan: accounts: expected list, got nothing",
        ),
        (
            lambda: PushResult.from_xcom(replaced(PUSH.to_xcom(), "failed", -0.5)),
            "push result: failed: expected int",
        ),
        (
            lambda: PushResult.from_xcom(replaced(PUSH.to_xcom(), "failures", [{"backend_id": "g1"}])),
            "push result: failures[0].reason: expected str, got nothing",
        ),
    ],
)
def test_other_bad_documents_are_refused_naming_the_document_and_field(read: Any, error: str) -> None:
    with pytest.raises(ReportError) as raised:
        read()

    assert str(raised.value).startswith(error)


def test_a_report_is_checked_when_read() -> None:
    doc = sample_report().to_xcom()
    doc["accounts"]["g1"]["users"]["alice"]["nodeHours"] = "1.5"

    with pytest.raises(ReportError, match=r"accounts\.g1\.users\.alice\.nodeHours: '1\.5' is not"):
        UsageReport.from_xcom(doc)
