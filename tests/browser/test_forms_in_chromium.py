"""The forms a person uses in Airflow's own UI, in a real browser: Debian's Chromium, driven by
Playwright, against a real ``airflow api-server`` started by the two check scripts.

- ``scripts/check_trigger_form.py``: no field of the closing DAG's trigger form is required, and
  the form says which month a run triggered now closes.
- ``scripts/check_connection_test_button.py``: the connection list's Test button reaches the
  sandbox (real OIDC issuer, DWDI and Waldur doubles) for both connection types, with the port in
  the URL or in the Port field; a wrong secret fails without showing the secret.

Each script exits 0 only when every expectation it prints held; this module runs them as a reader
would and also checks the lines that carry the verdicts. Under CI=true a missing /usr/bin/chromium
fails the test; elsewhere it is skipped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.chromium import need_chromium

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.deployment, pytest.mark.timeout(900)]


def run_check(script: str, screenshots: Path) -> str:
    need_chromium()
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / script), "--screenshots", str(screenshots)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=840,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return output


def test_the_trigger_form_has_no_required_field_and_says_the_month_it_closes(tmp_path: Path) -> None:
    output = run_check("check_trigger_form.py", tmp_path)

    for title in ("Month to close", "Accounts", "Dry run", "Reconcile"):
        assert f"ok   field {title!r}: optional" in output, output
    assert "ok   the form says a run triggered now closes" in output, output
    assert (tmp_path / "trigger-form.png").stat().st_size > 0


def test_the_connection_test_button_reaches_the_sandbox_for_both_types(tmp_path: Path) -> None:
    output = run_check("check_connection_test_button.py", tmp_path)

    verdicts = [line for line in output.splitlines() if line.startswith(("ok   Test", "FAIL"))]
    # Eight connections saved through the REST API as the form sends them, one through the form
    # itself, and the two portless ones again once their port was typed into the edit dialog.
    assert len(verdicts) == 11, output
    assert all(line.startswith("ok   Test") for line in verdicts), output
    assert "OK: every Test button showed what was expected" in output
    assert (tmp_path / "connection-list.png").stat().st_size > 0
