"""Answering the ``approve_held_values`` requests of a ``dag.test()`` run, in process (the demo and the tests).

``dag.test()`` leaves a Human-in-the-loop task parked in ``awaiting_input`` until a response is
recorded from outside. :func:`answering` runs a thread that waits for each request and answers it
through Airflow's own response handler (``update_hitl_detail`` of the core API's HITL routes,
called with a database session and a user, as the REST endpoint does), so the task resumes
exactly as it does when a person clicks in the UI. The REST API on a real scheduler is the
deployment test's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

APPROVAL_TASK_ID = "approve_held_values"
REVIEWER = "billing-reviewer"
#: The "answer" of nobody: the scheduler's timeout sweep resolves the request.
TIMEOUT = "timeout"
#: How many :func:`answering` blocks are open (``support.run`` answers only outside of one).
_open = [0]


def answering_open() -> bool:
    """Whether a test is answering approvals itself (an :func:`answering` block is open)."""
    return _open[0] > 0


@dataclass
class Answers:
    """What the thread saw: each request's subject and body, and the option it chose."""

    option: str | None
    requests: list[dict[str, Any]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def _pending() -> list[Any]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance)
            .where(
                TaskInstance.task_id == APPROVAL_TASK_ID,
                TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
            )
            .options(joinedload(TaskInstance.hitl_detail))
        ).all()
        return [
            (ti.dag_id, ti.run_id, ti.map_index, ti.hitl_detail.subject, ti.hitl_detail.body)
            for ti in tis
            if ti.hitl_detail is not None and not ti.hitl_detail.response_received
        ]


def _answer(dag_id: str, run_id: str, map_index: int, option: str) -> None:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.utils.session import create_session

    with create_session() as session:
        update_hitl_detail(
            dag_id=dag_id,
            dag_run_id=run_id,
            task_id=APPROVAL_TASK_ID,
            update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[option], params_input={}),
            user=SimpleAuthManagerUser(username=REVIEWER, role="admin"),
            session=session,
            map_index=map_index,
        )


def _time_out(dag_id: str, run_id: str, map_index: int) -> None:
    """Let the request's deadline pass and run the scheduler's own timeout sweep on it."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(
            update(TaskInstance)
            .where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == APPROVAL_TASK_ID,
                TaskInstance.map_index == map_index,
            )
            .values(trigger_timeout=datetime.now(UTC) - timedelta(seconds=1))
        )
    SchedulerJobRunner(job=Job()).check_awaiting_input_timeouts()


@contextmanager
def answering(option: str | None) -> Iterator[Answers]:
    """Answer every approval request of the runs inside with ``option`` (``Approve``/``Reject``;
    :data:`TIMEOUT`: nobody answers and the request's deadline passes).

    With ``option`` None a request is a test failure: it is rejected (so the run ends instead of
    waiting forever) and recorded in ``requests`` for the test to assert on.
    """
    answers = Answers(option)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                for dag_id, run_id, map_index, subject, body in _pending():
                    answers.requests.append({"subject": subject, "body": body, "map_index": map_index})
                    if option == TIMEOUT:
                        _time_out(dag_id, run_id, map_index)
                    else:
                        _answer(dag_id, run_id, map_index, option or "Reject")
            except Exception as error:  # shown by the test, not lost in the thread
                answers.errors.append(error)
            time.sleep(0.5)

    thread = threading.Thread(target=loop, name="approval-answers", daemon=True)
    thread.start()
    _open[0] += 1
    try:
        yield answers
    finally:
        _open[0] -= 1
        stop.set()
        thread.join(timeout=10)
