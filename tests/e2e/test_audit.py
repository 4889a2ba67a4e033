"""End to end: the drift audit DAG run by ``dag.test()`` against the sandbox, after real pushes.

The months are pushed by the offering's usage DAG, then changed behind the pipeline's back the
way drift happens: a person edits a total or a user usage in Waldur (through Waldur's API), or
DWDI revises a closed month. The audit must find each change, name its cause, fail, and write
nothing; a repair must fix exactly its month through the push.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.audit import (
    CAUSE_DWDI_REVISED,
    CAUSE_EDITED,
    CAUSE_EXTRA_USER,
    CAUSE_MISSING,
)
from airflow_provider_cscs_dwdi.core.audit_result import AuditResult
from airflow_provider_cscs_dwdi.core.months import previous_month
from airflow_provider_cscs_dwdi.dag_factory import AUDIT_DAG_ID_PREFIX, load_dags_from_env
from airflow_provider_cscs_dwdi.hooks.waldur import WaldurHook
from sandbox.airflow_runs import xcom_results
from sandbox.approvals import answering, answering_open
from sandbox.stack import SandboxStack, differences
from tests.e2e.conftest import COMPUTE_OFFERING
from tests.e2e.support import assert_waldur_holds_dwdi_totals, last_month, run, task_log, writes
from tests.e2e.test_inference_pipeline import INFERENCE_OFFERING
from tests.e2e.test_storage_pipeline import STORAGE_OFFERING
from tests.fixtures.airflow_env import task_states
from tests.fixtures.smtp_server import SmtpServer

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

#: Two closed months keep every audit run to two fetches.
AUDITED = {**COMPUTE_OFFERING, "audit": {"schedule": None, "months": 2}}


def run_audit(stack: SandboxStack, offset: int = 0, **conf: Any) -> Any:
    dag = load_dags_from_env()[AUDIT_DAG_ID_PREFIX + stack.seeded[0].config.slug]
    for task in dag.tasks:
        task.retries = 0
    if answering_open():
        return dag.test(logical_date=datetime.now(UTC) + timedelta(seconds=offset), run_conf=conf or None)
    with answering(None) as answers:  # a request nobody expected fails the test instead of waiting
        dag_run = dag.test(logical_date=datetime.now(UTC) + timedelta(seconds=offset), run_conf=conf or None)
    assert answers.requests == [], f"unexpected approval request(s): {answers.requests}"
    return dag_run


def audit_result(dag_run: Any) -> AuditResult:
    (doc,) = xcom_results(dag_run, "audit_waldur")
    return AuditResult.from_xcom(doc)


def push(stack: SandboxStack, *months: str) -> None:
    for offset, month in enumerate(months):
        dag_run = run(stack, datetime.now(UTC) + timedelta(seconds=offset), month=month)
        assert str(dag_run.state) == "success", task_states(dag_run)
    stack.waldur.reset_requests()


def waldur_hook(stack: SandboxStack) -> WaldurHook:
    """The offering's own Waldur connection (staff token): what a person editing in Waldur uses."""
    return WaldurHook(stack.seeded[0].config.waldur_conn_id)


def hand_edit_total(stack: SandboxStack, account: str, month: str, component: str, amount: str) -> None:
    """What a person editing a usage in Waldur does: a ``set_usage`` of the resource and month."""
    hook = waldur_hook(stack)
    try:
        hook.set_usage(
            stack.seeded[0].resources[account],
            [{"type": component, "amount": amount}],
            usage_date=f"{month}-15T12:00:00Z",
        )
    finally:
        hook.close()


def hand_edit_user(
    stack: SandboxStack, account: str, month: str, component: str, username: str, amount: str
) -> None:
    hook = waldur_hook(stack)
    try:
        rows = hook.list_component_usages(stack.seeded[0].uuid, f"{month}-01")
        (row,) = [
            r
            for r in rows
            if r["resource_uuid"] == stack.seeded[0].resources[account] and r["type"] == component
        ]
        hook.set_user_usages(str(row["uuid"]), [{"username": username, "usage": amount}])
    finally:
        hook.close()


def drifts_by_key(result: AuditResult) -> dict[tuple[str, str, str | None, str | None], Any]:
    return {(d.month, d.backend_id, d.component, d.username): d for d in result.drifts}


def test_clean_months_pass_and_nothing_is_written(make_stack: Callable[..., SandboxStack]) -> None:
    stack = make_stack(offering=AUDITED, accounts=3)
    closed = last_month()
    push(stack, previous_month(closed), closed)

    dag_run = run_audit(stack)

    assert str(dag_run.state) == "success", task_states(dag_run)
    result = audit_result(dag_run)
    assert result.clean
    assert result.drift_count == 0
    assert [month["month"] for month in result.months] == [previous_month(closed), closed]
    assert all(month["resources"] == 3 and month["unchanged"] == 3 for month in result.months)
    assert all(month["pushed_archive"] for month in result.months)
    assert writes(stack) == []


