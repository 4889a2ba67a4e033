"""`make demo`, the README's first command: the whole pipeline against the sandbox, in a process of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sandbox.demo import demo_month

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_the_demo_runs_every_kind_and_finds_waldur_equal_to_dwdi(tmp_path: Path) -> None:
    # The demo sets Airflow up itself; the suite's own Airflow settings must not reach it.
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW", "CSCS_DWDI")) and name != "PYTHONPATH"
    }
    done = subprocess.run(
        [sys.executable, "-m", "sandbox.demo", "--home", str(tmp_path / "airflow")],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=540,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "Demo OK (compute, inference, storage)" in done.stdout, output[-4000:]
    # Every daily DAG of the example ran to success, and the held value was approved and written.
    finished = re.findall(r"^(cscs_dwdi_usage_\S+): run \S+ finished (\w+)$", done.stdout, re.MULTILINE)
    assert len(finished) >= 3, finished
    assert {state for _, state in finished} == {"success"}, finished
    assert "approved by billing-reviewer" in done.stdout


@pytest.mark.parametrize(
    ("now", "month"),
    [
        # Before 12:10 UTC on the 1st a push cannot date the new month for Waldur: it writes nothing.
        (datetime(2027, 1, 1, 3, 0, tzinfo=UTC), "2026-12"),
        (datetime(2027, 1, 1, 12, 9, tzinfo=UTC), "2026-12"),
        (datetime(2027, 1, 1, 12, 11, tzinfo=UTC), "2027-01"),
        (datetime(2026, 12, 6, 10, 20, tzinfo=UTC), "2026-12"),
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), "2026-12"),
    ],
)
def test_the_demo_reports_the_latest_month_a_push_can_write(now: datetime, month: str) -> None:
    assert demo_month(now) == month
