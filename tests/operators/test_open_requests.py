"""One open approval request per offering and month, across the offering's DAGs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_cscs_dwdi.operators._open_requests import (
    OPEN_REQUEST_FILE,
    Requester,
    claim_request,
    open_request,
    release_request,
)
from sandbox.waldur_server import WaldurSandbox
from tests.operators.support import Offering
from tests.operators.test_guard import GUARD, TaskInstance, answered, approval, approval_ti, held_push

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
DAILY = Requester("cscs_dwdi_usage_hpc", "scheduled__2026-12-01T00:00:00+00:00", 0)
CLOSE = Requester("cscs_dwdi_close_hpc", "scheduled__2026-11-01T00:00:00+00:00", 0)


@pytest.fixture
def root(tmp_path: Path) -> str:
    return f"file://{tmp_path}/archive/cscs_dwdi_usage_hpc"


def test_a_second_requester_of_the_month_finds_the_first_until_it_is_released(root: str) -> None:
    assert claim_request(root, "2026-11", DAILY, now=NOW, until=NOW + timedelta(hours=24)) is None
    assert claim_request(root, "2026-11", CLOSE, now=NOW, until=NOW + timedelta(hours=24)) == DAILY
    # Another month is another request; the same requester may claim again (a retry).
    assert claim_request(root, "2026-10", CLOSE, now=NOW, until=NOW + timedelta(hours=24)) is None
    assert claim_request(root, "2026-11", DAILY, now=NOW, until=NOW + timedelta(hours=24)) is None
    release_request(root, "2026-11", CLOSE)  # not its record: kept
    assert open_request(root, "2026-11", now=NOW) == (DAILY, NOW + timedelta(hours=24))
    release_request(root, "2026-11", DAILY)
    assert open_request(root, "2026-11", now=NOW) is None
    assert claim_request(root, "2026-11", CLOSE, now=NOW, until=NOW + timedelta(hours=24)) is None


def test_an_unanswered_request_expires_with_its_timeout(root: str) -> None:
    claim_request(root, "2026-11", DAILY, now=NOW, until=NOW + timedelta(hours=1))
    later = NOW + timedelta(hours=1, seconds=1)
    assert open_request(root, "2026-11", now=later) is None
    assert claim_request(root, "2026-11", CLOSE, now=later, until=later + timedelta(hours=1)) is None


def test_an_unreadable_record_blocks_nothing(root: str, tmp_path: Path) -> None:
    record = tmp_path / "archive" / "cscs_dwdi_usage_hpc" / "2026-11" / OPEN_REQUEST_FILE
    record.parent.mkdir(parents=True)
    record.write_text("{not json")
    assert claim_request(root, "2026-11", CLOSE, now=NOW, until=NOW + timedelta(hours=1)) is None


@dataclass
class RunTaskInstance(TaskInstance):
    dag_id: str = DAILY.dag_id
    run_id: str = DAILY.run_id


def test_the_approval_of_a_month_asked_elsewhere_skips_and_its_answer_releases_the_month(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering], root: str
) -> None:
    offering, report, _, push_ti = held_push(waldur_sandbox, seed)
    month = report["month"]
    pulled = approval_ti(push_ti, report).documents
    closing = RunTaskInstance(pulled, map_index=0, dag_id=CLOSE.dag_id, run_id=CLOSE.run_id)
    operator = approval(offering, anomaly_guard=GUARD, pushed_archive_roots=[root])
    operator.push_result = None  # as in the audit DAG: the held values are read from XCom alone
    # The daily run's request of the month is open: the closing run's approval asks nothing.
    claim_request(root, month, DAILY, now=NOW, until=NOW + timedelta(days=365))
    with pytest.raises(
        AirflowSkipException, match=rf"An approval of {month} is already open \(DAG cscs_dwdi_usage_hpc"
    ):
        operator.execute({"ti": closing})  # type: ignore[arg-type]
    # Once the daily run's request is answered, the month is free again.
    daily = RunTaskInstance(pulled, map_index=0)
    approval(offering, anomaly_guard=GUARD, pushed_archive_roots=[root]).execute_complete(
        {"ti": daily},  # type: ignore[arg-type]
        answered("Reject"),
    )
    assert open_request(root, month, now=datetime.now(UTC)) is None
