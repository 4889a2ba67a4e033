"""UsageAggregator: DWDI compute responses -> exact totals and per-user usage (well-formed data)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.issues import Issue
from tests.core.usage_support import THREE, brief, failure_of, report_of


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
        (issue,) = (Issue.from_json(item, "issue") for item in report["issues"])
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
