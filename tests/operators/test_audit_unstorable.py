"""The read-only audit of a month whose DWDI totals Waldur cannot store: reported, and the audit goes on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_cscs_dwdi.core.audit import AuditResult
from airflow_provider_cscs_dwdi.operators.audit import AuditWaldurOperator
from sandbox.waldur_server import WaldurSandbox
from tests.operators.support import (
    CONN_ID,
    Offering,
    RecordingTaskInstance,
    make_report,
    previous_month,
    push,
    this_month,
    usage_grid,
)


def test_a_month_above_max_usage_amount_is_not_comparable_and_the_later_months_are_audited(
    make_waldur_sandbox: Callable[..., WaldurSandbox], seed: Callable[..., Offering]
) -> None:
    sandbox = make_waldur_sandbox(version="8", today=date(2026, 11, 17))
    usage = usage_grid(accounts=2, users=2)
    offering = seed(sandbox, usage, max_usage_amount="100.00")
    current = this_month(sandbox)
    push(offering, make_report(current, usage))
    too_large = {"g000": {"user000_00": "150.00"}, "g001": {"user001_00": "1.00"}}
    sandbox.reset_requests()
    operator = AuditWaldurOperator(
        task_id="audit_waldur",
        reports=[make_report(previous_month(current), too_large), make_report(current, usage)],
        offering_uuid=offering.uuid,
        waldur_conn_id=CONN_ID,
        backend_components={"nodeHours": {"measured_unit": "node-hours", "label": "Node Hours"}},
    )
    ti = RecordingTaskInstance()

    with pytest.raises(AirflowException, match="Drift"):
        operator.execute({"ti": ti})

    result = AuditResult.from_xcom(ti.pushed["return_value"])
    assert [(month["month"], month["drifts"]) for month in result.months] == [
        (previous_month(current), 1),
        (current, 0),
    ]
    (row,) = result.drifts
    assert (row.month, row.backend_id, row.component, row.dwdi, row.waldur) == (
        previous_month(current),
        "g000",
        None,
        None,
        None,
    )
    assert row.cause == (
        "not comparable: DWDI's nodeHours total 150.00 is above max_usage_amount 100.00, the most "
        "Waldur can store: the month cannot be pushed or repaired until it is corrected (is the "
        "component's unit_factor right?)"
    )
    # The month that cannot be written is not read either; the other one is.
    listed = {r.path for r in sandbox.requests}
    assert "/api/marketplace-component-usages/" in listed
    assert all(r.method == "GET" for r in sandbox.requests)
