"""The DAG boundary crosses with one model each way: dumped by the factory, read back the same."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from airflow_provider_cscs_dwdi.core.config import OfferingConfig, load_config
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.core.task_settings import (
    Aggregation,
    DwdiSource,
    TaskSettings,
    WaldurTarget,
    read_task_settings,
)
from airflow_provider_cscs_dwdi.core.usage import BadValuePolicy
from tests.dags.test_dag_factory import EXAMPLE

MODELS: tuple[type[TaskSettings], ...] = (WaldurTarget, DwdiSource, Aggregation)


@pytest.fixture(scope="module")
def offerings() -> tuple[OfferingConfig, ...]:
    return load_config(EXAMPLE).offerings


def test_the_example_has_every_usage_kind(offerings: tuple[OfferingConfig, ...]) -> None:
    assert {offering.usage_kind for offering in offerings} == set(UsageKind)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_each_offering_dumps_to_json_and_reads_back_equal(
    model: type[TaskSettings], offerings: tuple[OfferingConfig, ...]
) -> None:
    for offering in offerings:
        settings = model.of(offering)
        arguments = settings.arguments()
        # What a serialised DAG carries: plain JSON, nothing pydantic.
        assert json.loads(json.dumps(arguments)) == arguments
        assert read_task_settings(model, arguments) == settings
        for name in model.model_fields:
            assert name in arguments


def test_the_parts_carry_the_offerings_values(offerings: tuple[OfferingConfig, ...]) -> None:
    storage = next(offering for offering in offerings if offering.usage_kind is UsageKind.STORAGE)
    source = DwdiSource.of(storage)
    assert source.usage_kind is UsageKind.STORAGE
    assert source.storage == storage.storage
    assert source.arguments()["usage_kind"] == "storage"
    compute = next(offering for offering in offerings if offering.usage_kind is UsageKind.COMPUTE)
    aggregation = Aggregation.of(compute)
    assert aggregation.components == compute.components
    assert aggregation.bad_value_policy is BadValuePolicy(compute.bad_value_policy)
    target = WaldurTarget.of(compute).arguments()
    assert target == {
        "waldur_conn_id": compute.waldur_conn_id,
        "offering_uuid": compute.offering_uuid,
        "billing_timezone": compute.billing_timezone,
    }


@pytest.mark.parametrize(
    ("model", "change", "message"),
    [
        (WaldurTarget, {"billing_timezone": "Mars/Base"}, "billing_timezone: unknown time zone 'Mars/Base'"),
        (WaldurTarget, {"waldur_conn_id": "has space"}, "waldur_conn_id"),
        (DwdiSource, {"usage_kind": "gpu"}, "usage_kind"),
        (Aggregation, {"bad_value_policy": "ignore"}, "bad_value_policy"),
        (Aggregation, {"backend_components": {}}, "backend_components"),
        (WaldurTarget, {"unexpected": 1}, "unexpected"),
    ],
)
def test_an_argument_that_does_not_read_back_is_named(
    model: type[TaskSettings],
    change: dict[str, object],
    message: str,
    offerings: tuple[OfferingConfig, ...],
) -> None:
    arguments = {**model.of(offerings[0]).arguments(), **change}
    with pytest.raises(ConfigurationError, match=message):
        read_task_settings(model, arguments)


def test_a_policy_reads_in_any_case_and_components_keep_exact_factors(
    offerings: tuple[OfferingConfig, ...],
) -> None:
    arguments = Aggregation.of(offerings[0]).arguments()
    settings = read_task_settings(Aggregation, {**arguments, "bad_value_policy": "SKIP"})
    assert settings.bad_value_policy is BadValuePolicy.SKIP
    for component in settings.components:
        assert isinstance(component.unit_factor, Decimal)
