"""validate_report: the push side's check of the aggregated report."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.errors import ReportError
from airflow_provider_cscs_dwdi.core.report import REPORT_SCHEMA_VERSION, validate_report


def good_report() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "month": "2026-11",
        "window": {"from": "2026-11-01", "to": "2026-11-23"},
        "policy": "skip",
        "components": {
            "nodeHours": {
                "measured_unit": "node-hours",
                "label": "Node Hours",
                "unit_factor": "1",
                "accounting_type": "usage",
                "dwdi_field": "nodeHours",
            },
            "gpuHours": {
                "measured_unit": "gpu-hours",
                "label": "GPU Hours",
                "unit_factor": "0.5",
                "accounting_type": "usage",
                "dwdi_field": "gpuHours",
            },
        },
        "accounts": {
            "g207": {
                "total": {"nodeHours": "1500.75", "gpuHours": "0.00"},
                "users": {
                    "alice": {"nodeHours": "600.25"},
                    "bob": {"nodeHours": "900.50", "gpuHours": "0.00"},
                },
            },
            "g208": {"total": {"nodeHours": "0.00", "gpuHours": "0.00"}, "users": {}},
        },
        "issues": [
            {
                "kind": "negative_value",
                "record": "page 1, compute[3].users[2]",
                "account": "g207",
                "user": "carol",
                "field": "nodeHours",
                "value": "-1",
                "message": "page 1, compute[3].users[2]: nodeHours of user 'carol' ...",
            }
        ],
        "counts": {
            "pages": 3,
            "entries": 12,
            "user_rows": 340,
            "accounts_reported": 2,
            "accounts_without_data": 1,
            "accounts_ignored": 0,
            "rows_skipped": 1,
            "issues": 1,
        },
        "ignored_accounts_sample": [],
    }


def test_the_documented_report_is_valid() -> None:
    assert REPORT_SCHEMA_VERSION == 1
    validate_report(good_report())
    validate_report(json.loads(json.dumps(good_report())))


def test_window_and_policy_are_optional() -> None:
    report = good_report()
    del report["policy"]
    report["window"] = None

    validate_report(report)


def changed(path: str, value: Any) -> dict[str, Any]:
    """The good report with the item at a dotted path replaced (``...`` deletes it)."""
    report = copy.deepcopy(good_report())
    *parents, last = path.split(".")
    node: Any = report
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    index: Any = int(last) if isinstance(node, list) else last
    if value is ...:
        del node[index]
    else:
        node[index] = value
    return report


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("schema_version", 2, "schema_version: expected 1, got 2"),
        ("schema_version", "1", "schema_version: expected 1, got '1'"),
        ("schema_version", True, "schema_version: expected 1, got True"),
        ("schema_version", ..., "schema_version: expected 1, got None"),
        ("month", "2026-13", "month: expected YYYY-MM, got '2026-13'"),
        ("month", "2026-1", "month: expected YYYY-MM"),
        ("month", "2026-11-01", "month: expected YYYY-MM"),
        ("month", "2026-11\n", "month: expected YYYY-MM"),
        ("month", 202611, "month: expected YYYY-MM"),
        ("window", "2026-11", "window: expected an object, got str"),
        ("window.to", 23, "window.to: expected a date string, got 23"),
        ("policy", "ignore", "policy: expected one of fail, skip, got 'ignore'"),
        ("components", [], "components: expected an object, got list"),
        ("components", {}, "components: expected at least one component"),
        ("components", ..., "components: expected an object, got nothing"),
        ("components.nodeHours", "node-hours", "components.nodeHours: expected an object, got str"),
        (
            "components.gpuHours.unit_factor",
            "0",
            "components.gpuHours.unit_factor: expected a positive number",
        ),
        (
            "components.gpuHours.unit_factor",
            0.5,
            "components.gpuHours.unit_factor: expected a positive number",
        ),
        (
            "components.gpuHours.unit_factor",
            "half",
            "components.gpuHours.unit_factor: expected a positive number",
        ),
        ("accounts", [], "accounts: expected an object, got list"),
        ("accounts", ..., "accounts: expected an object, got nothing"),
        ("accounts.g207", None, "accounts.g207: expected an object, got nothing"),
        ("accounts.", {"total": {}, "users": {}}, "accounts: '' is not a name"),
        ("accounts.g207.total", ..., "accounts.g207.total: expected an object, got nothing"),
        ("accounts.g207.users", [], "accounts.g207.users: expected an object, got list"),
        (
            "accounts.g207.total.nodeHours",
            "1500.7",
            "accounts.g207.total.nodeHours: '1500.7' is not a non-negative amount with two decimals",
        ),
        (
            "accounts.g207.total.nodeHours",
            "-1.00",
            "accounts.g207.total.nodeHours: '-1.00' is not a non-negative amount with two decimals",
        ),
        (
            "accounts.g207.users.alice.nodeHours",
            "-1.00",
            "accounts.g207.users.alice.nodeHours: '-1.00' is not a non-negative amount with two decimals",
        ),
        ("accounts.g207.users.alice.nodeHours", 600.25, "accounts.g207.users.alice.nodeHours: 600.25 is not"),
        ("accounts.g207.users.alice.nodeHours", "600.250", "'600.250' is not a non-negative amount"),
        ("accounts.g207.users.alice.nodeHours", "1e3", "'1e3' is not a non-negative amount"),
        ("accounts.g207.users.alice.nodeHours", "NaN", "'NaN' is not a non-negative amount"),
        ("accounts.g207.users.alice.nodeHours", "+1.00", "'+1.00' is not a non-negative amount"),
        ("accounts.g207.users.alice.nodeHours", " 1.00", "' 1.00' is not a non-negative amount"),
        ("accounts.g207.users.alice.nodeHours", "1.00\n", "is not a non-negative amount"),
        (
            "accounts.g207.users.alice.nodeHours",
            "\u0661.00",
            "is not a non-negative amount",
        ),  # Arabic-Indic 1
        ("accounts.g207.users.alice", ["600.25"], "accounts.g207.users.alice: expected an object, got list"),
        (
            "accounts.g207.total.storage",
            "1.00",
            "accounts.g207.total.storage: not a declared component (declared: gpuHours, nodeHours)",
        ),
        (
            "accounts.g207.users.bob.storage",
            "1.00",
            "accounts.g207.users.bob.storage: not a declared component",
        ),
        ("issues", {}, "issues: expected a list, got dict"),
        ("issues", ..., "issues: expected a list, got nothing"),
        ("issues.0", "bad row", "issues[0]: expected an object, got str"),
        ("issues.0.kind", ..., "issues[0].kind: expected a string, got None"),
        ("issues.0.message", 5, "issues[0].message: expected a string, got 5"),
        ("counts", ..., "counts: expected an object, got nothing"),
        ("counts", [], "counts: expected an object, got list"),
        ("counts.pages", -1, "counts.pages: expected a non-negative integer, got -1"),
        ("counts.pages", "3", "counts.pages: expected a non-negative integer, got '3'"),
        ("counts.issues", True, "counts.issues: expected a non-negative integer, got True"),
    ],
)
def test_a_bad_item_is_named_by_its_path(path: str, value: Any, message: str) -> None:
    with pytest.raises(ReportError) as caught:
        validate_report(changed(path, value))

    assert message in str(caught.value)


@pytest.mark.parametrize("doc", [None, [], "report", 1])
def test_a_report_must_be_an_object(doc: Any) -> None:
    with pytest.raises(ReportError, match="report: expected an object"):
        validate_report(doc)


@pytest.mark.parametrize("amount", ["0.00", "1.10", "12345678901234567890.99"])
def test_amounts_with_two_decimals_are_valid(amount: str) -> None:
    validate_report(changed("accounts.g207.users.alice.nodeHours", amount))


def test_a_report_of_the_aggregator_is_valid_for_the_push() -> None:
    from airflow_provider_cscs_dwdi.core.components import parse_backend_components
    from airflow_provider_cscs_dwdi.core.report import build_report
    from airflow_provider_cscs_dwdi.core.usage import UsageAggregator

    aggregator = UsageAggregator(
        parse_backend_components({"nodeHours": {"measured_unit": "node-hours"}}), requested_accounts=["g1"]
    )
    aggregator.add_response(
        {"compute": [{"account": "g1", "users": [{"username": "a", "nodeHours": 1}]}]}, source="page 0"
    )

    validate_report(json.loads(json.dumps(build_report(aggregator.result(), month="2026-11").to_xcom())))