def test_hand_edits_in_waldur_are_found_named_and_repaired_in_their_month_only(
    make_stack: Callable[..., SandboxStack],
) -> None:
    stack = make_stack(offering=AUDITED, accounts=3)
    closed = last_month()
    other = previous_month(closed)
    push(stack, other, closed)
    item = stack.seeded[0]
    edited_account, user_account = item.accounts[0], item.accounts[1]
    expected = stack.expected(item, closed)
    (username, amounts), *_ = sorted(expected[user_account]["users"].items())
    hand_edit_total(stack, edited_account, closed, "nodeHours", "1.00")
    hand_edit_user(stack, user_account, closed, "nodeHours", username, "7.77")
    stack.waldur.reset_requests()

    audited = run_audit(stack)

    assert str(audited.state) == "failed", task_states(audited)
    assert task_states(audited)["audit_waldur"] == "failed"
    result = audit_result(audited)
    drifts = drifts_by_key(result)
    assert set(drifts) == {
        (closed, edited_account, "nodeHours", None),
        (closed, user_account, "nodeHours", username),
    }
    total = drifts[(closed, edited_account, "nodeHours", None)]
    assert (total.dwdi, total.waldur, total.cause) == (
        expected[edited_account]["total"]["nodeHours"],
        Decimal("1.00"),
        CAUSE_EDITED,
    )
    assert total.delta == total.dwdi - Decimal("1.00")
    user = drifts[(closed, user_account, "nodeHours", username)]
    assert (user.dwdi, user.waldur, user.cause) == (amounts["nodeHours"], Decimal("7.77"), CAUSE_EDITED)
    assert writes(stack) == []

    dry = run_audit(stack, 1, repair_month=closed, dry_run=True)
    assert str(dry.state) == "failed", task_states(dry)
    assert writes(stack) == []
    dry_result = audit_result(dry)
    assert dry_result.repair is not None
    assert dry_result.repair["dry_run"] is True
    assert dry_result.drift_count == 2

    # One trigger: the repair's plan waits for approval in the same run, then is written.
    with answering("Approve") as approval:
        repaired = run_audit(stack, 2, repair_month=closed)

    assert str(repaired.state) == "success", task_states(repaired)
    [request] = approval.requests
    assert f"| {edited_account} | nodeHours | (total) | 1.00 |" in request["body"]
    repair = audit_result(repaired).repair
    assert repair is not None
    assert (repair["written"], repair["held"]) == (0, 2)  # the edited total and the edited user
    [approved] = xcom_results(repaired, "approve_held_values")
    assert (approved["written"], approved["user_usages_written"]) == (2, 1)
    assert {request.json["date"][:7] for request in writes(stack) if request.path.endswith("set_usage/")} == {
        closed
    }
    assert_waldur_holds_dwdi_totals(stack, closed)
    assert differences(stack.expected(item, other), stack.landed(item, other)) == []
    stack.waldur.reset_requests()

    assert str(run_audit(stack, 3).state) == "success"
    again = run_audit(stack, 4, repair_month=closed)
    assert str(again.state) == "success", task_states(again)
    assert writes(stack) == []


def test_a_dwdi_revision_of_a_closed_month_is_named_and_a_month_never_pushed_is_missing(
    make_stack: Callable[..., SandboxStack],
) -> None:
    stack = make_stack(offering=AUDITED, accounts=3)
    closed = last_month()
    push(stack, closed)  # the month before is never pushed
    item = stack.seeded[0]
    assert stack.dwdi is not None
    revised_account = item.accounts[0]
    entries = stack.dataset.entries(closed, accounts=item.accounts)
    revised = next(
        entry for entry in entries if entry["account"] == revised_account and len(entry["users"]) > 1
    )
    dropped = revised["users"][-1]["username"]
    revised["users"][0]["nodeHours"] += 100
    # DWDI has one entry per account and cluster: the user is dropped from all of the account's
    # (a user left on another cluster is still reported, whatever month the dataset gives).
    for entry in entries:
        if entry["account"] == revised_account:
            entry["users"] = [row for row in entry["users"] if row["username"] != dropped]
            # DWDI's account total follows its user rows, as a real revision would.
            entry["totalNodeHours"] = float(sum(Decimal(repr(row["nodeHours"])) for row in entry["users"]))
    stack.dwdi.set_entries(closed, entries)
    before = stack.landed(item, closed)

    dag_run = run_audit(stack)

    assert str(dag_run.state) == "failed", task_states(dag_run)
    result = audit_result(dag_run)
    causes = {(d.month, d.backend_id, d.component, d.username): d.cause for d in result.drifts}
    assert causes[(closed, revised_account, "nodeHours", None)] == CAUSE_DWDI_REVISED
    assert (
        causes[(closed, revised_account, "nodeHours", revised["users"][0]["username"])] == CAUSE_DWDI_REVISED
    )
    assert causes[(closed, revised_account, "nodeHours", dropped)] == CAUSE_EXTRA_USER
    assert {backend_id for month, backend_id, *_ in causes if month == closed} == {revised_account}
    never_pushed = {cause for (month, *_), cause in causes.items() if month == previous_month(closed)}
    assert never_pushed == {CAUSE_MISSING}
    assert writes(stack) == []
    assert stack.landed(item, closed) == before


