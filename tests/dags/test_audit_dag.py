"""The drift audit DAG of an offering: its schedule, trigger form and task chain."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from airflow_provider_cscs_dwdi.core.config import load_config
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.dag_factory import AUDIT_DAG_ID_PREFIX, build_dags
from tests.dags.test_dag_factory import EXAMPLE

AUDIT = AUDIT_DAG_ID_PREFIX + "cscs_hpc_daint"


@pytest.fixture(scope="module")
def dags() -> dict:
    return build_dags(load_config(EXAMPLE))


def with_audit(tmp_path: Path, audit: object) -> Path:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["offerings"][0]["audit"] = audit
    path = tmp_path / "offerings.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_weekly_by_default_one_run_at_a_time_in_the_billing_time_zone(dags: dict) -> None:
    dag = dags[AUDIT]

    assert dag.schedule == "@weekly"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.timezone.name == "Europe/Zurich"
    assert "audit" in dag.tags
    assert "repair_month" in dag.doc_md


def test_null_schedule_leaves_the_audit_to_manual_runs_and_months_reach_the_plan(tmp_path: Path) -> None:
    dag = build_dags(load_config(with_audit(tmp_path, {"schedule": None, "months": 5})))[AUDIT]

    assert dag.schedule is None
    assert dag.get_task("audit_months").months == 5


def test_unusable_audit_schedule_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"audit\.schedule: 'now and then' is not a schedule"):
        build_dags(load_config(with_audit(tmp_path, {"schedule": "now and then"})))


def test_trigger_form_has_repair_month_and_dry_run(dags: dict) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    params = dags[AUDIT].params

    assert params.validate() == {"repair_month": None, "dry_run": False}
    assert params.get_param("repair_month").resolve(value="2026-10") == "2026-10"
    with pytest.raises(ParamValidationError):
        params.get_param("repair_month").resolve(value="October")


def test_task_chain_reuses_fetch_and_aggregate_and_reads_the_push_archives(dags: dict) -> None:
    dag = dags[AUDIT]
    chain = [
        "list_backend_ids",
        "audit_months",
        "fetch_usage",
        "aggregate_usage",
        "audit_waldur",
        "approve_held_values",
    ]

    assert set(dag.task_ids) == set(chain)
    for upstream, downstream in itertools.pairwise(chain):
        assert downstream in dag.get_task(upstream).downstream_task_ids, upstream
    audit = dag.get_task("audit_waldur")
    assert audit.retries == 0
    # The repair's held corrections are asked for even when the re-audit still fails on them.
    assert dag.get_task("approve_held_values").trigger_rule == "all_done"
    assert [root.rsplit("/", 1)[1] for root in audit.pushed_archive_roots] == [
        "cscs_dwdi_usage_cscs_hpc_daint",
        "cscs_dwdi_close_cscs_hpc_daint",
    ]
