"""Test-session set-up shared by every test module.

Airflow reads its configuration when first imported, so the environment below is fixed here,
before any test module can import it: an isolated AIRFLOW_HOME with an embedded SQLite database,
no example DAGs, and the repository's dags/ folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from xdist.scheduler import LoadGroupScheduling

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

# The modules that start real servers (Airflow processes, PostgreSQL, Waldur, a browser) take most of
# the suite's time, much of it waiting. `make test` spreads whole modules over several pytest-xdist
# workers; started first, the long ones overlap, and the many short modules fill in around them.
LONG_RUNNING_MARKS = ("deployment", "real_waldur", "packaging")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not any(item.get_closest_marker(mark) for mark in LONG_RUNNING_MARKS))


class ModuleScheduling(LoadGroupScheduling):
    """xdist's ``loadgroup`` scheduling with whole modules as the default unit, not single tests.

    A module's fixtures (a Waldur server, an Airflow deployment) are set up once, on one worker. Modules
    that must not run at the same time share an ``xdist_group`` mark, which makes them one unit.
    """

    def _split_scope(self, nodeid: str) -> str:
        group = super()._split_scope(nodeid)  # the group's name, or the node id when it has none
        return nodeid.split("::", 1)[0] if group == nodeid else group


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> ModuleScheduling | None:
    if config.getvalue("dist") != "loadgroup":
        return None
    return ModuleScheduling(config, log)
