"""Notifiers of the offerings file: built and checked when the DAGs are, each mistake named."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk import BaseNotifier

from airflow_provider_cscs_dwdi.core.alerts import AlertMessage
from airflow_provider_cscs_dwdi.core.config import OfferingsConfig, parse_config
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.dag_factory import CLOSING_DAG_ID_PREFIX, DAG_ID_PREFIX, build_dags
from airflow_provider_cscs_dwdi.notifications import OfferingAlertNotifier, notifiers_for
from tests.fixtures.offerings import NODE_AND_GPU_COMPONENTS

SENT: list[dict[str, Any]] = []


class RecordingNotifier(BaseNotifier):
    """A plugged-in notifier (``package.module:Class``): connection and text, no subject."""

    def __init__(self, *, chat_conn_id: str, text: str, room: str = "general") -> None:
        super().__init__()
        self.arguments = {"chat_conn_id": chat_conn_id, "text": text, "room": room}

    def notify(self, context: Any) -> None:
        SENT.append(self.arguments)


class NotANotifier:
    def __init__(self, conn_id: str, text: str) -> None: ...


def config(*notifications: dict[str, Any], file_wide: list[dict[str, Any]] | None = None) -> OfferingsConfig:
    offering = {
        "name": "Alerted HPC",
        "offering_uuid": "6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f",
        "billing_timezone": "UTC",
        "backend_components": NODE_AND_GPU_COMPONENTS,
        "notifications": list(notifications),
    }
    document: dict[str, Any] = {"offerings": [offering]}
    if file_wide:
        document["notifications"] = file_wide
    return parse_config(document, source="offerings.yaml")


def smtp(events: list[str], **options: Any) -> dict[str, Any]:
    return {"events": events, "notifier": "smtp", "conn_id": "alerts_smtp", "options": options}


def test_notifiers_are_selected_by_event_file_wide_ones_first() -> None:
    offering = config(
        smtp(["issues", "month_closed"], to="own@example.org"),
        file_wide=[smtp(["failure", "issues"], to="all@example.org")],
    ).offerings[0]

    issues = notifiers_for(offering, "issues")
    assert [n.notifier_name for n in issues] == ["smtp", "smtp"]
    assert all(isinstance(n, OfferingAlertNotifier) and n.event == "issues" for n in issues)
    assert len(notifiers_for(offering, "failure")) == 1
    assert len(notifiers_for(offering, "month_closed")) == 1
    assert notifiers_for(offering, "drift") == []


def events_of(callbacks: Any) -> list[str]:
    """The events of a callback list made of OfferingAlertNotifier (Airflow types it loosely)."""
    return [notifier.event for notifier in callbacks]


def test_the_dags_carry_the_notifiers_as_callbacks() -> None:
    dags = build_dags(config(smtp(["failure", "issues", "month_closed"], to="ops@example.org")))
    daily = dags[DAG_ID_PREFIX + "alerted_hpc"]
    closing = dags[CLOSING_DAG_ID_PREFIX + "alerted_hpc"]

    assert events_of(daily.on_failure_callback) == ["failure"]
    assert events_of(closing.on_failure_callback) == ["failure"]
    assert events_of(daily.get_task("push_to_waldur").on_success_callback) == ["issues"]
    assert events_of(closing.get_task("push_to_waldur").on_success_callback) == [
        "issues",
        "month_closed",
    ]
    quiet = build_dags(config())[DAG_ID_PREFIX + "alerted_hpc"]
    assert quiet.on_failure_callback is None
    assert not quiet.get_task("push_to_waldur").on_success_callback


@pytest.mark.parametrize(
    ("notification", "expected"),
    [
        pytest.param(
            {"events": ["failure"], "notifier": "slack", "conn_id": "slack_alerts", "options": {}},
            "offering 'Alerted HPC': notifications[1] (slack, connection 'slack_alerts'): cannot import "
            "airflow.providers.slack.notifications.slack",
            id="slack-provider-missing",
        ),
        pytest.param(
            smtp(["failure"]),
            "notifications[1] (smtp, connection 'alerts_smtp'): options.to: required",
            id="smtp-without-recipient",
        ),
        pytest.param(
            smtp(["failure"], to="ops@example.org", recipients="x@example.org"),
            "options: recipients: not a parameter of SmtpNotifier",
            id="smtp-unknown-option",
        ),
        pytest.param(
            {"events": ["failure"], "notifier": "tests.dags.test_notifications:NotANotifier", "conn_id": "c"},
            "tests.dags.test_notifications:NotANotifier is not an Airflow notifier",
            id="not-a-notifier",
        ),
        pytest.param(
            {"events": ["failure"], "notifier": "no_such_package.alerts:Notifier", "conn_id": "c"},
            "cannot import no_such_package.alerts",
            id="module-missing",
        ),
    ],
)
def test_a_notifier_that_cannot_work_fails_the_dag_import_naming_offering_and_entry(
    notification: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigurationError) as error:
        build_dags(config(notification))
    assert expected in str(error.value)
    if notification["notifier"] == "slack":
        assert "install apache-airflow-providers-slack" in str(error.value)


def test_a_plugged_in_notifier_gets_connection_options_and_the_subject_heading_the_text() -> None:
    offering = config(
        {
            "events": ["drift"],
            "notifier": "tests.dags.test_notifications:RecordingNotifier",
            "conn_id": "chat_default",
            "options": {"room": "billing"},
        }
    ).offerings[0]
    [notifier] = notifiers_for(
        offering, "drift", message=lambda context: AlertMessage("Drift in 2026-10", "2 differences")
    )
    SENT.clear()

    notifier({"run_id": "scheduled__x"})

    assert SENT == [
        {"chat_conn_id": "chat_default", "text": "Drift in 2026-10\n\n2 differences", "room": "billing"}
    ]


def test_drift_needs_the_audit_s_message_and_unknown_events_are_refused() -> None:
    offering = config(smtp(["drift"], to="ops@example.org")).offerings[0]
    with pytest.raises(ConfigurationError, match="the 'drift' alert needs a message builder"):
        notifiers_for(offering, "drift")
    with pytest.raises(ConfigurationError, match="unknown notification event 'landed'"):
        notifiers_for(offering, "landed")


class PushTaskInstance:
    """The task instance a push's callback reads its own result (and held values) from."""

    dag_id = DAG_ID_PREFIX + "alerted_hpc"
    task_id = "push_to_waldur"
    map_index = 0

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result

    def xcom_pull(self, task_ids: str, map_indexes: int = -1, key: str = "return_value") -> Any:
        return self.result if key == "return_value" else None


