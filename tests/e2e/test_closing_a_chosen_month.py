"""End to end: the closing DAG triggered with a chosen month, by ``dag.test()`` against the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.months import previous_month
from airflow_provider_cscs_dwdi.dag_factory import CLOSING_DAG_ID_PREFIX, load_dags_from_env
from sandbox.airflow_runs import xcom_results
from sandbox.stack import SandboxStack
from tests.e2e.support import assert_waldur_holds_dwdi_totals, month_of, writes
from tests.fixtures.airflow_env import task_states

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def _closing_dag(stack: SandboxStack) -> Any:
    dag = load_dags_from_env()[CLOSING_DAG_ID_PREFIX + stack.seeded[0].config.slug]
    for task in dag.tasks:
        task.retries = 0
    return dag


def test_a_close_triggered_with_a_month_writes_that_month_only(stack: SandboxStack) -> None:
    now = datetime.now(UTC)
    # Two months back: not the month the run's logical date (now) would close.
    chosen = previous_month(previous_month(month_of(now)))

    dag_run = _closing_dag(stack).test(logical_date=now, run_conf={"month": chosen})

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert xcom_results(dag_run, "billing_months") == [[chosen]]
    assert [result["month"] for result in xcom_results(dag_run, "push_to_waldur")] == [chosen]
    assert_waldur_holds_dwdi_totals(stack, chosen)
    periods = {request.json["date"][:7] for request in writes(stack) if request.path.endswith("set_usage/")}
    assert periods == {chosen}


def test_a_close_of_a_month_that_has_not_ended_fails_saying_so_and_writes_nothing(
    stack: SandboxStack,
) -> None:
    current = month_of(datetime.now(UTC))

    dag_run = _closing_dag(stack).test(logical_date=datetime.now(UTC), run_conf={"month": current})

    states = task_states(dag_run)
    assert states["billing_months"] == "failed", states
    assert writes(stack) == []
