"""End to end: the offering DAG run by ``dag.test()`` on a migrated metadata DB against the sandbox.

Real parts only: the Node OIDC issuer, the DWDI double validating its JWTs, the Waldur double
checking every request against the official OpenAPI subset, and Airflow running every task (XCom
included). What Waldur holds afterwards is compared with totals computed straight from the
generated DWDI rows (``SandboxStack.expected``), not with the provider's own arithmetic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.months import previous_month
from sandbox.airflow_runs import xcom_results
from sandbox.stack import SandboxStack
from tests.e2e.support import (
    ISSUER_CLIENT_ID,
    assert_waldur_holds_dwdi_totals,
    month_of,
    month_to_date_instant,
    run,
    run_month_to_date,
    writes,
)
from tests.fixtures.airflow_env import task_states

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def test_scheduled_run_reports_the_month_to_date(stack: SandboxStack) -> None:
    dag_run, months = run_month_to_date(stack)

    fetched = xcom_results(dag_run, "fetch_usage")
    assert [result["month"] for result in fetched] == months
    assert fetched[-1]["window"]["to"] == month_to_date_instant(stack).date().isoformat()
    pushed = xcom_results(dag_run, "push_to_waldur")
    assert pushed[-1]["failed"] == 0
    assert pushed[-1]["written"] > 0


def test_run_at_midnight_on_the_first_closes_the_previous_month(stack: SandboxStack) -> None:
    first = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    closed = previous_month(month_of(first))

    dag_run = run(stack, first)

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert_waldur_holds_dwdi_totals(stack, closed)
    assert [result["month"] for result in xcom_results(dag_run, "fetch_usage")] == [closed]
    item = stack.seeded[0]
    current = stack.landed(item, month_of(first))
    assert all(value is None for account in current.values() for value in account["total"].values())


def test_manual_run_with_month_reports_that_month_only(stack: SandboxStack) -> None:
    month = previous_month(previous_month(month_of(datetime.now(UTC))))

    dag_run = run(stack, datetime.now(UTC), month=month)

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert_waldur_holds_dwdi_totals(stack, month)
    periods = {request.json["date"][:7] for request in writes(stack) if request.path.endswith("set_usage/")}
    assert periods == {month}


def test_dry_run_writes_nothing(stack: SandboxStack) -> None:
    month = previous_month(month_of(datetime.now(UTC)))

    dag_run = run(stack, datetime.now(UTC), month=month, dry_run=True)

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert writes(stack) == []
    result = xcom_results(dag_run, "push_to_waldur")[0]
    assert result["dry_run"] is True
    assert result["written"] == 0
    assert result["changed"] == len(stack.seeded[0].accounts)


def test_re_running_a_month_sends_no_write(stack: SandboxStack) -> None:
    month = previous_month(month_of(datetime.now(UTC)))
    first = run(stack, datetime.now(UTC), month=month)
    assert str(first.state) == "success", task_states(first)
    assert writes(stack)
    stack.waldur.reset_requests()

    second = run(stack, datetime.now(UTC) + timedelta(seconds=1), month=month)

    assert str(second.state) == "success", task_states(second)
    assert writes(stack) == []
    assert_waldur_holds_dwdi_totals(stack, month)


def test_three_past_months_as_a_backfill_runs_them(stack: SandboxStack) -> None:
    first_of_this_month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    run_dates = []
    month = month_of(first_of_this_month)
    for _ in range(3):
        year, number = (int(part) for part in month.split("-"))
        run_dates.insert(0, datetime(year, number, 1, tzinfo=UTC))
        month = previous_month(month)

    for run_date in run_dates:  # oldest first, as `airflow backfill create` runs them
        dag_run = run(stack, run_date)
        assert str(dag_run.state) == "success", task_states(dag_run)

    for run_date in run_dates:
        assert_waldur_holds_dwdi_totals(stack, previous_month(month_of(run_date)))


def test_a_bad_dwdi_value_fails_the_run_and_writes_nothing(stack: SandboxStack) -> None:
    month = previous_month(month_of(datetime.now(UTC)))
    account = stack.seeded[0].accounts[0]
    assert stack.dwdi is not None
    stack.dwdi.set_entries(
        month,
        [
            {
                "account": account,
                "cluster": "daint",
                "totalNodeHours": 10.5,
                "users": [{"username": f"{account}_u1", "nodeHours": None, "usageDate": f"{month}-02"}],
            }
        ],
    )

    dag_run = run(stack, datetime.now(UTC), month=month)

    states = task_states(dag_run)
    assert states["aggregate_usage[0]"] == "failed"
    push_states = {state for task, state in states.items() if task.startswith("push_to_waldur")}
    assert push_states == {"upstream_failed"}
    assert writes(stack) == []


def test_skip_policy_bills_the_good_rows_and_lists_the_bad_one(
    make_stack: Callable[..., SandboxStack],
) -> None:
    stack = make_stack(bad_value_policy="skip")
    month = previous_month(month_of(datetime.now(UTC)))
    account, other = stack.seeded[0].accounts[:2]
    assert stack.dwdi is not None
    stack.dwdi.set_entries(
        month,
        [
            {
                "account": account,
                "cluster": "daint",
                "users": [
                    {"username": f"{account}_u1", "nodeHours": 1.125, "usageDate": f"{month}-01"},
                    {"username": f"{account}_u1", "nodeHours": 2.0, "usageDate": f"{month}-02"},
                    {"username": f"{account}_u2", "nodeHours": -4.0, "usageDate": f"{month}-02"},
                    {"username": f"{account}_u2", "nodeHours": 3.5, "usageDate": f"{month}-03"},
                ],
            },
            # The same account on a second cluster: summed with the first entry, never overwritten.
            {"account": account, "cluster": "eiger", "totalNodeHours": 10.0, "users": []},
        ],
    )

    dag_run = run(stack, datetime.now(UTC), month=month)

    assert str(dag_run.state) == "success", task_states(dag_run)
    report = xcom_results(dag_run, "aggregate_usage")[0]
    assert report["accounts"][account]["total"]["nodeHours"] == "16.63"  # 1.125 + 2 + 3.5 + 10
    assert report["accounts"][account]["users"][f"{account}_u1"]["nodeHours"] == "3.13"
    assert report["accounts"][account]["users"][f"{account}_u2"]["nodeHours"] == "3.50"
    assert report["accounts"][other]["total"]["nodeHours"] == "0.00"
    [issue] = report["issues"]
    assert issue["kind"] == "negative_value"
    assert (issue["account"], issue["user"], issue["field"]) == (account, f"{account}_u2", "nodeHours")
    resource = stack.seeded[0].resources[account]
    assert stack.waldur.usage(resource, "nodeHours", f"{month}-01") == Decimal("16.63")
    assert stack.waldur.user_usages(resource, "nodeHours", f"{month}-01") == {
        f"{account}_u1": Decimal("3.13"),
        f"{account}_u2": Decimal("3.50"),
    }
    assert xcom_results(dag_run, "push_to_waldur")[0]["skipped"] == 1


def test_a_thousand_accounts_one_token_small_xcom_exact_totals(
    make_stack: Callable[..., SandboxStack], oidc_issuer: Any
) -> None:
    stack = make_stack(accounts=1000)
    month = previous_month(month_of(datetime.now(UTC)))
    assert stack.dwdi is not None
    oidc_issuer.reset_counts()

    dag_run = run(stack, datetime.now(UTC), month=month)

    assert str(dag_run.state) == "success", task_states(dag_run)
    fetched = xcom_results(dag_run, "fetch_usage")[0]
    assert fetched["accounts_requested"] == 1000
    assert fetched["pages"] > 1  # the account list was split to keep URLs under 8 KiB
    assert len(json.dumps(fetched).encode()) < 64 * 1024
    assert all(request.url_length <= 8192 for request in stack.dwdi.requests)
    assert oidc_issuer.token_count(ISSUER_CLIENT_ID) == 1
    assert_waldur_holds_dwdi_totals(stack, month)


def test_secrets_stay_out_of_task_logs_and_xcom(
    stack: SandboxStack, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    caplog.set_level("DEBUG")
    dag_run = run(stack, datetime.now(UTC), month=previous_month(month_of(datetime.now(UTC))))
    assert str(dag_run.state) == "success", task_states(dag_run)

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id)
        ).all()
        stored = json.dumps([XComModel.deserialize_value(row) for row in rows], default=str)
    captured = capfd.readouterr()
    text = captured.out + captured.err + caplog.text
    assert "fetch_usage" in text  # the task logs were captured
    for secret in (stack.client_secret, stack.waldur.staff_token):
        assert secret not in stored
        assert secret not in text
