"""FetchMonthlyUsageOperator (the fetch_usage task) against the DWDI double and the real OIDC issuer.

The fetch archives DWDI's answers as they came and returns a small FetchResult pointing at them;
the aggregate task, given that result, reports the exact sums of the generated rows.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException

from airflow_provider_cscs_dwdi.core.archive import read_archive
from airflow_provider_cscs_dwdi.core.xcom import FetchResult
from airflow_provider_cscs_dwdi.operators.aggregate import AggregateUsageOperator
from airflow_provider_cscs_dwdi.operators.fetch import FetchMonthlyUsageOperator
from sandbox.dwdi_server import DWDISandbox

CONN_ID = "dwdi_fetch_test"
DAG_ID = "cscs_dwdi_usage_fetch_test"
ACCOUNTS = ["g001", "g002", "zz404"]  # zz404 is no DWDI account: it is reported with zero usage
COMPONENTS = {"nodeHours": {"measured_unit": "node-hours", "accounting_type": "usage", "label": "Node Hours"}}


@pytest.fixture
def dwdi_connection(set_connection: Callable[..., None], dwdi_sandbox: DWDISandbox, oidc_issuer: Any) -> str:
    set_connection(
        CONN_ID,
        conn_type="cscs_dwdi",
        host=dwdi_sandbox.url,
        login="dwdi-client",
        password="dwdi-secret",
        extra={"oidc_endpoint_url": oidc_issuer.token_url, "timeout_seconds": 10},
    )
    return CONN_ID


def run_fetch(archive_root: Path, month: str, **kwargs: Any) -> dict[str, Any]:
    with DAG(DAG_ID, schedule=None):
        operator = FetchMonthlyUsageOperator(
            task_id="fetch_usage",
            dwdi_conn_id=CONN_ID,
            month=month,
            archive_path=f"file://{archive_root}",
            **kwargs,
        )
    run_after = datetime.now(UTC)
    context = {"run_id": "manual__2026-11-23T10:00:00+00:00", "dag_run": SimpleNamespace(run_after=run_after)}
    return operator.execute(context)  # type: ignore[arg-type]


def test_the_fetch_archives_what_dwdi_said_and_returns_where(
    dwdi_connection: str, dwdi_sandbox: DWDISandbox, tmp_path: Path
) -> None:
    month = f"{datetime.now(UTC):%Y-%m}"

    doc = run_fetch(tmp_path, month, accounts=ACCOUNTS, clusters=["Daint"])

    fetch = FetchResult.from_xcom(json.loads(json.dumps(doc)))
    archive = tmp_path / DAG_ID / month / "manual__2026-11-23T10_00_00_00_00.jsonl.gz"
    assert fetch.archive == f"file://{archive}"
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == fetch.archive_sha256
    assert archive.stat().st_size == fetch.archive_bytes
    assert (fetch.month, fetch.accounts_requested) == (month, 3)
    assert fetch.query == {"from": month, "to": month, "clusters": ["daint"]}
    assert fetch.accounts_sha256 == hashlib.sha256(json.dumps(sorted(ACCOUNTS)).encode()).hexdigest()
    with archive.open("rb") as raw:
        header, pages = read_archive(raw)
        bodies = [page["body"] for page in pages]
    assert header["accounts"] == sorted(ACCOUNTS)
    assert fetch.pages == len(bodies) >= 1
    assert fetch.entries == sum(len(body["compute"]) for body in bodies)
    assert fetch.user_rows == sum(
        len(entry.get("users") or []) for body in bodies for entry in body["compute"]
    )
    assert len(json.dumps(doc)) < 2048


def test_the_aggregate_task_reports_the_exact_sums_of_what_the_fetch_archived(
    dwdi_connection: str, dwdi_sandbox: DWDISandbox, tmp_path: Path
) -> None:
    month = f"{datetime.now(UTC):%Y-%m}"
    fetched = run_fetch(tmp_path, month, accounts=ACCOUNTS)

    report = AggregateUsageOperator(
        task_id="aggregate_usage", fetch_result=fetched, backend_components=COMPONENTS
    ).execute({})  # type: ignore[arg-type]

    expected = dwdi_sandbox.dataset.expected_totals(month, accounts=ACCOUNTS)
    cent = Decimal("0.01")
    assert {name: data["total"]["nodeHours"] for name, data in report["accounts"].items()} == {
        name: str(sums["total"]["nodeHours"].quantize(cent, rounding=ROUND_HALF_UP))
        for name, sums in expected.items()
    }
    assert report["accounts"]["zz404"] == {"total": {"nodeHours": "0.00"}, "users": {}}
    assert report["window"] == fetched["window"]


def test_an_archive_on_another_workers_disk_fails_the_aggregate_naming_both_hosts_and_the_fix(
    dwdi_connection: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    month = f"{datetime.now(UTC):%Y-%m}"
    monkeypatch.setattr(socket, "gethostname", lambda: "worker-a")
    fetched = run_fetch(tmp_path / "worker-a-disk", month, accounts=ACCOUNTS)
    # The aggregate task lands on another Celery worker, whose local disk has no such file.
    monkeypatch.setattr(socket, "gethostname", lambda: "worker-b")
    archive = Path(fetched["archive"].removeprefix("file://"))
    archive.rename(tmp_path / "elsewhere.jsonl.gz")

    with pytest.raises(AirflowException) as raised:
        AggregateUsageOperator(
            task_id="aggregate_usage", fetch_result=fetched, backend_components=COMPONENTS
        ).execute({})  # type: ignore[arg-type]

    message = str(raised.value)
    assert fetched["host"] == "worker-a"
    assert f"Archive file://{archive} written on host worker-a is not readable on host worker-b" in message
    assert "archive_path is the worker's local disk (file://)" in message
    assert "set archive_path to storage they all reach (e.g. archive_path: s3://" in message
    assert "nothing was pushed" in message


def test_a_missing_archive_with_equal_hostnames_says_the_hosts_cannot_be_told_apart(
    dwdi_connection: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    month = f"{datetime.now(UTC):%Y-%m}"
    # Two containers that share the hostname "airflow-worker", each with its own local disk.
    monkeypatch.setattr(socket, "gethostname", lambda: "airflow-worker")
    fetched = run_fetch(tmp_path / "container-1-disk", month, accounts=ACCOUNTS)
    Path(fetched["archive"].removeprefix("file://")).unlink()

    with pytest.raises(AirflowException) as raised:
        AggregateUsageOperator(
            task_id="aggregate_usage", fetch_result=fetched, backend_components=COMPONENTS
        ).execute({})  # type: ignore[arg-type]

    message = str(raised.value)
    assert "written on host airflow-worker is not readable on host airflow-worker" in message
    assert "the hosts cannot be told apart" in message
    assert "the archive location is not shared between workers" in message
    assert "give each worker a distinct hostname" in message
    assert "re-run" not in message.lower()


def test_an_empty_account_list_asks_dwdi_nothing_and_archives_the_header(
    dwdi_connection: str, dwdi_sandbox: DWDISandbox, tmp_path: Path
) -> None:
    dwdi_sandbox.reset_requests()

    fetch = FetchResult.from_xcom(run_fetch(tmp_path, "2025-01", accounts=[]))

    assert (fetch.pages, fetch.entries, fetch.user_rows, fetch.accounts_requested) == (0, 0, 0, 0)
    assert dwdi_sandbox.requests == []
    assert fetch.window == {"from": "2025-01-01", "to": "2025-01-31"}


def test_the_window_of_a_month_ends_on_the_day_of_the_fetch_clock(
    dwdi_connection: str, tmp_path: Path
) -> None:
    # The 10th, 00:30 in Zurich is still the 9th in UTC: the day is read in the billing time zone.
    clock = datetime(2025, 1, 9, 23, 30, tzinfo=UTC)

    fetch = FetchResult.from_xcom(
        run_fetch(tmp_path, "2025-01", accounts=[], billing_timezone="Europe/Zurich", clock=lambda: clock)
    )

    assert fetch.window == {"from": "2025-01-01", "to": "2025-01-10"}
