"""Issue and IssueLog: one issue type for the aggregation and the write plan, bounded and readable."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core import issues
from airflow_provider_cscs_dwdi.core.errors import ReportError
from airflow_provider_cscs_dwdi.core.issues import Issue, IssueLog, issues_from_json, shown_value
from airflow_provider_cscs_dwdi.core.waldur_state import index_resources
from tests.core.usage_support import aggregator, dwdi

NEGATIVE = Issue(
    kind="negative_value",
    message="page 0, compute[0].users[1]: nodeHours of user 'bob' in account 'g1' is negative (value: -1).",
    record="page 0, compute[0].users[1]",
    account="g1",
    user="bob",
    field="nodeHours",
    value="-1",
)


def test_an_issue_survives_json() -> None:
    doc = json.loads(json.dumps(NEGATIVE.to_json()))

    assert Issue.from_json(doc, "issues[0]") == NEGATIVE


def test_the_json_names_the_account_also_as_backend_id() -> None:
    assert NEGATIVE.to_json() == {
        "kind": "negative_value",
        "record": "page 0, compute[0].users[1]",
        "account": "g1",
        "backend_id": "g1",
        "user": "bob",
        "field": "nodeHours",
        "value": "-1",
        "message": NEGATIVE.message,
    }


def test_an_issue_published_with_only_a_backend_id_is_read() -> None:
    # The write plan's issues used to be {"kind", "backend_id", "message"}.
    issue = Issue.from_json({"kind": "no_waldur_resource", "backend_id": "g9", "message": "m"}, "issues[0]")

    assert issue == Issue(kind="no_waldur_resource", message="m", account="g9")


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("oops", "issues[2]: expected an object, got str"),
        ({"message": "m"}, "issues[2].kind: expected a string, got None"),
        ({"kind": "k", "message": 5}, "issues[2].message: expected a string, got 5"),
        ({"kind": "k", "message": "m", "value": 5}, "issues[2].value: expected a string or null, got 5"),
        ({"kind": "k", "message": "m", "user": ["a"]}, r"issues[2].user: expected a string or null"),
    ],
)
def test_a_bad_issue_is_refused_naming_its_place_and_field(raw: Any, error: str) -> None:
    with pytest.raises(ReportError) as raised:
        Issue.from_json(raw, "issues[2]")

    assert str(raised.value).startswith(error)


def test_an_issue_list_must_be_a_list() -> None:
    with pytest.raises(ReportError, match="push result: issues: expected a list, got dict"):
        issues_from_json({}, "push result: issues")
    assert issues_from_json([NEGATIVE.to_json()], "issues") == (NEGATIVE,)


def test_the_aggregation_and_the_write_plan_report_the_same_issue_type() -> None:
    agg = aggregator(policy="skip")
    agg.add_response(
        dwdi('{"compute": [{"account": "g1", "users": [{"username": "a", "nodeHours": null}]}]}')
    )
    index = index_resources([{"uuid": "r1", "backend_id": " "}, {"uuid": "r2", "backend_id": "g1"}])

    (from_usage,) = agg.result().issues
    (from_plan,) = index.issues

    assert type(from_usage) is type(from_plan) is Issue
    assert (from_usage.kind, from_usage.account, from_usage.field) == ("null_value", "g1", "nodeHours")
    assert (from_plan.kind, from_plan.record, from_plan.field) == (
        "blank_backend_id",
        "Waldur resource r1",
        "backend_id",
    )


@pytest.mark.parametrize(("explain", "suffix"), [(True, "; the row is left out."), (False, ".")])
def test_the_log_says_what_was_done_only_when_records_are_skipped(explain: bool, suffix: str) -> None:
    log = IssueLog(explain_consequences=explain)

    log.add(
        "null_value",
        "compute[0]",
        "g1",
        "a",
        "nodeHours",
        None,
        "it is null",
        consequence="the row is left out",
    )

    (issue,) = log.kept
    assert issue.message == f"compute[0]: it is null (value: None){suffix}"
    assert (issue.value, issue.user) == ("None", "a")


def test_the_log_counts_every_issue_and_keeps_a_bounded_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(issues, "MAX_ISSUES_KEPT", 3)
    log = IssueLog(explain_consequences=False)
    for index in range(2):
        log.add("null_value", f"row {index}", "g1", None, "nodeHours", None, "it is null")
    final = [Issue(kind="users_exceed_total", message=f"late {index}") for index in range(2)]

    kept, count = log.with_final(final)

    assert ([issue.record for issue in kept[:2]], [issue.message for issue in kept[2:]]) == (
        ["row 0", "row 1"],
        ["late 0"],
    )
    assert count == 4
    assert (len(log.kept), log.count) == (2, 2)  # the final issues are not added to the log itself
    for index in range(2, 5):
        log.add("null_value", f"row {index}", "g1", None, "nodeHours", None, "it is null")
    assert (len(log.kept), log.count) == (3, 5)


def test_long_values_are_shown_cut_to_80_characters() -> None:
    assert shown_value("x" * 500) == "'" + "x" * 76 + "..."
    assert len(shown_value(list(range(100)))) == 80
    assert shown_value(None) == "None"
