"""The drift audit's comparison: which values differ and their likely cause, decided without a server."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.alerts import drift_table
from airflow_provider_cscs_dwdi.core.audit import (
    CAUSE_BACKEND_ID_CHANGED,
    CAUSE_DWDI_REVISED,
    CAUSE_EDITED,
    CAUSE_EXTRA_USER,
    CAUSE_MISSING,
    PushedMonth,
    audit_month,
)
from airflow_provider_cscs_dwdi.core.audit_result import LISTED_LIMIT, AuditResult, Drift
from airflow_provider_cscs_dwdi.core.errors import ReportError
from airflow_provider_cscs_dwdi.core.report import UsageReport
from airflow_provider_cscs_dwdi.core.waldur_plan import build_write_plan
from tests.core.test_waldur_plan import COMPONENTS, make_report, resource, usage_row, user_row


def account(total: str, **users: str) -> dict[str, Any]:
    return {
        "total": {"nodeHours": total},
        "users": {name: {"nodeHours": amount} for name, amount in users.items()},
    }


def pushed(accounts: dict[str, Any]) -> PushedMonth:
    return PushedMonth(
        accounts=frozenset(accounts), report=make_report(accounts), archive="file:///a/1.jsonl.gz"
    )


def audit(
    now: UsageReport,
    *,
    resources: list[dict[str, str]],
    usages: list[dict[str, str]],
    users: list[dict[str, str]],
    last_push: PushedMonth | None,
) -> Any:
    plan = build_write_plan(
        now,
        resources=resources,
        offering_components=COMPONENTS,
        component_usages=usages,
        user_usages=users,
        reconcile=True,
    )
    return audit_month(now, plan, pushed=last_push)


def causes(result: Any) -> dict[tuple[str, str | None, str | None], str | None]:
    return {(d.backend_id, d.component, d.username): d.cause for d in result.drifts}


def test_waldur_holding_what_dwdi_says_is_clean() -> None:
    month = {"g1": account("10.00", alice="10.00")}

    result = audit(
        make_report(month),
        resources=[resource("r1", "g1")],
        usages=[usage_row("r1", "10.00")],
        users=[user_row("r1", "alice", "10.0")],
        last_push=pushed(month),
    )

    assert result.clean
    assert (result.resources, result.unchanged) == (1, 1)


def test_each_cause_is_named() -> None:
    was = {"g1": account("10.00", alice="10.00"), "g2": account("5.00", bob="5.00"), "g3": account("1.00")}
    now = {
        "g1": account("10.00", alice="10.00"),  # edited in Waldur
        "g2": account("6.00", bob="6.00"),  # revised by DWDI
        "g3": account("1.00"),  # never written to Waldur
    }
    result = audit(
        make_report(now),
        resources=[resource("r1", "g1"), resource("r2", "g2"), resource("r3", "g3")],
        usages=[usage_row("r1", "12.00", row_uuid="u1"), usage_row("r2", "5.00", row_uuid="u2")],
        users=[
            user_row("r1", "alice", "10.00"),
            user_row("r1", "mallory", "2.00"),  # nobody DWDI reports
            user_row("r2", "bob", "5.00"),
        ],
        last_push=pushed(was),
    )

    assert causes(result) == {
        ("g1", "nodeHours", None): CAUSE_EDITED,
        ("g1", "nodeHours", "mallory"): CAUSE_EXTRA_USER,
        ("g2", "nodeHours", None): CAUSE_DWDI_REVISED,
        ("g2", "nodeHours", "bob"): CAUSE_DWDI_REVISED,
        ("g3", "nodeHours", None): CAUSE_MISSING,
    }
    edited = next(d for d in result.drifts if d.backend_id == "g1" and d.username is None)
    assert (edited.dwdi, edited.waldur, edited.delta) == (
        Decimal("10.00"),
        Decimal("12.00"),
        Decimal("-2.00"),
    )
    extra = next(d for d in result.drifts if d.username == "mallory")
    assert (extra.dwdi, extra.waldur, extra.delta) == (None, Decimal("2.00"), Decimal("-2.00"))
    assert result.unchanged == 0


def test_a_renamed_backend_id_is_named_with_its_old_id() -> None:
    # g1 was pushed; the resource now carries g1-new, which DWDI has no usage for.
    result = audit(
        make_report({"g1-new": account("0.00")}),
        resources=[resource("r1", "g1-new")],
        usages=[usage_row("r1", "10.00")],
        users=[],
        last_push=pushed({"g1": account("10.00")}),
    )

    (drift,) = result.drifts
    assert drift.cause == f"{CAUSE_BACKEND_ID_CHANGED} (was g1)"
    assert (drift.dwdi, drift.waldur) == (Decimal("0.00"), Decimal("10.00"))


def test_without_the_push_archive_the_cause_of_a_different_value_is_unknown() -> None:
    result = audit(
        make_report({"g1": account("10.00")}),
        resources=[resource("r1", "g1")],
        usages=[usage_row("r1", "9.00")],
        users=[],
        last_push=None,
    )

    (drift,) = result.drifts
    assert drift.cause is None
    assert "unknown" in drift.cells()[-1]
    assert result.pushed_archive is None


def test_an_account_the_push_would_refuse_is_a_row_saying_why() -> None:
    result = audit(
        make_report({"g1": account("3.00")}),
        resources=[resource("r1", "g1"), resource("r2", "g1")],
        usages=[],
        users=[],
        last_push=None,
    )

    (drift,) = result.drifts
    assert (drift.backend_id, drift.component, drift.delta) == ("g1", None, None)
    assert drift.cause is not None
    assert drift.cause.startswith("not comparable: backend_id matches 2")


def test_table_has_a_header_and_aligned_rows() -> None:
    drift = Drift("2026-11", "g1", "r1", "nodeHours", "alice", Decimal("10"), Decimal("12.5"), CAUSE_EDITED)

    header, row = drift_table([drift])

    assert header.split()[:3] == ["month", "resource", "component"]
    assert row.split()[:7] == ["2026-11", "g1", "nodeHours", "alice", "10.00", "12.50", "-2.50"]
    assert row.index("value edited") == header.index("likely cause")


def test_result_round_trips_through_xcom_and_lists_at_most_the_limit() -> None:
    drifts = tuple(
        Drift("2026-11", f"g{index}", None, "nodeHours", None, Decimal("1.00"), None, CAUSE_MISSING)
        for index in range(LISTED_LIMIT + 5)
    )
    month = audit(
        make_report({"g1": account("1.00")}),
        resources=[resource("r1", "g1")],
        usages=[],
        users=[],
        last_push=None,
    )
    many = type(month)(**{**month.__dict__, "drifts": drifts})

    result = AuditResult.of([many], repair_month="2026-11", repair={"written": 0})
    doc = result.to_xcom()

    assert doc["clean"] is False
    assert doc["drift_count"] == LISTED_LIMIT + 5
    assert len(doc["drifts"]) == LISTED_LIMIT
    assert doc["drifts"][0]["dwdi"] == "1.00"
    assert doc["drifts"][0]["delta"] == "1.00"
    assert AuditResult.from_xcom(doc) == result


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (None, "audit result: expected an object, got nothing"),
        ({"schema_version": 9}, "schema_version: expected 1, got 9"),
        (
            {
                "schema_version": 1,
                "months": [],
                "drift_count": 1,
                "drifts": [{"month": "2026-11", "backend_id": "g1", "dwdi": "x"}],
            },
            r"drifts\[0\]: dwdi: expected a decimal string or null, got 'x'",
        ),
        # The wording of the hand-written reader the model replaced, field by field.
        (
            {"schema_version": 1, "months": "x", "drift_count": 0, "drifts": []},
            "months: expected a list of objects",
        ),
        ({"schema_version": 1, "months": [], "drift_count": 0, "drifts": {}}, "drifts: expected a list"),
        (
            {"schema_version": 1, "months": [], "drift_count": True, "drifts": []},
            "drift_count: expected int, got True",
        ),
        (
            {"schema_version": 1, "months": [], "drift_count": 0, "drifts": [], "repair": [1]},
            "repair: expected an object or null",
        ),
        (
            {"schema_version": 1, "months": [], "drift_count": 0, "drifts": [], "repair_month": 5},
            "repair_month: expected a string or null, got 5",
        ),
        (
            {"schema_version": 1, "months": [], "drift_count": 1, "drifts": [3]},
            r"drifts\[0\]: expected an object, got int",
        ),
        (
            {"schema_version": 1, "months": [], "drift_count": 1, "drifts": [{"backend_id": "g1"}]},
            r"drifts\[0\]: month: expected a string, got None",
        ),
        (
            {
                "schema_version": 1,
                "months": [],
                "drift_count": 1,
                "drifts": [{"month": "2026-11", "backend_id": "g1", "waldur": "Infinity"}],
            },
            r"drifts\[0\]: waldur: expected a decimal string or null, got 'Infinity'",
        ),
        (
            {
                "schema_version": 1,
                "months": [],
                "drift_count": 1,
                "drifts": [{"month": "2026-11", "backend_id": "g1", "dwdi": 1.5}],
            },
            r"drifts\[0\]: dwdi: expected a decimal string or null, got 1.5",
        ),
    ],
)
def test_a_bad_document_is_refused_naming_the_field(doc: Any, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        AuditResult.from_xcom(doc)


def test_drift_alert_names_offering_months_counts_and_first_rows_and_a_clean_audit_sends_none() -> None:
    from airflow_provider_cscs_dwdi.core.alerts import ALERT_ROWS, RunLabel, drift_message

    run = RunLabel("HPC", "0b8a", "cscs_dwdi_audit_hpc", "manual__1")
    clean = audit(
        make_report({"g1": account("1.00")}),
        resources=[resource("r1", "g1")],
        usages=[usage_row("r1", "1.00")],
        users=[],
        last_push=None,
    )
    assert drift_message(run, AuditResult.of([clean])) is None

    drifts = tuple(
        Drift("2026-11", f"g{index:02d}", None, "nodeHours", None, Decimal("1.00"), None, CAUSE_MISSING)
        for index in range(ALERT_ROWS + 3)
    )
    message = drift_message(run, AuditResult.of([type(clean)(**{**clean.__dict__, "drifts": drifts})]))

    assert message is not None
    assert message.subject == f"[cscs-dwdi] HPC 2026-11: drift found ({ALERT_ROWS + 3} difference(s))"
    assert "Offering: HPC (0b8a)" in message.body
    assert "2026-11: 1 resource(s) compared, 1 identical" in message.body
    assert "g19" in message.body
    assert "g20" not in message.body
    assert "... and 3 more" in message.body
