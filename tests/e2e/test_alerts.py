"""Alerts end to end: ``dag.test()`` runs against the sandbox mail a real SMTP server on loopback.

The offering names an ``smtp`` notifier whose Airflow connection points at the aiosmtpd server of
``tests/fixtures/smtp_server.py``; each test reads what the server received: who, which subject,
which counts, and that no secret (the DWDI client secret, the Waldur token, a bearer JWT) is in
any mail.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.months import previous_month
from airflow_provider_cscs_dwdi.dag_factory import CLOSING_DAG_ID_PREFIX, load_dags_from_env
from sandbox.airflow_runs import xcom_results
from sandbox.dwdi.inference_data import uuid_identity
from sandbox.stack import SandboxStack
from tests.e2e.assets_support import asset_events
from tests.e2e.support import month_of, run
from tests.e2e.test_inference_pipeline import INFERENCE_OFFERING, UNKNOWN_UUID
from tests.fixtures.airflow_env import task_states
from tests.fixtures.smtp_server import ReceivedMail, SmtpServer

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

ALERTS_CONN_ID = "cscs_dwdi_alerts_smtp"
RECIPIENT = "billing-ops@example.org"
ALL_EVENTS = ["failure", "issues", "month_closed"]
# Every token the sandbox's issuer signs is a JWT: its encoded header starts like this.
JWT_PREFIX = "eyJ"


@pytest.fixture
def alerting_stack(
    make_stack: Callable[..., SandboxStack],
    smtp_server: SmtpServer,
    set_connection: Callable[..., None],
) -> Callable[..., SandboxStack]:
    """``make_stack`` for an offering that mails every event to RECIPIENT through the SMTP server."""
    set_connection(ALERTS_CONN_ID, **smtp_server.connection())
    smtp_server.clear()

    def _make(**overrides: Any) -> SandboxStack:
        notification = {
            "events": ALL_EVENTS,
            "notifier": "smtp",
            "conn_id": ALERTS_CONN_ID,
            "options": {"to": RECIPIENT},
        }
        return make_stack(notifications=[notification], **overrides)

    return _make


def assert_no_secret_in(stack: SandboxStack, text: str) -> None:
    for secret in (stack.client_secret, stack.waldur.staff_token, JWT_PREFIX):
        assert secret not in text


def assert_no_secret(stack: SandboxStack, mails: list[ReceivedMail]) -> None:
    assert mails
    for mail in mails:
        assert_no_secret_in(stack, mail.raw)
        assert_no_secret_in(stack, mail.body)


def set_user_hours(stack: SandboxStack, month: str, hours: list[float | None]) -> str:
    """DWDI's month: one entry of the first account, user ``<account>_u<n>`` with ``hours[n-1]``."""
    account = stack.seeded[0].accounts[0]
    users = [
        {"username": f"{account}_u{n}", "nodeHours": value, "usageDate": f"{month}-0{n}"}
        for n, value in enumerate(hours, 1)
    ]
    assert stack.dwdi is not None
    stack.dwdi.set_entries(month, [{"account": account, "cluster": "daint", "users": users}])
    return account


def test_a_clean_run_mails_nothing_and_a_skipped_record_mails_the_issues(
    alerting_stack: Callable[..., SandboxStack], smtp_server: SmtpServer
) -> None:
    # The second run's month is a different one on purpose: the anomaly guard would hold it.
    stack = alerting_stack(bad_value_policy="skip", anomaly_guard={"enabled": False})
    month = previous_month(month_of(datetime.now(UTC)))

    clean = run(stack, datetime.now(UTC), month=month)
    assert str(clean.state) == "success", task_states(clean)
    assert smtp_server.mails == []

    account = set_user_hours(stack, month, [2.5, -4.0])
    with_issue = run(stack, datetime.now(UTC), month=month)

    assert str(with_issue.state) == "success", task_states(with_issue)
    result = xcom_results(with_issue, "push_to_waldur")[0]
    [mail] = smtp_server.mails
    assert mail.recipients == (RECIPIENT,)
    assert mail.subject == f"[cscs-dwdi] E2E HPC {month}: pushed with 1 issue(s)"
    assert "Offering: E2E HPC (6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f)" in mail.body
    assert f"Month: {month}" in mail.body
    assert f"Written: {result['written']} resource(s)" in mail.body
    assert f"Unchanged: {result['unchanged']} resource(s)" in mail.body
    assert "Issues: 1 (skipped records: 1, storage paths without data: 0, refused writes: 0)" in mail.body
    assert f"{account}_u2" in mail.body  # the skipped record is named
    assert with_issue.run_id in mail.body
    assert_no_secret(stack, smtp_server.mails)


