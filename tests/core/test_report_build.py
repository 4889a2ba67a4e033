"""build_report: the summed month -> the versioned report, or a refusal naming every issue."""

from __future__ import annotations

import json

import pytest

from airflow_provider_cscs_dwdi.core import issues
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.issues import UsageDataError
from airflow_provider_cscs_dwdi.core.report import validate_report
from airflow_provider_cscs_dwdi.core.usage import UsageAggregator
from tests.core.usage_support import EXCEEDING, aggregator, dwdi, failure_of, report_json, report_of


def test_the_reference_example_gives_the_documented_report() -> None:
    body = """{"compute": [{"account": "g207", "cluster": "daint", "totalNodeHours": 1500.75,
        "users": [{"username": "alice", "nodeHours": 500.25, "usageDate": "2025-01-01"},
                  {"username": "alice", "nodeHours": 100.0, "usageDate": "2025-01-02"},
                  {"username": "bob", "nodeHours": 900.5}]}]}"""

    report = report_of(body, requested_accounts=["g207", "g208"])

    assert report == {
        "schema_version": 1,
        "month": "2026-11",
        "usage_kind": "compute",
        "window": {"from": "2026-11-01", "to": "2026-11-23"},
        "policy": "fail",
        "components": {
            "nodeHours": {
                "measured_unit": "node-hours",
                "label": "Node Hours",
                "unit_factor": "1",
                "accounting_type": "usage",
                "dwdi_field": "nodeHours",
            }
        },
        "accounts": {
            "g207": {
                "total": {"nodeHours": "1500.75"},
                "users": {"alice": {"nodeHours": "600.25"}, "bob": {"nodeHours": "900.50"}},
            },
            "g208": {"total": {"nodeHours": "0.00"}, "users": {}},
        },
        "issues": [],
        "counts": {
            "pages": 1,
            "entries": 1,
            "entries_filtered": 0,
            "user_rows": 3,
            "accounts_reported": 2,
            "accounts_without_data": 1,
            "accounts_ignored": 0,
            "rows_skipped": 0,
            "issues": 0,
        },
        "ignored_accounts_sample": [],
        "without_data": [],
    }
    validate_report(json.loads(json.dumps(report)))


def test_every_issue_is_listed_and_the_message_names_the_first_50() -> None:
    rows = ", ".join(f'{{"username": "u{index}", "nodeHours": -{index + 1}}}' for index in range(60))

    error = failure_of(f'{{"compute": [{{"account": "g1", "users": [{rows}]}}]}}')

    assert len(error.issues) == 60
    text = str(error)
    assert text.startswith("60 issue(s) in the DWDI data for 2026-11")
    assert "users[49]" in text
    assert "users[50]" not in text
    assert text.endswith("... and 10 more")


def test_issues_kept_in_detail_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(issues, "MAX_ISSUES_KEPT", 5)
    rows = ", ".join(f'{{"username": "u{index}", "nodeHours": null}}' for index in range(8))
    body = f'{{"compute": [{{"account": "g1", "users": [{rows}]}}]}}'

    report = report_of(body, policy="skip")
    error = failure_of(body)

    assert len(report["issues"]) == 5
    assert (report["counts"]["issues"], report["counts"]["rows_skipped"]) == (8, 8)
    assert len(error.issues) == 5
    assert str(error).startswith("8 issue(s)")
    assert str(error).endswith("... and 3 more")


def test_long_values_are_truncated_to_80_characters() -> None:
    long_text = "x" * 500
    body = {"compute": [{"account": "g1", "users": [{"username": "a", "nodeHours": long_text}]}]}

    (issue,) = failure_of(body).issues

    assert len(issue.value or "") == 80
    assert issue.value.endswith("...")  # type: ignore[union-attr]
    assert long_text not in issue.message


def test_build_report_can_be_called_twice() -> None:
    agg = aggregator(policy="skip")
    agg.add_response(dwdi(EXCEEDING), source="page 0")

    assert report_json(agg) == report_json(agg)
    assert len(report_json(agg)["issues"]) == 1


def test_a_bad_month_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        report_json(aggregator(), month="2026-13")


def test_the_window_may_be_absent() -> None:
    assert report_json(aggregator())["window"] is None


def test_at_least_one_component_is_needed() -> None:
    with pytest.raises(ConfigurationError):
        UsageAggregator(())


@pytest.mark.parametrize("policy", ["fail", "skip"])
def test_sums_that_cannot_be_exact_are_refused_under_any_policy(policy: str) -> None:
    body = '{"compute": [{"account": "g1", "users": [{"username": "a", "nodeHours": 1e60}, {"username": "a", "nodeHours": 1e-10}]}]}'

    with pytest.raises(UsageDataError, match="50 digits"):
        report_of(body, policy=policy)
