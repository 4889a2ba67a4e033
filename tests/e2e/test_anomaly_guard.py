"""The anomaly guard end to end: the daily DAG under ``dag.test()`` against the sandbox.

Each scenario pushes a month as it is, then changes what DWDI says (a cluster missing, a
``unit_factor`` typo, a storage path renamed) and runs the DAG again. The push writes what is not
anomalous and holds the rest; ``approve_held_values`` asks for approval, which the test answers
in process (``sandbox/approvals.py``) and Waldur is checked afterwards. A normal month of
every usage kind raises nothing and asks nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.airflow_runs import xcom_results
from sandbox.approvals import REVIEWER, TIMEOUT, Answers, answering
from sandbox.expected import expected_compute
from sandbox.stack import SandboxStack, differences
from tests.e2e.support import (
    month_of,
    month_to_date_instant,
    operators_clock_at,
    run,
    run_month_to_date,
    writes,
)
from tests.e2e.test_alerts import ALERTS_CONN_ID, RECIPIENT, assert_no_secret
from tests.e2e.test_inference_pipeline import INFERENCE_OFFERING
from tests.e2e.test_storage_pipeline import STORAGE_OFFERING
from tests.fixtures.airflow_env import task_states
from tests.fixtures.smtp_server import SmtpServer

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

APPROVAL = "approve_held_values"
PUSH = "push_to_waldur"


def states_of(dag_run: Any, task_id: str) -> set[str]:
    return {state for task, state in task_states(dag_run).items() if task.startswith(task_id)}


def xcoms(dag_run: Any, task_id: str, key: str) -> list[Any]:
    """The ``key`` XComs of ``task_id`` in ``dag_run``, by map index."""
    return xcom_results(dag_run, task_id, key)


def reconfigure(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the offering in the offerings file the DAGs are built from (next run reads it)."""
    config_file = tmp_path / "offerings.yaml"
    document = yaml.safe_load(config_file.read_text())
    change(document["offerings"][0])
    config_file.write_text(yaml.safe_dump(document))


def rerun_month_to_date(stack: SandboxStack, answer: str | None, minutes: int = 1) -> tuple[Any, Answers]:
    """The sandbox day's run once more (``minutes`` later), answering approvals with ``answer``."""
    now = month_to_date_instant(stack) + timedelta(minutes=minutes)
    with operators_clock_at(now), answering(answer) as answers:
        dag_run = run(stack, now)
    assert answers.errors == []
    return dag_run, answers


def assert_normal_month(dag_run: Any) -> None:
    """No anomaly found, nothing held, no approval asked."""
    for result in xcom_results(dag_run, PUSH):
        assert (result["held"], result["anomalies"]) == (0, [])
    assert states_of(dag_run, APPROVAL) == {"skipped"}
    assert xcoms(dag_run, PUSH, "held_values") == []


def current_month(stack: SandboxStack) -> str:
    return month_of(month_to_date_instant(stack))


def drop_cluster(stack: SandboxStack, month: str, cluster: str) -> list[str]:
    """DWDI answers ``month`` without ``cluster`` (its data arrives late); returns the clusters left."""
    assert stack.dwdi is not None
    assert stack.dwdi.dataset is not None
    kept = [name for name in stack.dwdi.dataset.clusters if name != cluster]
    stack.dwdi.set_entries(month, stack.dwdi.dataset.entries(month, clusters=kept))
    return kept


def held_rows(dag_run: Any) -> list[dict[str, Any]]:
    return [row for document in xcoms(dag_run, PUSH, "held_values") for row in document["rows"]]


def checks(dag_run: Any) -> set[str]:
    return {anomaly["check"] for result in xcom_results(dag_run, PUSH) for anomaly in result["anomalies"]}


