"""Push and audit against a Waldur double that pages like the real 7.0.7 server.

Waldur orders the user-usage listing by (date, component type) only, and its database returns
tied rows in a new order for every page: read page by page, a month of 1,000+ user usages comes
back with some rows twice and others never. The double does the same (``listing_seed``), so these
tests fail wherever a read is taken as complete without checking ``X-Result-Count``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.audit_result import AuditResult
from airflow_provider_cscs_dwdi.operators.audit import AuditWaldurOperator
from sandbox.waldur_server import WaldurSandbox
from tests.operators.support import (
    CONN_ID,
    Offering,
    RecordingTaskInstance,
    expected_totals,
    expected_users,
    make_report,
    push,
    this_month,
    usage_grid,
)

#: 11 resources of 110 users: 1,210 user usages, every resource's group of tied rows longer
#: than a page of 100 and none aligned with a page of 300.
ACCOUNTS, USERS = 11, 110


def audit(offering: Offering, report: dict[str, Any]) -> AuditResult:
    """The read-only audit of ``report``'s month (the audit DAG's ``audit_waldur`` task)."""
    operator = AuditWaldurOperator(
        task_id="audit_waldur",
        reports=[report],
        offering_uuid=offering.uuid,
        waldur_conn_id=CONN_ID,
        backend_components={"nodeHours": {"measured_unit": "node-hours", "label": "Node Hours"}},
    )
    ti = RecordingTaskInstance()
    try:
        return AuditResult.from_xcom(operator.execute({"ti": ti}))
    except Exception:
        return AuditResult.from_xcom(ti.pushed["return_value"])


@pytest.mark.parametrize("version", ["7", "8"])
def test_an_audit_right_after_a_push_of_1210_user_usages_is_clean_and_a_re_push_writes_0(
    make_waldur_sandbox: Callable[..., WaldurSandbox], seed: Callable[..., Offering], version: str
) -> None:
    # On 8.x every resource is written with the same date: all of them tie in both usage listings.
    sandbox = make_waldur_sandbox(version=version, today=date(2026, 11, 17), listing_seed=7)
    usage = usage_grid(accounts=ACCOUNTS, users=USERS)
    offering = seed(sandbox, usage, page_size=5)
    month = this_month(sandbox)
    report = make_report(month, usage)

    first, _ = push(offering, report)
    assert offering.users(month) == expected_users(usage)
    assert offering.totals(month) == expected_totals(usage)
    assert first["user_usages_written"] == ACCOUNTS * USERS

    result = audit(offering, report)
    assert [drift.to_json() for drift in result.drifts] == []
    assert result.clean

    sandbox.reset_requests()
    second, _ = push(offering, report)
    assert offering.posts() == []
    assert (second["written"], second["unchanged"], second["user_usages_written"]) == (0, ACCOUNTS, 0)
    assert sandbox.schema_violations == []


def test_a_resource_with_more_tied_user_usages_than_a_page_is_written_whole_and_not_compared(
    make_waldur_sandbox: Callable[..., WaldurSandbox], seed: Callable[..., Offering]
) -> None:
    sandbox = make_waldur_sandbox(version="7", today=date(2026, 11, 17), listing_seed=7)
    small = usage_grid(accounts=3, users=20)
    usage = {"big": {f"big_{number:03d}": "1.00" for number in range(350)}, **small}
    offering = seed(sandbox, usage)
    month = this_month(sandbox)
    report = make_report(month, usage)
    push(offering, report)
    sandbox.reset_requests()

    again, _ = push(offering, report, reconcile=True)

    assert offering.users(month) == expected_users(usage)
    # The 350 user usages of "big" are rewritten (idempotent upserts); the small ones are not.
    assert again["user_usages_written"] == 350
    assert [(issue["kind"], issue["backend_id"]) for issue in again["issues"]] == [
        ("unstable_listing", "big")
    ]
    assert "written without comparing" not in again["issues"][0]["message"]
    assert "not compared" in again["issues"][0]["message"]

    result = audit(offering, report)
    (row,) = result.drifts
    assert (row.backend_id, row.component, row.username) == ("big", None, None)
    assert row.cause is not None
    assert row.cause.startswith("not comparable: Waldur's listing is unstable")
    assert not result.clean
