"""`make demo`, the README's first command: the whole pipeline against the sandbox, in a process of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
