"""End to end against a Waldur server that ignores the usage ``date`` (Waldur 7.x double).

Such a server files every write under the current month, so a past month must never be pushed:
the run at 00:00 on the 1st (which plans only the month just closed) ends without a failed task
and says what was lost, an explicit past month is refused before DWDI is asked, and a dry run of
a past month shows its plan and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from airflow_provider_cscs_dwdi.core.months import previous_month
from sandbox.airflow_runs import xcom_results
from sandbox.stack import SandboxStack
from tests.e2e.support import UTC, month_of, run, writes
from tests.fixtures.airflow_env import task_states

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


@pytest.fixture
def waldur_7(make_stack: Callable[..., SandboxStack]) -> SandboxStack:
    stack = make_stack(waldur_version="7")
    assert stack.dwdi is not None
    return stack


def failed_tasks(dag_run: object) -> dict[str, str]:
    return {
        task: state for task, state in task_states(dag_run).items() if state in {"failed", "upstream_failed"}
    }


def test_the_run_at_midnight_on_the_first_ends_without_failure_and_says_the_month_is_lost(
    waldur_7: SandboxStack, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    first = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    closed = previous_month(month_of(first))
    caplog.set_level("WARNING")

    dag_run = run(waldur_7, first)

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert failed_tasks(dag_run) == {}
    # Mapped over no month: Airflow marks the unexpanded mapped tasks skipped.
    assert task_states(dag_run) == {
        "list_backend_ids": "success",
        "billing_months": "success",
        "fetch_usage": "skipped",
        "aggregate_usage": "skipped",
        "push_to_waldur": "skipped",
        "approve_held_values": "skipped",
    }
    assert xcom_results(dag_run, "billing_months") == [[]]
    assert xcom_results(dag_run, "push_to_waldur") == []
    assert writes(waldur_7) == []
    assert waldur_7.dwdi is not None
    assert waldur_7.dwdi.requests == []
    captured = capfd.readouterr()
    log = captured.out + captured.err + caplog.text
    assert f"{closed} can no longer be written to this Waldur server, which ignores the usage date" in log
    assert f"the last 24 hours of {closed}" in log  # billing_timezone UTC: no DST


def test_an_explicit_past_month_fails_billing_months_before_dwdi_is_asked(waldur_7: SandboxStack) -> None:
    month = previous_month(month_of(datetime.now(UTC)))

    dag_run = run(waldur_7, datetime.now(UTC), month=month)

    states = task_states(dag_run)
    assert str(dag_run.state) == "failed", states
    assert states["billing_months"] == "failed"
    assert states["list_backend_ids"] == "success"
    assert waldur_7.dwdi is not None
    assert waldur_7.dwdi.requests == []
    assert writes(waldur_7) == []


def test_a_dry_run_of_a_past_month_shows_its_plan_and_writes_nothing(
    waldur_7: SandboxStack, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    month = previous_month(month_of(datetime.now(UTC)))
    caplog.set_level("INFO")

    dag_run = run(waldur_7, datetime.now(UTC), month=month, dry_run=True)

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert writes(waldur_7) == []
    [result] = xcom_results(dag_run, "push_to_waldur")
    assert (result["month"], result["dry_run"], result["written"]) == (month, True, 0)
    assert result["changed"] == len(waldur_7.seeded[0].accounts)
    captured = capfd.readouterr()
    log = captured.out + captured.err + caplog.text
    assert f"Dry run of {month}: planned in full, but a real run would be refused" in log
    assert "DRY RUN, would write: " in log
