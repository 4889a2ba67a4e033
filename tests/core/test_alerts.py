"""Alert messages: what a mail says about a push, from its counts alone."""

from __future__ import annotations

from dataclasses import replace

from airflow_provider_cscs_dwdi.core.alerts import (
    RunLabel,
    failure_message,
    issue_count,
    issues_message,
    month_closed_message,
)
from airflow_provider_cscs_dwdi.core.issues import Issue
from tests.core.xcom_samples import STORAGE_PUSH

RUN = RunLabel(
    "CSCS Storage", "7a1c3e5f9b2d4f608e1a2b3c4d5e6f70", "cscs_dwdi_usage_cscs_storage", "scheduled__1"
)
# A storage push that wrote 3 resources, left 7 unchanged and reported no issue.
CLEAN = replace(STORAGE_PUSH, changed=3, written=3, unchanged=7, without_data_count=0, without_data=())


def test_a_clean_push_has_no_issue_alert_and_a_dry_run_never_has_one() -> None:
    assert issue_count(CLEAN) == 0
    assert issues_message(RUN, CLEAN) is None
    without_data = replace(CLEAN, without_data_count=2, without_data=("c2p005", "c2p006"))
    assert issues_message(RUN, replace(without_data, dry_run=True)) is None


def test_the_issue_alert_counts_skipped_records_and_paths_without_data() -> None:
    skipped = Issue(kind="negative_value", message="page 0, storage[3]: spaceUsed -1 is negative: skipped")
    result = replace(
        CLEAN, skipped=1, issues=(skipped,), without_data_count=2, without_data=("c2p005", "c2p006")
    )

    message = issues_message(RUN, result)

    assert message is not None
    assert message.subject == "[cscs-dwdi] CSCS Storage 2026-11: pushed with 3 issue(s)"
    assert "Written: 3 resource(s), 0 user usage(s)\nUnchanged: 7 resource(s)\n" in message.body
    assert "Issues: 3 (skipped records: 1, storage paths without data: 2, refused writes: 0)" in message.body
    assert "  - page 0, storage[3]: spaceUsed -1 is negative: skipped" in message.body
    assert "No storage data from DWDI (not written): c2p005, c2p006" in message.body


def test_month_closed_and_failure_name_offering_month_and_run() -> None:
    closed = month_closed_message(RUN, CLEAN)
    assert (
        closed.subject
        == "[cscs-dwdi] CSCS Storage 2026-11: month closed (3 written, 7 unchanged, 0 issue(s))"
    )
    assert "DAG run: cscs_dwdi_usage_cscs_storage / scheduled__1" in closed.body

    failed = failure_message(RUN, month=None, failed_task="push_to_waldur[0]", reason="task_failure")
    assert failed.subject == "[cscs-dwdi] CSCS Storage from the run date: run failed"
    assert "Failed task: push_to_waldur[0]" in failed.body
    assert "Offering: CSCS Storage (7a1c3e5f9b2d4f608e1a2b3c4d5e6f70)" in failed.body


def test_the_anomaly_alert_names_counts_and_the_approval_link() -> None:
    from airflow_provider_cscs_dwdi.core.alerts import anomaly_message, approval_timeout_message

    anomaly = {
        "check": "cluster_missing",
        "policy": "hold",
        "backend_id": "c2p001",
        "component": "nodeHours",
        "why": "cluster eiger missing",
    }
    result = replace(CLEAN, written=2, held=3, anomalies=(anomaly,))
    url = "http://airflow.example/dags/d/runs/r/tasks/approve_held_values/required_actions?map_index=0"

    message = anomaly_message(RUN, result, url)

    assert message is not None
    assert message.subject == "[cscs-dwdi] CSCS Storage 2026-11: 1 anomaly(ies), 3 value(s) held for approval"
    assert "Anomalies: 1; held for approval: 3 value(s); written: 2 resource(s)" in message.body
    assert "cluster_missing (hold) c2p001 nodeHours: cluster eiger missing" in message.body
    assert f"Approve or reject the held values: {url}" in message.body
    assert anomaly_message(RUN, CLEAN, url) is None
    assert anomaly_message(RUN, replace(result, dry_run=True), url) is None
    timeout = approval_timeout_message(RUN, "2026-11", 3, url)
    assert (
        timeout.subject == "[cscs-dwdi] CSCS Storage 2026-11: approval timed out, 3 held value(s) not written"
    )
