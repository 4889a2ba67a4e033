"""Assets end to end: a push run by ``dag.test()`` emits one event on the offering's Asset, a dry run none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_cscs_dwdi.core.billed_totals import billed_totals_checksum
from airflow_provider_cscs_dwdi.core.report import UsageReport
from sandbox.airflow_runs import xcom_results
from sandbox.stack import SandboxStack
from tests.e2e.assets_support import asset_events
from tests.e2e.support import last_month, run
from tests.fixtures.airflow_env import task_states

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

ASSET = {"name": "cscs_dwdi_usage_e2e_hpc", "uri": "cscs-dwdi://6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f/compute"}


def test_a_push_emits_the_billing_event_and_a_dry_run_emits_none(stack: SandboxStack) -> None:
    month = last_month()
    now = datetime.now(UTC)

    dry = run(stack, now, month=month, dry_run=True)
    assert str(dry.state) == "success", task_states(dry)
    assert asset_events(dry) == []

    pushed = run(stack, now + timedelta(seconds=1), month=month)
    assert str(pushed.state) == "success", task_states(pushed)
    [event] = asset_events(pushed)
    result = xcom_results(pushed, "push_to_waldur")[0]
    report = UsageReport.from_xcom(xcom_results(pushed, "aggregate_usage")[0])
    assert {"name": event["name"], "uri": event["uri"]} == ASSET
    assert event["extra"] == {
        "offering_uuid": "6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f",
        "month": month,
        "usage_kind": "compute",
        "closed": False,
        "written": 5,
        "unchanged": 0,
        "user_usages_written": result["user_usages_written"],
        "issues": 0,
        "resources_billed": 5,
        "checksum": billed_totals_checksum(report),
    }
    assert result["written"] == 5
