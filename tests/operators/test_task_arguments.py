"""Operators read back, with the same model, the arguments the DAG factory dumped from the offering."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_cscs_dwdi.core.config import OfferingConfig, load_config
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.task_settings import Aggregation, DwdiSource, WaldurTarget
from airflow_provider_cscs_dwdi.dag_factory import build_offering_dag
from airflow_provider_cscs_dwdi.operators.aggregate import AggregateUsageOperator
from airflow_provider_cscs_dwdi.operators.fetch import FetchMonthlyUsageOperator
from airflow_provider_cscs_dwdi.operators.list_backend_ids import ListWaldurBackendIdsOperator
from tests.dags.test_dag_factory import EXAMPLE

UUID = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module", params=range(3), ids=["compute", "storage", "inference"])
def offering(request: pytest.FixtureRequest) -> OfferingConfig:
    kinds = {item.usage_kind.value: item for item in load_config(EXAMPLE).offerings}
    return kinds[["compute", "storage", "inference"][request.param]]


def test_the_factory_hands_each_task_its_models_json(offering: OfferingConfig) -> None:
    dag = build_offering_dag(offering)
    listing = dag.get_task("list_backend_ids")
    assert isinstance(listing, ListWaldurBackendIdsOperator)
    assert listing.target == WaldurTarget.of(offering)
    for task_id in ("billing_months",):
        assert dag.get_task(task_id).target == WaldurTarget.of(offering)  # type: ignore[attr-defined]
    # Mapped tasks keep their arguments as given: exactly the models' JSON.
    fetch = dag.get_task("fetch_usage").partial_kwargs  # type: ignore[attr-defined]
    assert {name: fetch[name] for name in DwdiSource.model_fields} == DwdiSource.of(offering).arguments()
    aggregate = dag.get_task("aggregate_usage").partial_kwargs  # type: ignore[attr-defined]
    assert {name: aggregate[name] for name in Aggregation.model_fields} == Aggregation.of(
        offering
    ).arguments()
    push = dag.get_task("push_to_waldur").partial_kwargs  # type: ignore[attr-defined]
    assert {name: push[name] for name in WaldurTarget.model_fields} == WaldurTarget.of(offering).arguments()


def test_an_operator_reads_its_source_back_as_the_factory_dumped_it(offering: OfferingConfig) -> None:
    operator = FetchMonthlyUsageOperator(task_id="fetch", **DwdiSource.of(offering).arguments())
    assert operator.source == DwdiSource.of(offering)


def test_a_rendered_argument_that_does_not_read_fails_the_task_naming_it() -> None:
    operator = ListWaldurBackendIdsOperator(
        task_id="list", offering_uuid=UUID, billing_timezone="{{ params.zone }}"
    )
    operator.billing_timezone = "Mars/Base"  # as a template would render it
    with pytest.raises(AirflowFailException, match="Nothing was done: billing_timezone: unknown time zone"):
        _ = operator.target


def test_a_hand_built_operator_with_a_wrong_argument_breaks_the_dag_import() -> None:
    with pytest.raises(ConfigurationError, match="usage_kind"):
        FetchMonthlyUsageOperator(task_id="fetch", usage_kind="gpu")
    with pytest.raises(ConfigurationError, match="bad_value_policy"):
        AggregateUsageOperator(
            task_id="aggregate",
            fetch_result={},
            backend_components={"cpu": {"measured_unit": "h", "accounting_type": "usage", "label": "CPU"}},
            bad_value_policy="ignore",
        )
