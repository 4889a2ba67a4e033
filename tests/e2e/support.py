"""Helpers of the end-to-end tests: the offering DAG run by ``dag.test()`` against a SandboxStack."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.months import months_to_report, previous_month
from airflow_provider_cscs_dwdi.dag_factory import DAG_ID_PREFIX, load_dags_from_env
from airflow_provider_cscs_dwdi.operators import _clock
from sandbox.airflow_runs import xcom_results
from sandbox.approvals import answering, answering_open
from sandbox.stack import SandboxStack, SeededOffering, differences
from tests.fixtures.airflow_env import task_states

# A client of the session issuer (tests/fixtures/oidc_issuer.py: sandbox.oidc_issuer defaults).
ISSUER_CLIENT_ID = "dwdi-client"
ISSUER_CLIENT_SECRET = "dwdi-secret"


def offering_dag(item: SeededOffering) -> Any:
    dag = load_dags_from_env()[DAG_ID_PREFIX + item.config.slug]
    for task in dag.tasks:
        task.retries = 0  # a failure must show at once, not after a retry delay
    return dag


def run(stack: SandboxStack, logical_date: datetime, **conf: Any) -> Any:
    """One run of the offering's daily DAG; a request for approval it did not expect fails the test
    (it is rejected, so the run ends rather than waiting forever in ``dag.test()``)."""
    dag = offering_dag(stack.seeded[0])
    if answering_open():
        return dag.test(logical_date=logical_date, run_conf=conf or None)
    with answering(None) as answers:
        dag_run = dag.test(logical_date=logical_date, run_conf=conf or None)
    assert answers.requests == [], f"unexpected approval request(s): {answers.requests}"
    return dag_run


def writes(stack: SandboxStack) -> list[Any]:
    return [request for request in stack.waldur.requests if request.method == "POST"]


def month_of(instant: datetime) -> str:
    return f"{instant.year:04d}-{instant.month:02d}"


def assert_waldur_holds_dwdi_totals(stack: SandboxStack, month: str) -> None:
    """Waldur holds exactly the sandbox's own expected totals (and something is billed at all)."""
    item = stack.seeded[0]
    expected = stack.expected(item, month)
    amounts = [amount for account in expected.values() for amount in account["total"].values()]
    assert any(amount for amount in amounts if amount is not None)
    assert differences(expected, stack.landed(item, month)) == []
    assert stack.waldur.schema_violations == []


@contextmanager
def operators_clock_at(instant: datetime) -> Iterator[None]:
    """Every operator built without its own clock (all the DAG factory's) reads ``instant``."""
    previous = _clock.default_clock
    _clock.default_clock = lambda: instant
    try:
        yield
    finally:
        _clock.default_clock = previous


def month_to_date_instant(stack: SandboxStack) -> datetime:
    """13:00 UTC on the sandbox's day: the current month can be dated then (not before 12:10 UTC on
    the 1st), and the day stays the sandbox's even when the test runs across midnight."""
    return datetime.combine(stack.today, time(13), tzinfo=UTC)


def run_month_to_date(stack: SandboxStack) -> tuple[Any, list[str]]:
    """The scheduled run of the sandbox's day, on a clock pinned to it (see
    :func:`month_to_date_instant`): it succeeds and Waldur holds the totals of every month it
    reports."""
    now = month_to_date_instant(stack)
    with operators_clock_at(now):
        dag_run = run(stack, now)
    assert str(dag_run.state) == "success", task_states(dag_run)
    months = months_to_report(now, "UTC", reopen_days=3, previous_allowed=True)
    for month in months:
        assert_waldur_holds_dwdi_totals(stack, month)
    return dag_run, months


def last_month() -> str:
    return previous_month(month_of(datetime.now(UTC)))


def assert_a_past_month_is_written_once(stack: SandboxStack) -> None:
    """Last month: a dry run writes nothing, a run writes it into that month, a re-run writes nothing."""
    now = datetime.now(UTC)
    month = last_month()

    dry = run(stack, now, month=month, dry_run=True)
    assert str(dry.state) == "success", task_states(dry)
    assert writes(stack) == []
    assert xcom_results(dry, "push_to_waldur")[0]["dry_run"] is True

    first = run(stack, now + timedelta(seconds=1), month=month)
    assert str(first.state) == "success", task_states(first)
    assert_waldur_holds_dwdi_totals(stack, month)
    periods = {request.json["date"][:7] for request in writes(stack) if request.path.endswith("set_usage/")}
    assert periods == {month}
    stack.waldur.reset_requests()

    second = run(stack, now + timedelta(seconds=2), month=month)
    assert str(second.state) == "success", task_states(second)
    assert writes(stack) == []
    assert xcom_results(second, "push_to_waldur")[0]["changed"] == 0


def assert_failed_and_wrote_nothing(stack: SandboxStack, dag_run: Any, task_id: str) -> None:
    """``task_id`` failed, every push after it did not run, and Waldur received no write."""
    states = task_states(dag_run)
    assert states[f"{task_id}[0]"] == "failed", states
    assert {state for task, state in states.items() if task.startswith("push_to_waldur")} == {
        "upstream_failed"
    }
    assert writes(stack) == []


def task_log(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    """Everything the tasks logged so far (dag.test() prints task logs to the console)."""
    captured = capfd.readouterr()
    return captured.out + captured.err + caplog.text