def test_a_repair_is_refused_as_a_repair_by_a_waldur_that_ignores_the_usage_date(
    make_stack: Callable[..., SandboxStack],
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = make_stack(
        offering={**AUDITED, "audit": {"schedule": None, "months": 1}}, accounts=2, waldur_version="7"
    )
    closed = last_month()

    dag_run = run_audit(stack, repair_month=closed)

    assert str(dag_run.state) == "failed", task_states(dag_run)
    assert task_states(dag_run)["audit_waldur"] == "failed"
    assert f"Refusing to repair {closed}: it is not the current month" in task_log(capfd, caplog)
    assert writes(stack) == []
    result = audit_result(dag_run)  # the audit itself stands: the month was never written
    assert result.repair is None
    assert {drift.cause for drift in result.drifts} == {CAUSE_MISSING}


def test_a_drift_mails_the_drift_notifier_and_a_clean_audit_mails_nothing(
    make_stack: Callable[..., SandboxStack],
    smtp_server: SmtpServer,
    set_connection: Callable[..., None],
) -> None:
    set_connection("cscs_dwdi_drift_smtp", **smtp_server.connection())
    smtp_server.clear()
    notification = {
        "events": ["drift"],
        "notifier": "smtp",
        "conn_id": "cscs_dwdi_drift_smtp",
        "options": {"to": "billing-ops@example.org"},
    }
    stack = make_stack(
        offering={**AUDITED, "audit": {"schedule": None, "months": 1}},
        accounts=2,
        notifications=[notification],
    )
    closed = last_month()
    push(stack, closed)
    assert str(run_audit(stack).state) == "success"
    assert smtp_server.mails == []
    edited = stack.seeded[0].accounts[0]
    hand_edit_total(stack, edited, closed, "nodeHours", "1.00")

    dag_run = run_audit(stack, 1)

    assert str(dag_run.state) == "failed", task_states(dag_run)
    (mail,) = smtp_server.mails
    assert mail.recipients == ("billing-ops@example.org",)
    assert mail.subject == f"[cscs-dwdi] {AUDITED['name']} {closed}: drift found (1 difference(s))"
    assert f"{closed}: 2 resource(s) compared, 1 identical, 1 difference(s)" in mail.body
    (row,) = [line for line in mail.body.splitlines() if line.startswith(closed) and edited in line]
    assert row.split()[:3] == [closed, edited, "nodeHours"]
    assert row.endswith(CAUSE_EDITED)
    for secret in (stack.client_secret, stack.waldur.staff_token, "eyJ"):
        assert secret not in mail.raw


@pytest.mark.parametrize("offering", [STORAGE_OFFERING, INFERENCE_OFFERING], ids=["storage", "inference"])
def test_storage_and_inference_months_audit_clean_against_their_push_archive(
    make_stack: Callable[..., SandboxStack], offering: dict[str, Any]
) -> None:
    stack = make_stack(offering={**offering, "audit": {"schedule": None, "months": 1}}, accounts=3)
    closed = last_month()
    push(stack, closed)

    dag_run = run_audit(stack)

    assert str(dag_run.state) == "success", task_states(dag_run)
    (month,) = audit_result(dag_run).months
    assert month["month"] == closed
    assert month["drifts"] == 0
    assert month["pushed_archive"]
    assert writes(stack) == []


def test_an_audit_right_after_a_push_of_1000_plus_user_usages_is_clean_and_a_re_push_writes_0(
    make_stack: Callable[..., SandboxStack],
) -> None:
    # The sandbox pages user usages as Waldur does (ties in a new order per page): on 8.x every
    # resource of the month is written with one date, so any page boundary can lose any row.
    stack = make_stack(
        offering={**AUDITED, "audit": {"schedule": None, "months": 1}}, accounts=10, users_per_account=130
    )
    closed = last_month()
    push(stack, closed)
    state = stack.waldur.state_dump()
    assert len(state["user_usages"]) >= 1000

    dag_run = run_audit(stack)

    assert str(dag_run.state) == "success", task_states(dag_run)
    result = audit_result(dag_run)
    assert result.clean
    assert [(month["month"], month["resources"], month["unchanged"]) for month in result.months] == [
        (closed, 10, 10)
    ]
    again = run(stack, datetime.now(UTC) + timedelta(seconds=5), month=closed)
    assert str(again.state) == "success", task_states(again)
    assert writes(stack) == []
    (pushed,) = xcom_results(again, "push_to_waldur")
    assert (pushed["written"], pushed["user_usages_written"]) == (0, 0)