def test_a_normal_compute_month_raises_nothing_and_asks_nothing(
    make_stack: Callable[..., SandboxStack],
) -> None:
    stack = make_stack()
    with answering(None) as answers:
        first, _ = run_month_to_date(stack)
    assert_normal_month(first)
    stack.waldur.reset_requests()

    # Against the first run's archive (clusters, accounts) and Waldur's totals: still nothing.
    again, answers_again = rerun_month_to_date(stack, None)

    assert str(again.state) == "success", task_states(again)
    assert_normal_month(again)
    assert writes(stack) == []
    assert answers.requests == answers_again.requests == []


@pytest.mark.parametrize("offering", [STORAGE_OFFERING, INFERENCE_OFFERING], ids=["storage", "inference"])
def test_a_normal_month_of_storage_and_inference_asks_nothing(
    make_stack: Callable[..., SandboxStack], offering: dict[str, Any]
) -> None:
    stack = make_stack(accounts=10, offering=offering)
    with answering(None) as answers:
        first, _ = run_month_to_date(stack)
    again, _ = rerun_month_to_date(stack, None)

    assert_normal_month(first)
    assert str(again.state) == "success", task_states(again)
    assert_normal_month(again)
    assert answers.requests == []


def test_a_missing_cluster_is_held_and_an_approval_writes_the_new_values(
    make_stack: Callable[..., SandboxStack],
) -> None:
    stack = make_stack()
    item = stack.seeded[0]
    run_month_to_date(stack)
    month = current_month(stack)
    kept = drop_cluster(stack, month, "eiger")
    stack.waldur.reset_requests()

    dag_run, answers = rerun_month_to_date(stack, "Approve")

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert {"cluster_missing", "total_decrease"} <= checks(dag_run)
    [request] = answers.requests
    assert "| resource | component | user | Waldur now | DWDI new | why |" in request["body"]
    assert "eiger" in request["body"]
    rows = held_rows(dag_run)
    assert rows
    assert {row["resource"] for row in rows} <= set(item.accounts)
    [decision] = [d for d in xcoms(dag_run, APPROVAL, "decision") if d]
    assert (decision["decision"], decision["by"], decision["month"]) == ("approved", REVIEWER, month)
    assert decision["written"] > 0
    # Waldur now holds exactly DWDI's new month: the cluster's usage is gone from every total and
    # user DWDI reports (a user DWDI no longer reports keeps its usage unless reconcile is on).
    assert stack.dwdi is not None
    assert stack.dwdi.dataset is not None
    expected = expected_compute(stack.dwdi.dataset, month, item.accounts, item.config.components, kept)
    landed = stack.landed(item, month)
    for account in item.accounts:
        landed[account]["users"] = {
            user: amounts
            for user, amounts in landed[account]["users"].items()
            if user in expected[account]["users"]
        }
    assert differences(expected, landed) == []

    # Approved values are the month's last push: the next run finds nothing and asks nothing.
    stack.waldur.reset_requests()
    settled, quiet = rerun_month_to_date(stack, None, minutes=2)
    assert str(settled.state) == "success", task_states(settled)
    assert_normal_month(settled)
    assert quiet.requests == []
    assert writes(stack) == []


def test_a_rejected_missing_cluster_leaves_waldur_unchanged_and_the_next_run_asks_again(
    make_stack: Callable[..., SandboxStack],
) -> None:
    stack = make_stack()
    item = stack.seeded[0]
    run_month_to_date(stack)
    month = current_month(stack)
    before = stack.landed(item, month)
    drop_cluster(stack, month, "eiger")

    dag_run, answers = rerun_month_to_date(stack, "Reject")

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert len(answers.requests) == 1
    [decision] = [d for d in xcoms(dag_run, APPROVAL, "decision") if d]
    assert (decision["decision"], decision["by"], decision["written"]) == ("rejected", REVIEWER, 0)
    assert differences(before, stack.landed(item, month)) == []

    # Still anomalous: the next run holds the same values and asks again.
    second, again = rerun_month_to_date(stack, "Reject", minutes=2)
    assert str(second.state) == "success", task_states(second)
    assert len(again.requests) == 1
    assert held_rows(second) == held_rows(dag_run)
    assert differences(before, stack.landed(item, month)) == []


