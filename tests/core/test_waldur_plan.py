"""The write plan: what the push sends to Waldur, decided without a server."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.errors import ReportError
from airflow_provider_cscs_dwdi.core.report import UsageReport
from airflow_provider_cscs_dwdi.core.waldur_plan import (
    DEFAULT_MAX_USAGE_AMOUNT,
    AmountChange,
    UnstorableAmountError,
    UserUsageChange,
    build_write_plan,
    describe_plan,
    set_usage_items,
    user_usage_items,
)
from airflow_provider_cscs_dwdi.core.waldur_state import index_resources, resources_on_several_pages

COMPONENTS = [
    {"type": "nodeHours", "billing_type": "usage", "measured_unit": "node-hours"},
    {"type": "storage", "billing_type": "fixed", "measured_unit": "TB"},
]


def make_report(accounts: dict[str, Any], components: tuple[str, ...] = ("nodeHours",)) -> UsageReport:
    """A report as the push reads it; built directly, so amounts the validation refuses reach the plan."""
    return UsageReport(
        month="2026-11",
        window=None,
        policy="fail",
        components={name: {"unit_factor": "1"} for name in components},
        accounts=accounts,
        issues=(),
        counts={},
    )


def resource(uuid: str, backend_id: str) -> dict[str, str]:
    return {"uuid": uuid, "backend_id": backend_id, "name": f"Allocation {backend_id}", "state": "OK"}


def usage_row(
    resource_uuid: str, amount: str, *, row_uuid: str = "row-1", type_: str = "nodeHours"
) -> dict[str, str]:
    return {"uuid": row_uuid, "resource_uuid": resource_uuid, "type": type_, "usage": amount}


def user_row(resource_uuid: str, username: str, amount: str) -> dict[str, str]:
    return {
        "resource_uuid": resource_uuid,
        "component_type": "nodeHours",
        "username": username,
        "usage": amount,
    }


def plan_for(report: UsageReport, **state: Any) -> Any:
    state.setdefault("resources", [resource("r1", "g207")])
    state.setdefault("offering_components", COMPONENTS)
    state.setdefault("component_usages", [])
    return build_write_plan(report, **state)


def test_a_fresh_month_writes_every_total_and_user() -> None:
    report = make_report(
        {"g207": {"total": {"nodeHours": "12.50"}, "users": {"alice": {"nodeHours": "12.50"}}}}
    )

    plan = plan_for(report)

    (only,) = plan.changed
    assert only.total_changes == (AmountChange("nodeHours", None, Decimal("12.50")),)
    assert only.user_changes == (UserUsageChange("nodeHours", "alice", None, Decimal("12.50")),)
    assert set_usage_items(only) == [{"type": "nodeHours", "amount": "12.50"}]


def test_values_equal_as_decimals_are_unchanged() -> None:
    report = make_report(
        {"g207": {"total": {"nodeHours": "10.50"}, "users": {"alice": {"nodeHours": "10.50"}}}}
    )

    plan = plan_for(
        report,
        component_usages=[usage_row("r1", "10.5")],
        user_usages=[user_row("r1", "alice", "10.500")],
    )

    assert plan.changed == ()
    assert [r.backend_id for r in plan.unchanged] == ["g207"]
    assert describe_plan(plan) == []


def test_changed_total_is_described_old_to_new() -> None:
    report = make_report({"g207": {"total": {"nodeHours": "12.50"}, "users": {}}})

    plan = plan_for(report, component_usages=[usage_row("r1", "10.00")])

    assert describe_plan(plan) == ["g207 nodeHours 10.00 -> 12.50"]
    assert plan.changed[0].component_usage_uuids == {"nodeHours": "row-1"}


def alice_4_bob_5() -> UsageReport:
    """g207's 9.00 node-hours: alice 4.00, bob 5.00."""
    return make_report(
        {
            "g207": {
                "total": {"nodeHours": "9.00"},
                "users": {"alice": {"nodeHours": "4.00"}, "bob": {"nodeHours": "5.00"}},
            }
        }
    )


def test_only_changed_users_are_written() -> None:
    plan = plan_for(
        alice_4_bob_5(),
        component_usages=[usage_row("r1", "9.00")],
        user_usages=[user_row("r1", "alice", "4.00"), user_row("r1", "bob", "3.00")],
    )

    (only,) = plan.changed
    assert only.total_changes == ()
    assert only.user_changes == (UserUsageChange("nodeHours", "bob", Decimal("3.00"), Decimal("5.00")),)
    assert describe_plan(plan) == ["g207 nodeHours user bob 3.00 -> 5.00"]


