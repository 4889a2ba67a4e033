"""UsageAggregator: DWDI compute responses -> exact totals, per-user usage and issues."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core import usage
from airflow_provider_cscs_dwdi.core.components import parse_backend_components
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError, UsageDataError
from airflow_provider_cscs_dwdi.core.report import validate_report
from airflow_provider_cscs_dwdi.core.usage import BadValuePolicy, UsageAggregator, UsageIssue

NODE_ONLY = {"nodeHours": {"measured_unit": "node-hours", "label": "Node Hours"}}
THREE = {
    "nodeHours": {"measured_unit": "node-hours"},
    "gpuHours": {"measured_unit": "gpu-hours", "unit_factor": 0.5},
    "cpuHours": {"measured_unit": "core-hours", "unit_factor": "3.6"},
}
CENT = Decimal("0.01")


def dwdi(text: str) -> Any:
    """A DWDI body parsed the way the provider parses it."""
    return json.loads(text, parse_float=Decimal)


def aggregator(
    components: dict[str, Any] = NODE_ONLY, policy: str = "fail", **kwargs: Any
) -> UsageAggregator:
    return UsageAggregator(parse_backend_components(components), policy=BadValuePolicy(policy), **kwargs)


def report_of(
    *bodies: Any, components: dict[str, Any] = NODE_ONLY, policy: str = "fail", **kwargs: Any
) -> dict[str, Any]:
    agg = aggregator(components, policy, **kwargs)
    for index, body in enumerate(bodies):
        agg.add_response(dwdi(body) if isinstance(body, str) else body, source=f"page {index}")
    return agg.build_report(month="2026-11", window={"from": "2026-11-01", "to": "2026-11-23"})


def failure_of(*bodies: Any, **kwargs: Any) -> UsageDataError:
    with pytest.raises(UsageDataError) as caught:
        report_of(*bodies, policy="fail", **kwargs)
    return caught.value


def brief(report: dict[str, Any]) -> dict[str, Any]:
    """account -> (total, users) for compact comparisons."""
    return {name: (data["total"], data["users"]) for name, data in report["accounts"].items()}


def test_the_reference_example_gives_the_documented_report() -> None:
    body = """{"compute": [{"account": "g207", "cluster": "daint", "totalNodeHours": 1500.75,
        "users": [{"username": "alice", "nodeHours": 500.25, "usageDate": "2025-01-01"},
                  {"username": "alice", "nodeHours": 100.0, "usageDate": "2025-01-02"},
                  {"username": "bob", "nodeHours": 900.5}]}]}"""

    report = report_of(body, requested_accounts=["g207", "g208"])

    assert report == {
        "schema_version": 1,
        "month": "2026-11",
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
    }
    validate_report(json.loads(json.dumps(report)))


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param(
            '[{"account": "g1", "totalNodeHours": 12.5, "users": [{"username": "a", "nodeHours": 10}]}]',
            ({"nodeHours": "12.50"}, {"a": {"nodeHours": "10.00"}}),
            id="totalNodeHours is the account total",
        ),
        pytest.param(
            '[{"account": "g1", "accountNodeHours": 10.5, "users": [{"username": "a", "nodeHours": 4},'
            ' {"username": "b", "nodeHours": 5}]}]',
            ({"nodeHours": "10.50"}, {"a": {"nodeHours": "4.00"}, "b": {"nodeHours": "5.00"}}),
            id="seed-era accountNodeHours",
        ),
        pytest.param(
            '[{"account": "g1", "totalNodeHours": 12, "accountNodeHours": 99, "users": []}]',
            ({"nodeHours": "12.00"}, {}),
            id="totalNodeHours preferred over accountNodeHours",
        ),
        pytest.param(
            '[{"account": "g1", "users": [{"username": "a", "nodeHours": 1.25}, {"username": "b", "nodeHours": 2}]}]',
            ({"nodeHours": "3.25"}, {"a": {"nodeHours": "1.25"}, "b": {"nodeHours": "2.00"}}),
            id="no total field: the sum of the users",
        ),
        pytest.param(
            '[{"account": "g1", "cluster": "daint", "totalNodeHours": 10, "users": [{"username": "a", "nodeHours": 6}]},'
            ' {"account": "g1", "cluster": "eiger", "totalNodeHours": 5.25, "users": [{"username": "a", "nodeHours": 5}]}]',
            ({"nodeHours": "15.25"}, {"a": {"nodeHours": "11.00"}}),
            id="same account on two clusters is summed, not overwritten",
        ),
        pytest.param(
            '[{"account": "g1", "cluster": "daint", "totalNodeHours": 10, "users": []},'
            ' {"account": "g1", "cluster": "eiger", "users": [{"username": "b", "nodeHours": 2.5}]}]',
            ({"nodeHours": "12.50"}, {"b": {"nodeHours": "2.50"}}),
            id="one entry with a total, one without",
        ),
        pytest.param(
            '[{"account": "g1", "users": ['
            '{"username": "a", "nodeHours": 1.5, "usageDate": "2025-01-01"},'
            '{"username": "a", "nodeHours": 2.25, "usageDate": "2025-01-02"},'
            '{"username": "a", "nodeHours": 3, "usageDate": "2025-01-03"}]}]',
            ({"nodeHours": "6.75"}, {"a": {"nodeHours": "6.75"}}),
            id="same user on many dates is summed",
        ),
        pytest.param(
            '[{"account": "g1", "totalNodeHours": 7, "users": []}]',
            ({"nodeHours": "7.00"}, {}),
            id="users empty",
        ),
        pytest.param(
            '[{"account": "g1", "totalNodeHours": 7}]',
            ({"nodeHours": "7.00"}, {}),
            id="users missing",
        ),
        pytest.param(
            '[{"account": "g1", "totalNodeHours": 7, "users": null}]',
            ({"nodeHours": "7.00"}, {}),
            id="users null",
        ),
        pytest.param(
            '[{"account": "g1"}]',
            ({"nodeHours": "0.00"}, {}),
            id="no total and no users: zero",
        ),
        pytest.param(
            '[{"account": "g1", "users": [{"username": "a", "usageDate": "2025-01-01"},'
            ' {"username": "b", "nodeHours": 1}]}]',
            ({"nodeHours": "1.00"}, {"b": {"nodeHours": "1.00"}}),
            id="a row without the field contributes nothing",
        ),
        pytest.param(
            '[{"account": "g1", "users": [{"username": "a", "nodeHours": -0.0}, {"username": "a", "nodeHours": 0}]}]',
            ({"nodeHours": "0.00"}, {"a": {"nodeHours": "0.00"}}),
            id="negative zero is zero",
        ),
    ],
)
def test_dwdi_variants(entries: str, expected: tuple[dict[str, str], dict[str, Any]]) -> None:
    report = report_of(f'{{"compute": {entries}}}')

    assert brief(report) == {"g1": expected}
    assert report["issues"] == []


def test_accounts_spread_over_pages_are_summed() -> None:
    first = '{"compute": [{"account": "g1", "users": [{"username": "a", "nodeHours": 1.1}]}]}'
    second = '{"compute": [{"account": "g1", "users": [{"username": "a", "nodeHours": 2.2}, {"username": "b", "nodeHours": 1}]}]}'

    report = report_of(first, second)

    assert brief(report) == {
        "g1": ({"nodeHours": "4.30"}, {"a": {"nodeHours": "3.30"}, "b": {"nodeHours": "1.00"}})
    }
    assert report["counts"]["pages"] == 2
    assert report["counts"]["entries"] == 2
    assert report["counts"]["user_rows"] == 3


def test_python_floats_and_ints_are_accepted_exactly() -> None:
    body = {
        "compute": [
            {
                "account": "g1",
                "totalNodeHours": 0.3,
                "users": [
                    {"username": "a", "nodeHours": 0.1},
                    {"username": "a", "nodeHours": 0.2},
                    {"username": "b", "nodeHours": 0},
                ],
            }
        ]
    }

    report = report_of(body)

    assert brief(report) == {
        "g1": ({"nodeHours": "0.30"}, {"a": {"nodeHours": "0.30"}, "b": {"nodeHours": "0.00"}})
    }
    assert report["issues"] == []


def test_several_components_with_unit_factors() -> None:
    body = """{"compute": [
        {"account": "g1", "cluster": "daint", "totalNodeHours": 10, "totalGpuHours": 3,
         "users": [{"username": "a", "nodeHours": 6, "gpuHours": 2, "cpuHours": 0.125},
                   {"username": "b", "nodeHours": 4}]},
        {"account": "g1", "cluster": "eiger", "accountCpuHours": 1,
         "users": [{"username": "c", "cpuHours": 0.5}, {"username": "a", "gpuHours": 1}]}]}"""

    report = report_of(body, components=THREE)

    assert report["components"]["gpuHours"]["unit_factor"] == "0.5"
    assert report["components"]["cpuHours"]["unit_factor"] == "3.6"
    (total, users) = brief(report)["g1"]
    # nodeHours: 10 (total); gpuHours: (3 + 1 from users of the 2nd entry) * 0.5;
    # cpuHours: (0.125 from users of the 1st entry + 1) * 3.6 = 4.05
    assert total == {"nodeHours": "10.00", "gpuHours": "2.00", "cpuHours": "4.05"}
    assert users == {
        "a": {"nodeHours": "6.00", "gpuHours": "1.50", "cpuHours": "0.45"},
        "b": {"nodeHours": "4.00"},
        "c": {"cpuHours": "1.80"},
    }
    assert list(report["components"]) == ["nodeHours", "gpuHours", "cpuHours"]


def test_dwdi_field_maps_a_component_to_another_field() -> None:
    components = {"node_hours": {"measured_unit": "h", "dwdi_field": "nodeHours"}}
    body = (
        '{"compute": [{"account": "g1", "totalNodeHours": 3, "users": [{"username": "a", "nodeHours": 3}]}]}'
    )

    report = report_of(body, components=components)

    assert brief(report) == {"g1": ({"node_hours": "3.00"}, {"a": {"node_hours": "3.00"}})}


def test_accounts_and_users_are_sorted() -> None:
    body = """{"compute": [{"account": "g9", "users": [{"username": "zed", "nodeHours": 1},
        {"username": "amy", "nodeHours": 1}]}, {"account": "g1", "users": []}, {"account": "g5"}]}"""

    report = report_of(body)

    assert list(report["accounts"]) == ["g1", "g5", "g9"]
    assert list(report["accounts"]["g9"]["users"]) == ["amy", "zed"]


@pytest.mark.parametrize("clusters", [["daint"], ["Daint"], ("DAINT", "alps-x")])
def test_the_cluster_filter_leaves_other_clusters_out(clusters: list[str]) -> None:
    body = """{"compute": [
        {"account": "g1", "cluster": "daint", "totalNodeHours": 1, "users": []},
        {"account": "g1", "cluster": "eiger", "totalNodeHours": 10, "users": []},
        {"account": "g2", "cluster": "Daint", "totalNodeHours": 100, "users": []},
        {"account": "g3", "cluster": "alps", "totalNodeHours": 1000, "users": [{"username": "x", "nodeHours": "bad"}]}]}"""

    report = report_of(body, clusters=clusters)

    assert {name: data["total"]["nodeHours"] for name, data in report["accounts"].items()} == {
        "g1": "1.00",
        "g2": "100.00",
    }
    assert report["counts"]["entries"] == 4
    assert report["counts"]["entries_filtered"] == 2
    assert report["issues"] == []  # the bad row of a filtered entry is never looked at


def test_without_a_cluster_filter_every_cluster_counts() -> None:
    body = """{"compute": [{"account": "g1", "cluster": "daint", "totalNodeHours": 1},
        {"account": "g1", "cluster": "eiger", "totalNodeHours": 2}, {"account": "g1", "totalNodeHours": 4}]}"""

    assert report_of(body)["accounts"]["g1"]["total"] == {"nodeHours": "7.00"}


@pytest.mark.parametrize("cluster", ["null", '""', "5", "missing"])
@pytest.mark.parametrize("policy", ["fail", "skip"])
def test_an_entry_without_cluster_under_a_filter_is_an_issue(cluster: str, policy: str) -> None:
    field = "" if cluster == "missing" else f'"cluster": {cluster}, '
    body = f'{{"compute": [{{{field}"account": "g1", "totalNodeHours": 5}}]}}'

    if policy == "fail":
        (issue,) = failure_of(body, clusters=["daint"]).issues
    else:
        report = report_of(body, clusters=["daint"], policy="skip", requested_accounts=["g1"])
        assert report["accounts"] == {"g1": {"total": {"nodeHours": "0.00"}, "users": {}}}
        (issue,) = (UsageIssue(**item) for item in report["issues"])
    assert (issue.kind, issue.record, issue.account, issue.field) == (
        "missing_cluster",
        "page 0, compute[0]",
        "g1",
        "cluster",
    )


def test_requested_accounts_filter_and_fill_with_zeros() -> None:
    body = """{"compute": [
        {"account": "g1", "totalNodeHours": 1, "users": [{"username": "a", "nodeHours": 1}]},
        {"account": "x2", "totalNodeHours": 10, "users": [{"username": "b", "nodeHours": "bad"}]},
        {"account": "x1", "totalNodeHours": 10},
        {"account": "x1", "totalNodeHours": 10}]}"""

    report = report_of(body, requested_accounts=["g1", "g2", "g3"])

    assert brief(report) == {
        "g1": ({"nodeHours": "1.00"}, {"a": {"nodeHours": "1.00"}}),
        "g2": ({"nodeHours": "0.00"}, {}),
        "g3": ({"nodeHours": "0.00"}, {}),
    }
    counts = report["counts"]
    assert (counts["accounts_reported"], counts["accounts_without_data"], counts["accounts_ignored"]) == (
        3,
        2,
        2,
    )
    assert report["ignored_accounts_sample"] == ["x1", "x2"]
    assert report["issues"] == []  # bad data of an account nobody bills is not an issue
    assert counts["user_rows"] == 1


def test_requested_accounts_without_data_get_every_component() -> None:
    report = report_of('{"compute": []}', components=THREE, requested_accounts=["g1"])

    assert report["accounts"] == {
        "g1": {"total": {"nodeHours": "0.00", "gpuHours": "0.00", "cpuHours": "0.00"}, "users": {}}
    }


def test_the_ignored_accounts_sample_is_bounded() -> None:
    body = {"compute": [{"account": f"x{index:03d}", "totalNodeHours": 1} for index in range(50)]}

    report = report_of(body, requested_accounts=[])

    assert report["accounts"] == {}
    assert report["counts"]["accounts_ignored"] == 50
    assert report["ignored_accounts_sample"] == [f"x{index:03d}" for index in range(20)]


# --------------------------------------------------------------------------- bad values

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
        (issue,) = (UsageIssue(**item) for item in report["issues"])
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
        (issue,) = (UsageIssue(**item) for item in report["issues"])
    assert (issue.kind, issue.record, issue.account, issue.user, issue.field) == (
        "missing_username",
        "page 0, compute[0].users[1]",
        "g1",
        None,
        "username",
    )


EXCEEDING = """{"compute": [{"account": "g207", "totalNodeHours": 10,
    "users": [{"username": "alice", "nodeHours": 6}, {"username": "bob", "nodeHours": 5}]}]}"""


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
        (issue,) = (UsageIssue(**item) for item in report["issues"])
        assert all(data["total"]["nodeHours"] == "0.00" for data in report["accounts"].values())
    assert (issue.kind, issue.record, issue.field) == ("malformed_entry", record, field)


def test_records_without_a_source_start_at_compute() -> None:
    agg = aggregator(policy="skip")
    agg.add_response(
        dwdi('{"compute": [{"account": "g1", "users": [{"username": "a", "nodeHours": null}]}]}')
    )

    (issue,) = agg.build_report(month="2026-11")["issues"]

    assert issue["record"] == "compute[0].users[0]"


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
    monkeypatch.setattr(usage, "MAX_ISSUES_KEPT", 5)
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

    assert agg.build_report(month="2026-11") == agg.build_report(month="2026-11")
    assert len(agg.build_report(month="2026-11")["issues"]) == 1


def test_a_bad_month_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        aggregator().build_report(month="2026-13")


def test_the_window_may_be_absent() -> None:
    assert aggregator().build_report(month="2026-11")["window"] is None


def test_at_least_one_component_is_needed() -> None:
    with pytest.raises(ConfigurationError):
        UsageAggregator(())


@pytest.mark.parametrize("policy", ["fail", "skip"])
def test_sums_that_cannot_be_exact_are_refused_under_any_policy(policy: str) -> None:
    body = '{"compute": [{"account": "g1", "users": [{"username": "a", "nodeHours": 1e60}, {"username": "a", "nodeHours": 1e-10}]}]}'

    with pytest.raises(UsageDataError, match="50 digits"):
        report_of(body, policy=policy)


# --------------------------------------------------------------------------- exactness


def expected_amount(values: list[str], factor: str = "1") -> str:
    """Independent computation: exact Decimal sum, times the factor, one half-up rounding."""
    with localcontext(prec=500):
        total = sum((Decimal(value) for value in values), Decimal(0))
        return str((total * Decimal(factor)).quantize(CENT, rounding=ROUND_HALF_UP))


@pytest.mark.parametrize(
    ("values", "factor", "expected"),
    [
        (["0.1"] * 1000, "1", "100.00"),  # a float sum gives 99.9999999999986
        (["0.1", "0.2"], "1", "0.30"),
        (["0.1", "0.025"], "1", "0.13"),  # 0.125 -> half up
        (["0.125"], "1", "0.13"),
        (["0.005"], "1", "0.01"),
        (["2.675"], "1", "2.68"),  # round(2.675, 2) == 2.67 with floats
        (["1.004", "1.004"], "1", "2.01"),  # rounded once after summing, not per row (2.00)
        (["0.004", "0.004"], "1", "0.01"),
        (["0.01"], "0.5", "0.01"),  # 0.005 after the factor -> half up
        (["0.125"], "3.6", "0.45"),
        (["0.1"] * 3, "3.6", "1.08"),
        (["1.0049999999999999"], "1", "1.00"),
        (["0.0000001"] * 50_000, "1", "0.01"),  # 0.005 from many tiny rows
        (["123456789.123456789", "0.000000001"], "0.5", "61728394.56"),
        # 50 significant digits times 0.5 needs 51: rounded at 50 digits it would become "0.01".
        (["0.00" + "9" * 50], "0.5", "0.00"),
        (["0.00" + "9" * 25, "0." + "0" * 27 + "9" * 25], "1", "0.01"),
    ],
)
def test_amounts_are_exact_and_rounded_half_up_once(values: list[str], factor: str, expected: str) -> None:
    components = {"nodeHours": {"measured_unit": "h", "unit_factor": factor}}
    rows = ", ".join(f'{{"username": "a", "nodeHours": {value}}}' for value in values)

    report = report_of(f'{{"compute": [{{"account": "g1", "users": [{rows}]}}]}}', components=components)

    assert expected_amount(values, factor) == expected
    assert report["accounts"]["g1"]["total"]["nodeHours"] == expected
    assert report["accounts"]["g1"]["users"]["a"]["nodeHours"] == expected


def random_value(rng: random.Random) -> str:
    scale = rng.randint(0, 9)
    return str(Decimal(rng.randint(0, 10**7)).scaleb(-scale))


@pytest.mark.parametrize("components", [NODE_ONLY, THREE], ids=["one component", "three components"])
def test_random_months_match_a_brute_force_decimal_sum(components: dict[str, Any]) -> None:
    rng = random.Random(20261123)
    configs = parse_backend_components(components)
    fields = [config.dwdi_field for config in configs]
    totals_fields = {
        config.dwdi_field: "total" + config.dwdi_field[0].upper() + config.dwdi_field[1:]
        for config in configs
    }
    accounts = [f"g{index:02d}" for index in range(25)]
    # Brute force: every value ever sent, kept (the aggregator keeps only sums).
    user_values: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    total_values: dict[tuple[str, str], list[str]] = defaultdict(list)
    bodies = []
    for _page in range(6):
        compute = []
        for _entry in range(rng.randint(5, 15)):
            account = rng.choice(accounts)
            users = []
            entry_sums: dict[str, list[str]] = defaultdict(list)
            for _row in range(rng.randint(0, 60)):
                username = f"u{rng.randint(0, 12)}"
                row: dict[str, Any] = {"username": username, "usageDate": "2026-11-02"}
                for field in fields:
                    if rng.random() < 0.8:
                        value = random_value(rng)
                        row[field] = Decimal(value) if rng.random() < 0.9 else int(Decimal(value))
                        entry_sums[field].append(str(row[field]))
                        user_values[(account, username, field)].append(str(row[field]))
                users.append(row)
            entry: dict[str, Any] = {
                "account": account,
                "cluster": rng.choice(["daint", "eiger"]),
                "users": users,
            }
            for field in fields:
                if rng.random() < 0.5:
                    # An explicit total, never below its users (else it would be an issue).
                    extra = random_value(rng) if rng.random() < 0.5 else "0"
                    explicit = sum((Decimal(v) for v in entry_sums[field]), Decimal(extra))
                    entry[
                        totals_fields[field] if rng.random() < 0.7 else "account" + totals_fields[field][5:]
                    ] = explicit
                    total_values[(account, field)].append(str(explicit))
                else:
                    total_values[(account, field)].extend(entry_sums[field])
            compute.append(entry)
        bodies.append({"compute": compute})

    report = report_of(*bodies, components=components, requested_accounts=accounts)

    assert report["issues"] == []
    for config in configs:
        for account in accounts:
            expected = expected_amount(total_values[(account, config.dwdi_field)], str(config.unit_factor))
            assert report["accounts"][account]["total"][config.type] == expected, (account, config.type)
    expected_users: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    for (account, username, field), values in user_values.items():
        config = next(config for config in configs if config.dwdi_field == field)
        expected_users[account][username][config.type] = expected_amount(values, str(config.unit_factor))
    for account in accounts:
        assert report["accounts"][account]["users"] == expected_users.get(account, {}), account
    assert report["counts"]["user_rows"] == sum(
        len(entry["users"]) for body in bodies for entry in body["compute"]
    )
