"""One push of a month at a time: the push's fence, through real Airflow (``dag.test()``).

The fence asks the task SDK, before each Waldur write, whether Airflow still holds the push's
task instance as running (docs/one-push-at-a-time.md). Here Airflow moves the task instance on
in the middle of the push, the way the scheduler does when a worker's heartbeats stop, and the
push must not send one more write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.operators import _fence
from sandbox.airflow_runs import xcom_results
from sandbox.stack import SandboxStack
from tests.e2e.support import UTC, last_month, run, task_log
from tests.fixtures.airflow_env import task_states

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

SET_USAGE = "/api/marketplace-component-usages/set_usage/"
WRITES_BEFORE_THE_SCHEDULER_MOVES_ON = 3


def mark_push_up_for_retry(dag_id: str) -> None:
    """What the scheduler does to a task instance whose heartbeats stopped (worker lost)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import update

    with create_session() as session:
        session.execute(
            update(TaskInstance)
            .where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.task_id == "push_to_waldur",
                TaskInstance.state == TaskInstanceState.RUNNING,
            )
            .values(state=TaskInstanceState.UP_FOR_RETRY)
        )


def test_a_push_airflow_no_longer_holds_as_running_stops_before_its_next_write(
    make_stack: Callable[..., SandboxStack],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = make_stack(accounts=10)
    dag_id = f"cscs_dwdi_usage_{stack.seeded[0].config.slug}"
    # One write at a time, and every write fenced (no trusted window): the count is exact.
    connection = {
        **stack.waldur_connection(),
        "extra": {"usage_date_support": "auto", "write_concurrency": 1},
    }
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{stack.seeded[0].config.waldur_conn_id.upper()}", json.dumps(connection)
    )
    monkeypatch.setattr(_fence, "DEFAULT_RECHECK_AFTER_SECONDS", 0.0)
    answer = stack.waldur._answer_http
    set_usage_calls = 0

    def answer_then_move_on(method: str, path: str, *args: Any) -> Any:
        nonlocal set_usage_calls
        reply = answer(method, path, *args)
        if method == "POST" and path == SET_USAGE:
            set_usage_calls += 1
            if set_usage_calls == WRITES_BEFORE_THE_SCHEDULER_MOVES_ON:
                mark_push_up_for_retry(dag_id)
        return reply

    monkeypatch.setattr(stack.waldur, "_answer_http", answer_then_move_on)

    dag_run = run(stack, datetime.now(UTC), month=last_month())

    assert task_states(dag_run)["push_to_waldur[0]"] != "success"
    assert xcom_results(dag_run, "push_to_waldur") == []
    writes = [request for request in stack.waldur.requests if request.method == "POST"]
    assert [request.path for request in writes] == [SET_USAGE] * WRITES_BEFORE_THE_SCHEDULER_MOVES_ON
    log = task_log(capfd, caplog)
    assert "stopped before its next write: Airflow no longer holds this task instance as running" in log
    assert "'up_for_retry'" in log