@pytest.mark.parametrize(("reconcile", "expected"), [(False, ()), (True, (("carol", Decimal("2.00")),))])
def test_users_gone_from_dwdi_are_zeroed_only_when_reconciling(
    reconcile: bool, expected: tuple[tuple[str, Decimal], ...]
) -> None:
    report = make_report(
        {"g207": {"total": {"nodeHours": "4.00"}, "users": {"alice": {"nodeHours": "4.00"}}}}
    )

    plan = plan_for(
        report,
        component_usages=[usage_row("r1", "4.00")],
        user_usages=[
            user_row("r1", "alice", "4.00"),
            user_row("r1", "carol", "2.00"),
            user_row("r1", "dan", "0"),
        ],
        reconcile=reconcile,
    )

    changes = plan.resources[0].user_changes
    assert tuple((c.username, c.old) for c in changes) == expected
    assert all(c.new == Decimal("0.00") for c in changes)


def test_blank_and_duplicate_backend_ids_are_reported_not_guessed() -> None:
    index = index_resources(
        [resource("r1", "g1"), resource("r2", ""), resource("r3", "g2"), resource("r4", "g2")]
    )

    assert set(index.unique) == {"g1"}
    assert index.duplicates == {"g2": ("r3", "r4")}
    assert sorted(issue.kind for issue in index.issues) == ["blank_backend_id", "duplicate_backend_id"]


def test_account_with_duplicated_backend_id_is_refused() -> None:
    report = make_report({"g2": {"total": {"nodeHours": "1.00"}, "users": {}}})

    plan = plan_for(report, resources=[resource("r3", "g2"), resource("r4", "g2")])

    assert plan.resources == ()
    assert [(r.backend_id, r.reason) for r in plan.refused] == [
        ("g2", "backend_id matches 2 Waldur resources")
    ]
    assert describe_plan(plan) == ["g2 NOT WRITTEN: backend_id matches 2 Waldur resources"]


def test_account_without_resource_is_refused_when_it_has_usage_and_skipped_when_zero() -> None:
    report = make_report(
        {
            "g9": {"total": {"nodeHours": "3.00"}, "users": {}},
            "g8": {"total": {"nodeHours": "0.00"}, "users": {}},
        }
    )

    plan = plan_for(report, resources=[])

    assert [r.backend_id for r in plan.refused] == ["g9"]
    assert plan.skipped == ("g8",)
    assert [issue.kind for issue in plan.issues] == ["no_waldur_resource"]


def test_components_the_offering_does_not_meter_are_issues_and_never_sent() -> None:
    report = make_report(
        {"g207": {"total": {"nodeHours": "1.00", "gpuHours": "2.00", "storage": "3.00"}, "users": {}}},
        components=("nodeHours", "gpuHours", "storage"),
    )

    plan = plan_for(report)

    assert set_usage_items(plan.changed[0]) == [{"type": "nodeHours", "amount": "1.00"}]
    assert sorted(issue.kind for issue in plan.issues) == ["component_not_reportable", "unknown_component"]


def test_negative_amounts_are_refused() -> None:
    report = make_report(
        {"g207": {"total": {"nodeHours": "1.00"}, "users": {"alice": {"nodeHours": "-1.00"}}}}
    )

    plan = plan_for(report)

    assert plan.resources == ()
    assert plan.refused[0].resource_uuid == "r1"
    assert "user alice nodeHours -1.00" in plan.refused[0].reason


def test_two_usage_rows_for_one_component_refuse_the_resource() -> None:
    report = make_report({"g207": {"total": {"nodeHours": "1.00"}, "users": {}}})

    plan = plan_for(
        report, component_usages=[usage_row("r1", "1.00"), usage_row("r1", "2.00", row_uuid="row-2")]
    )

    assert [r.backend_id for r in plan.refused] == ["g207"]
    assert [issue.kind for issue in plan.issues] == ["duplicate_component_usage"]


@pytest.mark.parametrize("bad", ["1.005", "abc", 1.5, True, None, "NaN"])
def test_a_bad_report_amount_is_a_report_error_naming_its_path(bad: Any) -> None:
    report = make_report({"g207": {"total": {"nodeHours": bad}, "users": {}}})

    with pytest.raises(ReportError, match=r"accounts\.g207\.total\.nodeHours"):
        plan_for(report)


def test_user_items_link_known_offering_users_and_keep_the_others_unlinked() -> None:
    changes = [
        UserUsageChange("nodeHours", "alice", None, Decimal("1.5")),
        UserUsageChange("nodeHours", "bob", Decimal("1"), Decimal("0")),
    ]

    items = user_usage_items(changes, {"alice": "http://waldur/api/marketplace-offering-users/1/"})

    assert items == [
        {"username": "alice", "usage": "1.50", "user": "http://waldur/api/marketplace-offering-users/1/"},
        {"username": "bob", "usage": "0.00"},
    ]


