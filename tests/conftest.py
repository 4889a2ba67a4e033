"""Test-session set-up shared by every test module.

Airflow reads its configuration when first imported, so the environment below is fixed here,
before any test module can import it: an isolated AIRFLOW_HOME with an embedded SQLite database,
no example DAGs, and the repository's dags/ folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

_AIRFLOW_HOME = Path(
    os.environ.get("CSCS_DWDI_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="cscs-dwdi-airflow-")
)
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
# Unit-test mode would otherwise swap the DAGs' timetables for cron data intervals.
os.environ.setdefault("AIRFLOW__SCHEDULER__CREATE_CRON_DATA_INTERVALS", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (REPO_ROOT / "tests" / "fixtures").glob("*.py")
    if path.stem != "__init__"
)