class DagRun:
    run_id = "scheduled__2026-12-06"


def pushed(held: int) -> dict[str, Any]:
    anomaly = {
        "check": "jump",
        "policy": "hold",
        "backend_id": "g001",
        "component": "nodeHours",
        "why": "x1000",
    }
    return {
        "month": "2026-11",
        "dry_run": False,
        "changed": 2,
        "written": 2,
        "unchanged": 0,
        "skipped": 0,
        "failed": 0,
        "user_usages_written": 0,
        "issues": [],
        "failures": [],
        "held": held,
        "anomalies": [anomaly] if held else [],
    }


def test_a_close_that_held_values_is_not_closed_and_the_anomaly_alert_links_the_approval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example/")
    offering = config(
        {
            "events": ["month_closed", "anomaly"],
            "notifier": "tests.dags.test_notifications:RecordingNotifier",
            "conn_id": "chat_default",
        }
    ).offerings[0]
    [closed] = notifiers_for(offering, "month_closed")
    [anomaly] = notifiers_for(offering, "anomaly")
    SENT.clear()

    held = {"ti": PushTaskInstance(pushed(held=2)), "dag_run": DagRun(), "run_id": DagRun.run_id}
    closed(held)
    anomaly(held)
    clean = {"ti": PushTaskInstance(pushed(held=0)), "dag_run": DagRun(), "run_id": DagRun.run_id}
    closed(clean)
    anomaly(clean)

    texts = [sent["text"] for sent in SENT]
    assert len(texts) == 2
    assert texts[0].startswith(
        "[cscs-dwdi] Alerted HPC 2026-11: 1 anomaly(ies), 2 value(s) held for approval"
    )
    assert (
        "http://airflow.example/dags/cscs_dwdi_usage_alerted_hpc/runs/scheduled__2026-12-06/tasks/"
        "approve_held_values/required_actions?map_index=0"
    ) in texts[0]
    assert texts[1].startswith("[cscs-dwdi] Alerted HPC 2026-11: month closed")


def test_the_approval_carries_the_close_and_the_timeout_alerts() -> None:
    dags = build_dags(config(smtp(["month_closed", "anomaly"], to="ops@example.org")))
    closing = dags[CLOSING_DAG_ID_PREFIX + "alerted_hpc"]
    daily = dags[DAG_ID_PREFIX + "alerted_hpc"]

    assert events_of(closing.get_task("push_to_waldur").on_success_callback) == ["anomaly", "month_closed"]
    assert events_of(closing.get_task("approve_held_values").on_success_callback) == ["month_closed"]
    assert events_of(daily.get_task("approve_held_values").on_failure_callback) == ["anomaly"]
    assert not daily.get_task("approve_held_values").on_success_callback