def test_a_unit_factor_typo_is_held(make_stack: Callable[..., SandboxStack], tmp_path: Path) -> None:
    stack = make_stack()
    item = stack.seeded[0]
    now = month_to_date_instant(stack)
    # The previous month in Waldur: what a jump is measured against.
    previous = month_of(now.replace(day=1) - timedelta(days=1))
    with operators_clock_at(now):
        closed = run(stack, now - timedelta(minutes=1), month=previous)
    assert str(closed.state) == "success", task_states(closed)
    month = current_month(stack)
    right = stack.expected(item, month)  # with the offering's unit_factor, before the typo

    reconfigure(
        tmp_path, lambda offering: offering["backend_components"]["nodeHours"].update(unit_factor=1000)
    )
    dag_run, answers = rerun_month_to_date(stack, "Reject")

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert "jump" in checks(dag_run)
    assert {row["component"] for row in held_rows(dag_run)} >= {"nodeHours"}
    assert len(answers.requests) == 1
    # Nothing of the typo reached Waldur: an account holds nothing, or its right total (0 x 1000).
    landed = stack.landed(item, month)
    held = {row["resource"] for row in held_rows(dag_run)}
    for account in item.accounts:
        node_hours = landed[account]["total"]["nodeHours"]
        assert node_hours is None if account in held else node_hours == right[account]["total"]["nodeHours"]


def test_a_renamed_storage_path_is_held(make_stack: Callable[..., SandboxStack], tmp_path: Path) -> None:
    stack = make_stack(accounts=10, offering=STORAGE_OFFERING)
    item = stack.seeded[0]
    run_month_to_date(stack)
    month = current_month(stack)
    before = stack.landed(item, month)
    renamed = next(
        account
        for account in item.accounts
        if before[account]["total"] and any(before[account]["total"].values())
    )

    reconfigure(
        tmp_path,
        lambda offering: offering["storage"]["path_mapping"].update(
            {renamed: f"/capstor/store/cscs/{renamed}-renamed"}
        ),
    )
    dag_run, answers = rerun_month_to_date(stack, "Reject")

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert "storage_path_unmatched" in checks(dag_run)
    assert renamed in {row["resource"] for row in held_rows(dag_run)}
    assert len(answers.requests) == 1
    assert renamed in answers.requests[0]["body"]
    assert differences(before, stack.landed(item, month)) == []


def test_an_unanswered_request_times_out_writes_nothing_and_alerts(
    make_stack: Callable[..., SandboxStack], smtp_server: SmtpServer, set_connection: Callable[..., None]
) -> None:
    set_connection(ALERTS_CONN_ID, **smtp_server.connection())
    smtp_server.clear()
    notification = {
        "events": ["anomaly"],
        "notifier": "smtp",
        "conn_id": ALERTS_CONN_ID,
        "options": {"to": RECIPIENT},
    }
    stack = make_stack(notifications=[notification])
    item = stack.seeded[0]
    run_month_to_date(stack)
    month = current_month(stack)
    before = stack.landed(item, month)
    drop_cluster(stack, month, "eiger")

    dag_run, answers = rerun_month_to_date(stack, TIMEOUT)

    assert len(answers.requests) == 1
    assert task_states(dag_run)["approve_held_values[0]"] == "failed"
    [decision] = [d for d in xcoms(dag_run, APPROVAL, "decision") if d]
    assert (decision["decision"], decision["by"], decision["written"]) == ("timed out", None, 0)
    assert differences(before, stack.landed(item, month)) == []
    held = len(held_rows(dag_run))
    subjects = sorted(mail.subject for mail in smtp_server.mails)
    assert subjects == sorted(
        [
            f"[cscs-dwdi] E2E HPC {month}: approval timed out, {held} held value(s) not written",
            f"[cscs-dwdi] E2E HPC {month}: {len(xcom_results(dag_run, PUSH)[0]['anomalies'])} anomaly(ies), "
            f"{held} value(s) held for approval",
        ]
    )
    assert_no_secret(stack, smtp_server.mails)
