"""OpenLineage of the operators: optional (they import and run without the provider) and secret-free.

The events themselves are checked end to end in tests/e2e/test_lineage.py.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk import DAG

from airflow_provider_cscs_dwdi.operators._lineage import archive_dataset, dwdi_dataset, http_namespace
from airflow_provider_cscs_dwdi.operators.aggregate import AggregateUsageOperator
from airflow_provider_cscs_dwdi.operators.fetch import FetchMonthlyUsageOperator
from tests.operators.test_fetch import ACCOUNTS, COMPONENTS, CONN_ID, DAG_ID
from tests.operators.test_fetch import dwdi_connection as dwdi_connection

#: What the operators' lineage code imports: the client library and the provider's extractors. The
#: provider package itself stays importable, Airflow's provider discovery reads its metadata.
OPENLINEAGE_MODULES = ("openlineage", "airflow.providers.openlineage.extractors")


def test_the_operators_and_the_dag_file_import_without_the_openlineage_provider() -> None:
    # A fresh interpreter in which importing OpenLineage fails, as on an install without the extra.
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in OPENLINEAGE_MODULES)
    script = (
        f"import sys; {blocked}\n"
        "import airflow_provider_cscs_dwdi.operators.fetch, airflow_provider_cscs_dwdi.operators.aggregate\n"
        "import airflow_provider_cscs_dwdi.operators.push, airflow_provider_cscs_dwdi.dag_factory\n"
        "from airflow_provider_cscs_dwdi.operators._lineage import operator_lineage\n"
        "try:\n"
        "    operator_lineage(None)\n"
        "except ImportError:\n"
        "    print('only the lineage method needs OpenLineage')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "only the lineage method needs OpenLineage"


def test_fetch_and_aggregate_run_without_openlineage_and_keep_what_they_read_and_wrote(
    dwdi_connection: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in OPENLINEAGE_MODULES:
        monkeypatch.setitem(sys.modules, name, None)  # any import of it now fails
    month = f"{datetime.now(UTC):%Y-%m}"
    with DAG(DAG_ID, schedule=None):
        fetch = FetchMonthlyUsageOperator(
            task_id="fetch_usage",
            dwdi_conn_id=CONN_ID,
            month=month,
            accounts=ACCOUNTS,
            archive_path=f"file://{tmp_path}",
        )
        aggregate = AggregateUsageOperator(
            task_id="aggregate_usage", fetch_result={}, backend_components=COMPONENTS
        )
    context = {"run_id": "manual__1", "dag_run": SimpleNamespace(run_after=datetime.now(UTC))}

    fetched = fetch.execute(context)  # type: ignore[arg-type]
    aggregate.fetch_result = fetched
    aggregate.execute({})  # type: ignore[arg-type]

    assert fetch._lineage is not None
    assert aggregate._lineage is not None
    (dwdi_input,) = fetch._lineage.inputs
    assert dwdi_input.name == f"/api/v1/compute/usage-month-multiaccount?month={month}"
    assert fetch._lineage.outputs == aggregate._lineage.inputs
    assert fetch._lineage.outputs[0].name == fetched["archive"].removeprefix("file://")
    assert fetch._lineage.counts == {
        "pages": fetched["pages"],
        "entries": fetched["entries"],
        "user_rows": fetched["user_rows"],
    }


def test_dataset_names_carry_no_credentials() -> None:
    assert http_namespace("https://user:pa55@dwdi.example.org/prefix") == "https://dwdi.example.org:443"
    assert dwdi_dataset(
        "https://dwdi.example.org:8443/dwdi", "/api/v1/storage/usage-month", "2026-11"
    ).name == ("/dwdi/api/v1/storage/usage-month?month=2026-11")
    s3 = archive_dataset("s3://minio_conn@billing/dwdi/cscs_dwdi_usage_x/2026-11/run.jsonl.gz")
    assert (s3.namespace, s3.name) == ("s3://billing", "dwdi/cscs_dwdi_usage_x/2026-11/run.jsonl.gz")
