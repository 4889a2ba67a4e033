"""The example downstream DAGs: one per offering, scheduled on that offering's billing Asset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_provider_cscs_dwdi.assets import billing_asset
from airflow_provider_cscs_dwdi.core.config import load_config
from airflow_provider_cscs_dwdi.invoicing_example import build_invoicing_dags

EXAMPLE = Path(__file__).resolve().parents[2] / "dags" / "cscs_dwdi_offerings.example.yaml"


def test_each_offering_has_an_invoicing_dag_on_its_own_asset() -> None:
    config = load_config(EXAMPLE)

    dags = build_invoicing_dags(config)

    assert list(dags) == [f"cscs_dwdi_invoicing_{offering.slug}" for offering in config.offerings]
    for offering, dag in zip(config.offerings, dags.values(), strict=True):
        asset = billing_asset(offering)
        assert asset.uri == f"cscs-dwdi://{offering.offering_uuid}/{offering.usage_kind.value}"
        assert asset.name == f"cscs_dwdi_usage_{offering.slug}"
        condition: Any = dag.timetable.asset_condition  # AssetAll of the schedule's assets
        [(name, uri)] = [(item.name, item.uri) for item in condition.objects]
        assert (name, uri) == (asset.name, asset.uri)
        assert [task.task_id for task in dag.tasks] == ["log_invoice_input"]
