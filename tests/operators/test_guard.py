"""The anomaly guard in the write path, against the Waldur sandbox: held values, and their approval.

A month is pushed, then pushed again with one account's total lower (``total_decrease``, held by
default) and another's higher (normal): the push writes the normal change only and leaves the held
one in XCom; ``ApproveHeldValuesOperator`` then writes exactly the held pair on Approve, nothing on
Reject or on a timeout, and records who decided.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from airflow_provider_cscs_dwdi.core.held import DECISION_KEY, HELD_KEY, HeldValues
from airflow_provider_cscs_dwdi.operators.approve import ApproveHeldValuesOperator
from airflow_provider_cscs_dwdi.operators.push import PushToWaldurOperator
from sandbox.waldur_server import WaldurSandbox
from tests.operators.support import CONN_ID, Offering, afternoon_of, make_report, this_month

GUARD = {"enabled": True}
BEFORE = {"g001": {"u1": "100.00", "u2": "50.00"}, "g002": {"u3": "10.00"}}
# g001 falls (held: total_decrease), g002 grows (written).
AFTER = {"g001": {"u1": "40.00", "u2": "50.00"}, "g002": {"u3": "12.50"}}


@dataclass
class TaskInstance:
    """A task instance whose XCom pulls answer from ``documents`` (task_id, key) -> value."""

    documents: dict[tuple[str, str], Any]
    pushed: dict[str, Any] = field(default_factory=dict)
    map_index: int = -1

    def xcom_pull(self, task_ids: str, map_indexes: int = -1, key: str = "return_value") -> Any:
        return self.documents.get((task_ids, key))

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def guarded_push(offering: Offering, report: dict) -> tuple[dict[str, Any], TaskInstance]:
    ti = TaskInstance({})
    operator = PushToWaldurOperator(
        task_id="push_to_waldur",
        report=report,
        offering_uuid=offering.uuid,
        waldur_conn_id=CONN_ID,
        clock=afternoon_of(offering.sandbox.today),
        anomaly_guard=GUARD,
    )
    return operator.execute({"ti": ti}), ti  # type: ignore[arg-type]


def held_push(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> tuple[Offering, dict, dict, TaskInstance]:
    offering = seed(waldur_sandbox, BEFORE)
    month = this_month(waldur_sandbox)
    guarded_push(offering, make_report(month, BEFORE))
    report = make_report(month, AFTER)
    result, ti = guarded_push(offering, report)
    return offering, report, result, ti


def approval(offering: Offering, **kwargs: Any) -> ApproveHeldValuesOperator:
    return ApproveHeldValuesOperator(
        task_id="approve_held_values",
        push_result={},
        offering_name="HPC",
        offering_uuid=offering.uuid,
        waldur_conn_id=CONN_ID,
        clock=afternoon_of(offering.sandbox.today),
        **kwargs,
    )


def approval_ti(push_ti: TaskInstance, report: dict) -> TaskInstance:
    """The approval's task instance: the push's held values and the report of the same month."""
    return TaskInstance(
        {("push_to_waldur", HELD_KEY): push_ti.pushed[HELD_KEY], ("aggregate_usage", "return_value"): report}
    )


def answered(option: str) -> dict[str, Any]:
    return {
        "chosen_options": [option],
        "params_input": {},
        "responded_at": datetime(2026, 12, 6, 9, 30, tzinfo=UTC),
        "responded_by_user": {"id": "7", "name": "reviewer"},
    }


def test_the_push_writes_what_is_normal_and_holds_the_decrease(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    offering, _, result, ti = held_push(waldur_sandbox, seed)
    month = this_month(waldur_sandbox)

    assert offering.totals(month) == {"g001": Decimal("150.00"), "g002": Decimal("12.50")}
    # Held: g001's total and its user u1 (u2 did not change).
    assert (result["written"], result["held"]) == (1, 2)
    assert [anomaly["check"] for anomaly in result["anomalies"]] == ["total_decrease"]
    held = HeldValues.from_xcom(ti.pushed[HELD_KEY])
    assert held.pairs == (("g001", "nodeHours"),)
    assert {(row.resource, row.user, row.waldur_now, row.dwdi_new) for row in held.rows} >= {
        ("g001", None, "150.00", "90.00"),
        ("g001", "u1", "100.00", "40.00"),
    }
    assert "| g001 | nodeHours | (total) | 150.00 | 90.00 |" in held.table()


def test_approve_writes_exactly_the_held_values_and_records_who(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    offering, report, _, push_ti = held_push(waldur_sandbox, seed)
    month = this_month(waldur_sandbox)
    waldur_sandbox.reset_requests()
    ti = approval_ti(push_ti, report)

    result = approval(offering).execute_complete({"ti": ti}, answered("Approve"))  # type: ignore[arg-type]

    assert offering.totals(month) == {"g001": Decimal("90.00"), "g002": Decimal("12.50")}
    assert offering.users(month)["g001"] == {"u1": Decimal("40.00"), "u2": Decimal("50.00")}
    assert result["written"] == 1
    assert ti.pushed[DECISION_KEY] == {
        "month": month,
        "decision": "approved",
        "by": "reviewer",
        "at": "2026-12-06T09:30:00+00:00",
        "written": 1,
    }


def test_reject_writes_nothing(waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]) -> None:
    offering, report, _, push_ti = held_push(waldur_sandbox, seed)
    month = this_month(waldur_sandbox)
    waldur_sandbox.reset_requests()
    ti = approval_ti(push_ti, report)

    approval(offering).execute_complete({"ti": ti}, answered("Reject"))  # type: ignore[arg-type]

    assert offering.posts() == []
    assert offering.totals(month)["g001"] == Decimal("150.00")
    assert ti.pushed[DECISION_KEY]["decision"] == "rejected"


def test_a_timeout_writes_nothing_and_fails_the_task(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    offering, report, _, push_ti = held_push(waldur_sandbox, seed)
    waldur_sandbox.reset_requests()
    ti = approval_ti(push_ti, report)
    timeout = {
        "error": "The Human-in-the-loop response timeout has passed without a response.",
        "error_type": "timeout",
    }

    with pytest.raises(AirflowFailException, match="nothing held was written"):
        approval(offering).execute_complete({"ti": ti}, timeout)  # type: ignore[arg-type]

    assert offering.posts() == []
    assert (ti.pushed[DECISION_KEY]["decision"], ti.pushed[DECISION_KEY]["by"]) == ("timed out", None)


def test_a_dry_run_approval_writes_nothing(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    offering, report, _, push_ti = held_push(waldur_sandbox, seed)
    waldur_sandbox.reset_requests()
    ti = approval_ti(push_ti, report)

    result = approval(offering, dry_run=True).execute_complete({"ti": ti}, answered("Approve"))  # type: ignore[arg-type]

    assert offering.posts() == []
    assert (result["dry_run"], result["changed"]) == (True, 1)


def test_approving_a_past_month_on_waldur_7_is_refused(
    make_waldur_sandbox: Callable[..., WaldurSandbox], seed: Callable[..., Offering]
) -> None:
    sandbox = make_waldur_sandbox(version="7")
    offering = seed(sandbox, BEFORE)
    report = make_report("2020-01", AFTER)
    held = HeldValues(month="2020-01", offering="HPC", pairs=(("g001", "nodeHours"),)).to_xcom()
    ti = TaskInstance({("push_to_waldur", HELD_KEY): held, ("aggregate_usage", "return_value"): report})

    with pytest.raises(AirflowException, match="2020-01"):
        approval(offering).execute_complete({"ti": ti}, answered("Approve"))  # type: ignore[arg-type]

    assert offering.posts() == []


def test_nothing_held_asks_nothing() -> None:
    operator = ApproveHeldValuesOperator(
        task_id="approve_held_values",
        push_result={
            "month": "2026-12",
            "dry_run": False,
            "changed": 0,
            "written": 0,
            "unchanged": 1,
            "skipped": 0,
            "failed": 0,
            "user_usages_written": 0,
            "issues": [],
            "failures": [],
        },
        offering_name="HPC",
        offering_uuid="0" * 32,
    )
    with pytest.raises(AirflowSkipException, match="Nothing held"):
        operator.execute({"ti": TaskInstance({})})  # type: ignore[arg-type]