def test_a_failed_run_mails_the_failure(
    alerting_stack: Callable[..., SandboxStack], smtp_server: SmtpServer
) -> None:
    stack = alerting_stack()
    month = previous_month(month_of(datetime.now(UTC)))
    set_user_hours(stack, month, [None])

    dag_run = run(stack, datetime.now(UTC), month=month)

    assert str(dag_run.state) == "failed", task_states(dag_run)
    [mail] = smtp_server.mails
    assert mail.subject == f"[cscs-dwdi] E2E HPC {month}: run failed"
    assert "Failed task: aggregate_usage[0]" in mail.body
    assert f"DAG run: cscs_dwdi_usage_e2e_hpc / {dag_run.run_id}" in mail.body
    assert_no_secret(stack, smtp_server.mails)


def test_the_close_dag_mails_the_month_closed_and_emits_the_closed_event(
    alerting_stack: Callable[..., SandboxStack], smtp_server: SmtpServer
) -> None:
    stack = alerting_stack()
    # A manual run at a month's start closes the month that just ended, like the scheduled run.
    first_of_this_month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month = previous_month(month_of(first_of_this_month))
    dag = load_dags_from_env()[CLOSING_DAG_ID_PREFIX + stack.seeded[0].config.slug]
    for task in dag.tasks:
        task.retries = 0

    dag_run = dag.test(logical_date=first_of_this_month)

    assert str(dag_run.state) == "success", task_states(dag_run)
    result = xcom_results(dag_run, "push_to_waldur")[0]
    assert result["month"] == month
    assert result["written"] > 0
    [mail] = smtp_server.mails
    assert mail.subject == (
        f"[cscs-dwdi] E2E HPC {month}: month closed ({result['written']} written, 0 unchanged, 0 issue(s))"
    )
    assert f"The month {month} is closed in Waldur." in mail.body
    assert_no_secret(stack, smtp_server.mails)
    [event] = asset_events(dag_run)
    assert event["uri"] == "cscs-dwdi://6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f/compute"
    assert (event["extra"]["month"], event["extra"]["closed"]) == (month, True)
    assert_no_secret_in(stack, json.dumps(event))


def test_an_unknown_inference_resource_mails_the_issue_naming_its_uuid(
    alerting_stack: Callable[..., SandboxStack], smtp_server: SmtpServer
) -> None:
    stack = alerting_stack(accounts=3, offering=INFERENCE_OFFERING)
    assert stack.inference is not None
    stack.inference.add_unknown_resource(UNKNOWN_UUID, "1.5")
    month = previous_month(month_of(datetime.now(UTC)))

    dag_run = run(stack, datetime.now(UTC), month=month)

    assert str(dag_run.state) == "success", task_states(dag_run)
    [mail] = smtp_server.mails
    assert mail.subject == f"[cscs-dwdi] E2E Inference {month}: pushed with 1 issue(s)"
    assert (
        f"DWDI priced 1 resource UUID(s) this offering does not have (not billed): {uuid_identity(UNKNOWN_UUID)}"
        in mail.body
    )
    assert_no_secret(stack, smtp_server.mails)
