"""The view tests' data: a real pipeline run once for the package, as an operator's month looks.

The e2e compute offering against a fresh sandbox (dag.test, real XCom in the session's SQLite
database): the closing DAG closes last month, two daily runs push this month to date, the drift
audit checks last month. The sandbox stays up so tests can ask it for its expected totals.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_cscs_dwdi.core.config import load_config
from airflow_provider_cscs_dwdi.dag_factory import (
    AUDIT_DAG_ID_PREFIX,
    CLOSING_DAG_ID_PREFIX,
    CONFIG_ENV_VAR,
    load_dags_from_env,
)
from sandbox.stack import SandboxStack
from tests.e2e.conftest import COMPUTE_OFFERING
from tests.e2e.support import (
    ISSUER_CLIENT_ID,
    ISSUER_CLIENT_SECRET,
    month_of,
    month_to_date_instant,
    operators_clock_at,
)
from tests.fixtures.airflow_env import task_states

# A slug of its own: the session's metadata database also holds the e2e tests' runs of e2e_hpc,
# which must not show up as this offering's pushes.
SLUG = "view_hpc"
VIEWED_OFFERING = {**COMPUTE_OFFERING, "slug": SLUG, "audit": {"schedule": None, "months": 1}}


def _run(dag_id: str, logical_date: datetime, **conf: Any) -> Any:
    dag = load_dags_from_env()[dag_id]
    for task in dag.tasks:
        task.retries = 0
    dag_run = dag.test(logical_date=logical_date, run_conf=conf or None)
    assert str(dag_run.state) == "success", task_states(dag_run)
    return dag_run


@contextmanager
def offering_stack(oidc_issuer: Any, root: Path, offering: dict[str, Any]) -> Iterator[SandboxStack]:
    """A sandbox of ``offering`` (archive under ``root``) with its offerings file and connections
    in the environment, which is restored afterwards."""
    config_file = root / "offerings.yaml"
    config_file.write_text(
        yaml.safe_dump({"offerings": [{**offering, "archive_path": f"file://{root}/archive"}]})
    )
    saved = dict(os.environ)
    os.environ[CONFIG_ENV_VAR] = str(config_file)
    stack = SandboxStack(
        load_config(config_file).offerings,
        accounts_per_offering=5,
        external_issuer=(oidc_issuer.realm_url, oidc_issuer.jwks_url, oidc_issuer.token_url),
        client_id=ISSUER_CLIENT_ID,
        client_secret=ISSUER_CLIENT_SECRET,
    )
    stack.start()
    try:
        os.environ.update(stack.connection_env())
        yield stack
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="package")
def pushed(
    oidc_issuer: Any, airflow_db: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("view")
    with offering_stack(oidc_issuer, root, VIEWED_OFFERING) as stack:
        # The sandbox's day at 13:00 UTC, on the operators' clock too: the month to date can be
        # dated then whatever the wall clock says (the first hours of a month included).
        now = month_to_date_instant(stack)
        first_of_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        month = month_of(now)
        with operators_clock_at(now):
            # A manual run at a month's start closes the month that just ended.
            _run(CLOSING_DAG_ID_PREFIX + SLUG, first_of_month)
            daily = [
                _run("cscs_dwdi_usage_" + SLUG, now + timedelta(seconds=offset), month=month)
                for offset in (1, 2)
            ]
            audit = _run(AUDIT_DAG_ID_PREFIX + SLUG, now + timedelta(seconds=3))
        yield {
            "stack": stack,
            "item": stack.seeded[0],
            "month": month,
            "closed_month": month_of(first_of_month - timedelta(days=1)),
            "daily_runs": [run.run_id for run in daily],
            "audit_run": audit.run_id,
            "root": root,
        }
