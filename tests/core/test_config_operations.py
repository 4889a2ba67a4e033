"""The offerings YAML's operations keys: the drift audit and the notifications."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_cscs_dwdi.core.config import (
    AuditSettings,
    NotificationSettings,
    OfferingsConfig,
    parse_config,
)
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError

EXAMPLE = Path(__file__).resolve().parents[2] / "dags" / "cscs_dwdi_offerings.example.yaml"
FIRST = "offering 'CSCS HPC Daint' (#1)"
MAIL = {"events": ["failure", "drift"], "notifier": "smtp", "conn_id": "smtp_ops", "options": {"to": "ops@x"}}


def parse_with(top: dict[str, Any] | None = None, first: dict[str, Any] | None = None) -> OfferingsConfig:
    document = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    document.update(top or {})
    document["offerings"][0].update(first or {})
    return parse_config(document, source="offerings.yaml")


def test_audit_defaults_to_weekly_over_three_closed_months() -> None:
    assert parse_with().offerings[0].audit == AuditSettings(schedule="@weekly", months=3)


def test_audit_schedule_null_keeps_the_audit_for_runs_by_hand() -> None:
    offering = parse_with(first={"audit": {"schedule": None, "months": 6}}).offerings[0]
    assert offering.audit == AuditSettings(schedule=None, months=6)


@pytest.mark.parametrize(
    ("audit", "message"),
    [
        ({"months": 0}, "audit.months: expected a whole number from 1 to 24, got 0"),
        ({"months": True}, "audit.months: expected a whole number from 1 to 24, got True"),
        ({"schedule": ""}, "audit.schedule: expected a cron expression, a preset such as @weekly, or null"),
        ({"every": "week"}, "unknown key(s) at audit: every (allowed: months, schedule)"),
        ("weekly", "audit: expected a mapping (schedule, months), got str 'weekly'"),
    ],
)
def test_a_wrong_audit_setting_names_offering_and_field(audit: Any, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_with(first={"audit": audit})
    assert str(raised.value).startswith(f"offerings.yaml: {FIRST}: {message}")


def test_notifications_of_the_file_come_first_then_the_offerings_own() -> None:
    own = {"events": ["issues"], "notifier": "slack", "conn_id": "slack_ops"}
    config = parse_with(top={"notifications": [MAIL]}, first={"notifications": [own]})
    daint, alps = config.offerings[:2]

    mail = NotificationSettings(("failure", "drift"), "smtp", "smtp_ops", {"to": "ops@x"})
    assert daint.notifications == (mail, NotificationSettings(("issues",), "slack", "slack_ops", {}))
    assert alps.notifications == (mail,)


def test_a_notifier_class_path_is_accepted_and_events_are_listed_once() -> None:
    entry = {
        "events": ["month_closed", "month_closed"],
        "notifier": "my_site.alerts:PagerNotifier",
        "conn_id": "p",
    }
    (notification,) = parse_with(first={"notifications": [entry]}).offerings[0].notifications
    assert (notification.notifier, notification.events) == ("my_site.alerts:PagerNotifier", ("month_closed",))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"events": ["failed"]},
            "notifications[1].events: unknown event 'failed' (expected: failure, issues, drift",
        ),
        (
            {"events": []},
            "notifications[1].events: expected a non-empty list of failure, issues, drift, month_closed",
        ),
        (
            {"notifier": "mail"},
            "notifications[1].notifier: expected smtp or slack or 'package.module:ClassName'",
        ),
        ({"conn_id": "smtp ops"}, "notifications[1].conn_id: not a valid Airflow connection id: 'smtp ops'"),
        ({"options": {"password": "x"}}, "notifications[1].options: 'password' looks like a credential"),
        (
            {"options": {"webhook_url": "x"}},
            "notifications[1].options: 'webhook_url' looks like a credential",
        ),
        ({"channel": "#ops"}, "unknown key(s) at notifications[1]: channel"),
    ],
)
def test_a_wrong_notification_names_offering_entry_and_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_with(first={"notifications": [{**MAIL, **change}]})
    assert str(raised.value).startswith(f"offerings.yaml: {FIRST}: {message}")


def test_a_wrong_file_wide_notification_names_the_entry() -> None:
    del_conn = {key: value for key, value in MAIL.items() if key != "conn_id"}
    with pytest.raises(ConfigurationError, match=r"^offerings\.yaml: notifications\[1\]\.conn_id: required$"):
        parse_with(top={"notifications": [del_conn]})


def test_a_credential_in_options_is_not_repeated_in_the_error() -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_with(first={"notifications": [{**MAIL, "options": {"smtp_password": "hunter2-secret"}}]})
    assert "hunter2-secret" not in str(raised.value)


@pytest.mark.parametrize(("entry", "shown"), [("smtp please", "str 'smtp please'"), (["smtp"], "list")])
def test_a_notification_that_is_not_a_mapping_says_what_one_holds(entry: Any, shown: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_with(first={"notifications": [entry]})
    assert str(raised.value).startswith(
        f"offerings.yaml: {FIRST}: notifications[1]: expected a mapping (events, notifier, conn_id, options), got {shown}"
    )
