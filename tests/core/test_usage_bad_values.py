"""UsageAggregator: bad DWDI values never become zero; each is an issue naming the record and field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.issues import Issue
from tests.core.usage_support import (
    EXCEEDING,
    NODE_ONLY,
    THREE,
    aggregator,
    brief,
    dwdi,
    failure_of,
    report_json,
    report_of,
)

BAD_VALUES = [
    pytest.param("null", "null_value", "None", id="null"),
    pytest.param("-1", "negative_value", "-1", id="negative"),
    pytest.param("-0.01", "negative_value", "-0.01", id="slightly negative"),
    pytest.param("NaN", "not_a_number", "nan", id="NaN"),
    pytest.param("Infinity", "not_a_number", "inf", id="Infinity"),
    pytest.param("-Infinity", "not_a_number", "-inf", id="-Infinity"),
    pytest.param('"12"', "non_numeric", "'12'", id="numeric string"),
    pytest.param('"abc"', "non_numeric", "'abc'", id="string"),
    pytest.param("true", "non_numeric", "True", id="true"),
    pytest.param("false", "non_numeric", "False", id="false"),
    pytest.param("[1]", "non_numeric", "[1]", id="list"),
    pytest.param('{"v": 1}', "non_numeric", "{'v': 1}", id="object"),
]


def bad_user_body(value: str) -> str:
    return f"""{{"compute": [{{"account": "g207", "totalNodeHours": 10, "users": [
        {{"username": "alice", "nodeHours": 4, "gpuHours": 2}},
        {{"username": "bob", "nodeHours": {value}, "gpuHours": 8}},
        {{"username": "bob", "nodeHours": 6, "gpuHours": 1}}]}}]}}"""


@pytest.mark.parametrize(("value", "kind", "shown"), BAD_VALUES)
def test_a_bad_user_value_under_skip_leaves_the_whole_row_out(value: str, kind: str, shown: str) -> None:
    components = {"nodeHours": {"measured_unit": "h"}, "gpuHours": {"measured_unit": "h"}}

    report = report_of(bad_user_body(value), components=components, policy="skip")

    assert brief(report) == {
        "g207": (
            {"nodeHours": "10.00", "gpuHours": "3.00"},  # gpuHours 8 of the bad row is left out too
            {
                "alice": {"nodeHours": "4.00", "gpuHours": "2.00"},
                "bob": {"nodeHours": "6.00", "gpuHours": "1.00"},
            },
        )
    }
    (issue,) = report["issues"]
    assert {key: issue[key] for key in ("kind", "record", "account", "user", "field", "value")} == {
        "kind": kind,
        "record": "page 0, compute[0].users[1]",
        "account": "g207",
        "user": "bob",
        "field": "nodeHours",
        "value": shown,
    }
    for part in ("page 0, compute[0].users[1]", "'g207'", "'bob'", "nodeHours", shown, "left out"):
        assert part in issue["message"]
    assert (report["counts"]["rows_skipped"], report["counts"]["issues"]) == (1, 1)
    assert report["policy"] == "skip"


@pytest.mark.parametrize(("value", "kind", "shown"), BAD_VALUES)
def test_a_bad_user_value_under_fail_refuses_the_report(value: str, kind: str, shown: str) -> None:
    error = failure_of(bad_user_body(value))

    (issue,) = error.issues
    assert (issue.kind, issue.record, issue.account, issue.user, issue.field, issue.value) == (
        kind,
        "page 0, compute[0].users[1]",
        "g207",
        "bob",
        "nodeHours",
        shown,
    )
    assert "1 issue(s) in the DWDI data for 2026-11" in str(error)
    assert issue.message in str(error)


@pytest.mark.parametrize("single_component", [True, False])
@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (Decimal("NaN"), "not_a_number"),
        (Decimal("sNaN"), "not_a_number"),
        (Decimal("Infinity"), "not_a_number"),
        (Decimal("-3"), "negative_value"),
        (-3, "negative_value"),
        (-0.5, "negative_value"),
        (float("nan"), "not_a_number"),
        (float("inf"), "not_a_number"),
    ],
)
def test_bad_python_values_are_caught_on_both_paths(value: Any, kind: str, single_component: bool) -> None:
    components = NODE_ONLY if single_component else THREE
    body = {
        "compute": [
            {
                "account": "g1",
                "users": [{"username": "a", "nodeHours": value}, {"username": "b", "nodeHours": 1}],
            }
        ]
    }

    report = report_of(body, components=components, policy="skip")

    assert report["accounts"]["g1"]["users"] == {"b": {"nodeHours": "1.00"}}
    assert report["accounts"]["g1"]["total"]["nodeHours"] == "1.00"
    assert [issue["kind"] for issue in report["issues"]] == [kind]


def bad_total_body(value: str, field: str = "totalNodeHours") -> str:
    return f"""{{"compute": [{{"account": "g207", "cluster": "daint", "{field}": {value}, "users": [
        {{"username": "alice", "nodeHours": 4.5}}, {{"username": "bob", "nodeHours": 1}}]}},
        {{"account": "g207", "cluster": "eiger", "totalNodeHours": 100, "users": []}}]}}"""


@pytest.mark.parametrize("field", ["totalNodeHours", "accountNodeHours"])
@pytest.mark.parametrize(("value", "kind", "shown"), BAD_VALUES)
def test_a_bad_account_total_under_skip_falls_back_to_the_users(
    value: str, kind: str, shown: str, field: str
) -> None:
    report = report_of(bad_total_body(value, field), policy="skip")

    assert brief(report) == {
        "g207": ({"nodeHours": "105.50"}, {"alice": {"nodeHours": "4.50"}, "bob": {"nodeHours": "1.00"}})
    }
    (issue,) = report["issues"]
    assert {key: issue[key] for key in ("kind", "record", "account", "user", "field", "value")} == {
        "kind": kind,
        "record": "page 0, compute[0]",
        "account": "g207",
        "user": None,
        "field": field,
        "value": shown,
    }
    assert "taken from its users" in issue["message"]
    assert report["counts"]["rows_skipped"] == 0


@pytest.mark.parametrize(("value", "kind", "shown"), BAD_VALUES)
def test_a_bad_account_total_under_fail_refuses_the_report(value: str, kind: str, shown: str) -> None:
    (issue,) = failure_of(bad_total_body(value)).issues

    assert (issue.kind, issue.record, issue.field, issue.value) == (
        kind,
        "page 0, compute[0]",
        "totalNodeHours",
        shown,
    )


@pytest.mark.parametrize(
    "account", ['"account": null, ', '"account": "", ', '"account": "  ", ', '"account": 207, ', ""]
)
@pytest.mark.parametrize("policy", ["fail", "skip"])
def test_an_entry_without_account_is_an_issue(account: str, policy: str) -> None:
    body = f"""{{"compute": [{{"account": "g1", "totalNodeHours": 1}},
        {{{account}"totalNodeHours": 50, "users": [{{"username": "a", "nodeHours": 50}}]}}]}}"""

    if policy == "fail":
        (issue,) = failure_of(body).issues
    else:
        report = report_of(body, policy="skip")
        assert brief(report) == {"g1": ({"nodeHours": "1.00"}, {})}
        (issue,) = (Issue.from_json(item, "issue") for item in report["issues"])
    assert (issue.kind, issue.record, issue.account, issue.field) == (
        "missing_account",
        "page 0, compute[1]",
        None,
        "account",
    )


@pytest.mark.parametrize(
    "username", ['"username": null, ', '"username": "", ', '"username": " ", ', '"username": 7, ', ""]
)
@pytest.mark.parametrize("components", [NODE_ONLY, THREE], ids=["one component", "three components"])
@pytest.mark.parametrize("policy", ["fail", "skip"])
def test_a_row_without_username_is_an_issue(username: str, components: dict[str, Any], policy: str) -> None:
    body = f"""{{"compute": [{{"account": "g1", "users": [{{"username": "a", "nodeHours": 1}},
        {{{username}"nodeHours": 50}}]}}]}}"""

    if policy == "fail":
        (issue,) = failure_of(body, components=components).issues
    else:
        report = report_of(body, components=components, policy="skip")
        assert report["accounts"]["g1"]["total"]["nodeHours"] == "1.00"
        assert report["accounts"]["g1"]["users"] == {"a": {"nodeHours": "1.00"}}
        assert report["counts"]["rows_skipped"] == 1
        (issue,) = (Issue.from_json(item, "issue") for item in report["issues"])
    assert (issue.kind, issue.record, issue.account, issue.user, issue.field) == (
        "missing_username",
        "page 0, compute[0].users[1]",
        "g1",
        None,
        "username",
    )


def test_users_exceeding_the_total_under_skip_are_reported_and_the_total_kept() -> None:
    report = report_of(EXCEEDING, policy="skip")

    assert brief(report) == {
        "g207": ({"nodeHours": "10.00"}, {"alice": {"nodeHours": "6.00"}, "bob": {"nodeHours": "5.00"}})
    }
    (issue,) = report["issues"]
    assert {key: issue[key] for key in ("kind", "record", "account", "user", "field", "value")} == {
        "kind": "users_exceed_total",
        "record": "account g207",
        "account": "g207",
        "user": None,
        "field": "nodeHours",
        "value": "users 11.00 > total 10.00",
    }
    assert "kept" in issue["message"]
    assert report["counts"]["issues"] == 1


def test_users_exceeding_the_total_under_fail_refuse_the_report() -> None:
    (issue,) = failure_of(EXCEEDING).issues

    assert (issue.kind, issue.record) == ("users_exceed_total", "account g207")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            '{"compute": [{"account": "g1", "users": [{"username": "a", "nodeHours": 11}]}]}',
            id="no total field",
        ),
        pytest.param(
            '{"compute": [{"account": "g1", "totalNodeHours": 10.001, "users": [{"username": "a", "nodeHours": 10.004}]}]}',
            id="below a cent",
        ),
        pytest.param(
            '{"compute": [{"account": "g1", "totalNodeHours": 10, "users": [{"username": "a", "nodeHours": 10}]},'
            ' {"account": "g1", "users": [{"username": "a", "nodeHours": 3}]}]}',
            id="users of an entry without total",
        ),
    ],
)
def test_users_within_the_total_are_no_issue(body: str) -> None:
    assert report_of(body)["issues"] == []


@pytest.mark.parametrize(
    ("body", "record", "field"),
    [
        pytest.param("[]", "page 0", None, id="body is a list"),
        pytest.param('"oops"', "page 0", None, id="body is a string"),
        pytest.param("{}", "page 0", "compute", id="no compute"),
        pytest.param('{"compute": {"account": "g1"}}', "page 0", "compute", id="compute is an object"),
        pytest.param('{"compute": null}', "page 0", "compute", id="compute is null"),
        pytest.param('{"compute": ["g1"]}', "page 0, compute[0]", None, id="entry is a string"),
        pytest.param(
            '{"compute": [{"account": "g1", "users": {"a": 1}}]}',
            "page 0, compute[0].users",
            "users",
            id="users is an object",
        ),
        pytest.param(
            '{"compute": [{"account": "g1", "users": [["a", 1]]}]}',
            "page 0, compute[0].users[0]",
            None,
            id="row is a list",
        ),
    ],
)
@pytest.mark.parametrize("policy", ["fail", "skip"])
def test_malformed_responses_are_never_ignored(
    body: str, record: str, field: str | None, policy: str
) -> None:
    if policy == "fail":
        (issue,) = failure_of(body).issues
    else:
        report = report_of(body, policy="skip")
        (issue,) = (Issue.from_json(item, "issue") for item in report["issues"])
        assert all(data["total"]["nodeHours"] == "0.00" for data in report["accounts"].values())
    assert (issue.kind, issue.record, issue.field) == ("malformed_entry", record, field)


def test_records_without_a_source_start_at_compute() -> None:
    agg = aggregator(policy="skip")
    agg.add_response(
        dwdi('{"compute": [{"account": "g1", "users": [{"username": "a", "nodeHours": null}]}]}')
    )

    (issue,) = report_json(agg)["issues"]

    assert issue["record"] == "compute[0].users[0]"
