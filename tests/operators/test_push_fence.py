"""The push's fence against the Waldur double: an orphaned try stops before its next write.

An orphan is a task process whose supervisor died with its worker: its task SDK calls fail. The
real-Airflow path (the scheduler moving the task instance on) is in
tests/e2e/test_one_push_at_a_time.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_cscs_dwdi.operators import _fence
from airflow_provider_cscs_dwdi.operators._fence import LiveTryFence, NotTheLiveTryError
from airflow_provider_cscs_dwdi.operators.push import PushToWaldurOperator
from sandbox.waldur_server import WaldurSandbox
from tests.operators.support import (
    CONN_ID,
    Offering,
    RecordingTaskInstance,
    afternoon_of,
    make_report,
    this_month,
    usage_grid,
)

SET_USAGE = "/api/marketplace-component-usages/set_usage/"


@dataclass
class TaskInstanceLosingItsSupervisor(RecordingTaskInstance):
    """Answers ``running`` ``live_answers`` times, then fails like a call to a dead supervisor."""

    live_answers: int = 0
    dag_id: str = "cscs_dwdi_usage_hpc"
    run_id: str = "scheduled__2026-11-30T00:00:00+00:00"
    task_id: str = "push_to_waldur"
    map_index: int = 0
    asked: int = 0

    def get_task_states(self, **query: Any) -> dict[str, dict[str, str]]:
        self.asked += 1
        assert query == {
            "dag_id": self.dag_id,
            "task_ids": [self.task_id],
            "run_ids": [self.run_id],
            "map_index": self.map_index,
        }
        if self.asked > self.live_answers:
            raise BrokenPipeError(32, "Broken pipe")
        return {self.run_id: {f"{self.task_id}_{self.map_index}": "running"}}


def test_an_orphaned_push_stops_before_its_next_write_and_says_why(
    waldur_sandbox: WaldurSandbox,
    seed: Callable[..., Offering],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    usage = usage_grid(accounts=6, users=1)
    offering = seed(waldur_sandbox, usage, write_concurrency=1)
    monkeypatch.setattr(_fence, "DEFAULT_RECHECK_AFTER_SECONDS", 0.0)  # every write asks
    ti = TaskInstanceLosingItsSupervisor(live_answers=2)
    operator = PushToWaldurOperator(
        task_id="push_to_waldur",
        report=make_report(this_month(waldur_sandbox), usage),
        offering_uuid=offering.uuid,
        waldur_conn_id=CONN_ID,
        # The first hours of a month cannot be dated for Waldur (the push then writes nothing, by
        # design); the fence is what this test is about, so the clock stands in the afternoon.
        clock=afternoon_of(waldur_sandbox.today),
    )

    with pytest.raises(AirflowException) as raised:
        operator.execute({"ti": ti})  # type: ignore[arg-type]
    message = str(raised.value)

    assert offering.posts() == [SET_USAGE, SET_USAGE]
    assert ti.asked == 3
    assert "stopped before its next write: this try cannot reach its Airflow supervisor" in message
    assert "(BrokenPipeError)" in message


def test_a_running_answer_is_trusted_for_the_window_then_asked_again() -> None:
    now = [100.0]
    answers = iter(["running", "running", "up_for_retry"])
    fence = LiveTryFence(lambda: next(answers), recheck_after_seconds=1.0, clock=lambda: now[0])

    fence.check()
    now[0] += 0.5
    fence.check()  # trusted: no question
    now[0] += 0.6
    fence.check()  # window over: asked again, still running
    now[0] += 1.0
    with pytest.raises(NotTheLiveTryError, match="it is 'up_for_retry'"):
        fence.check()

    assert fence.checks == 3