@pytest.mark.parametrize("usage_kind", ["storage", "inference"])
def test_storage_and_inference_never_touch_user_usages_even_when_reconciling(usage_kind: str) -> None:
    report = replace(
        make_report({"g207": {"total": {"nodeHours": "4.00"}, "users": {}}}), usage_kind=usage_kind
    )

    plan = plan_for(
        report,
        component_usages=[usage_row("r1", "3.00")],
        user_usages=[user_row("r1", "carol", "2.00")],
        reconcile=True,
    )

    (only,) = plan.changed
    assert only.total_changes == (AmountChange("nodeHours", Decimal("3.00"), Decimal("4.00")),)
    assert only.user_changes == ()


def test_compute_reconcile_still_zeroes_users_where_storage_would_not() -> None:
    report = make_report({"g207": {"total": {"nodeHours": "4.00"}, "users": {}}})

    plan = plan_for(
        report,
        component_usages=[usage_row("r1", "4.00")],
        user_usages=[user_row("r1", "carol", "2.00")],
        reconcile=True,
    )

    assert [(c.username, c.new) for c in plan.resources[0].user_changes] == [("carol", Decimal("0.00"))]


def test_accounts_without_storage_data_are_not_written_and_are_described() -> None:
    report = replace(
        make_report({"g207": {"total": {"nodeHours": "1.00"}, "users": {}}}),
        usage_kind="storage",
        without_data=("g208",),
    )

    plan = plan_for(report, resources=[resource("r1", "g207"), resource("r2", "g208")])

    assert [r.backend_id for r in plan.resources] == ["g207"]
    assert plan.without_data == ("g208",)
    assert "g208 NOT WRITTEN: no storage data from DWDI for the month" in describe_plan(plan)


@pytest.mark.parametrize("policy", ["fail", "skip"])
def test_a_total_waldur_cannot_store_refuses_the_whole_plan_under_both_policies(policy: str) -> None:
    report = replace(
        make_report(
            {
                "g1": {"total": {"nodeHours": "1000000000000.00"}, "users": {}},
                "g2": {"total": {"nodeHours": "5.00"}, "users": {}},
            }
        ),
        policy=policy,
        components={"nodeHours": {"unit_factor": "1", "measured_unit": "TB", "dwdi_field": "spaceUsed"}},
    )

    with pytest.raises(UnstorableAmountError) as refused:
        plan_for(report, resources=[resource("r1", "g1"), resource("r2", "g2")], offering="offering Capstor")

    message = str(refused.value)
    assert "Nothing of 2026-11 was written to offering Capstor" in message
    assert "above 999999999999.99" in message
    assert "resource g1, component nodeHours: 1000000000000.00 TB" in message
    assert "DWDI field spaceUsed x unit_factor 1" in message
    assert "bytes with unit_factor 1" in message
    assert len(refused.value.lines) == 1  # g2 is fine and not named


def test_the_largest_amount_waldur_stores_is_planned_and_the_ceiling_is_configurable() -> None:
    report = make_report({"g1": {"total": {"nodeHours": str(DEFAULT_MAX_USAGE_AMOUNT)}, "users": {}}})

    plan = plan_for(report, resources=[resource("r1", "g1")])
    with pytest.raises(UnstorableAmountError, match=r"above 1000\.00"):
        plan_for(report, resources=[resource("r1", "g1")], max_usage_amount=Decimal("1000.00"))

    assert set_usage_items(plan.changed[0]) == [{"type": "nodeHours", "amount": "999999999999.99"}]


def test_user_usages_read_incompletely_are_all_written_and_reconcile_zeroes_only_those_seen() -> None:
    plan = plan_for(
        alice_4_bob_5(),
        component_usages=[usage_row("r1", "9.00")],
        # alice is as DWDI says, carol is not in DWDI; others may exist that the read missed.
        user_usages=[user_row("r1", "alice", "4.00"), user_row("r1", "carol", "2.00")],
        reconcile=True,
        incomplete_user_usages={"r1": "Waldur's listing is unstable: nodeHours: 300 of 350"},
    )

    (only,) = plan.changed
    assert only.users_not_compared == "Waldur's listing is unstable: nodeHours: 300 of 350"
    assert [(c.username, c.old, c.new) for c in only.user_changes] == [
        ("alice", Decimal("4.00"), Decimal("4.00")),
        ("bob", None, Decimal("5.00")),
        ("carol", Decimal("2.00"), Decimal("0.00")),
    ]
    (issue,) = plan.issues
    assert issue.kind == "unstable_listing"
    assert issue.account == "g207"
    assert "not compared" in issue.message


def test_tied_rows_on_several_pages_name_their_resources() -> None:
    def row(resource_uuid: str, date: str) -> dict[str, str]:
        return {"resource_uuid": resource_uuid, "date": date, "component_type": "nodeHours"}

    pages = [
        [row("r1", "2026-11-03"), row("r2", "2026-11-02")],
        [row("r2", "2026-11-02"), row("r3", "2026-11-01")],
        [row("r4", "2026-10-31")],
    ]

    assert resources_on_several_pages(pages) == {"r2"}
