"""The pydantic models behind the offerings file: pydantic's own errors never reach a user."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_cscs_dwdi.core.components import components_of
from airflow_provider_cscs_dwdi.core.config import (
    AuditSettings,
    NotificationSettings,
    OfferingConfig,
    OfferingsFile,
    parse_config,
)
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.kinds import StorageSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "dags" / "cscs_dwdi_offerings.example.yaml"
FIRST = "offerings.yaml: offering 'CSCS HPC Daint' (#1): "
STORAGE = "offerings.yaml: offering 'CSCS Storage Capstor' (#3): "
ODD_VALUES = [5, 1.5, True, None, "", "x", [], ["x"], {}, {"x": 1}]


_EXAMPLE = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def example() -> dict[str, Any]:
    return copy.deepcopy(_EXAMPLE)


def refusal(document: dict[str, Any]) -> str | None:
    """The error message of ``document``, or None when it is accepted."""
    try:
        parse_config(document, source="offerings.yaml")
    except ConfigurationError as error:
        return str(error)
    return None


def assert_in_the_providers_words(message: str, *prefixes: str) -> None:
    assert message.startswith(prefixes), message
    assert "\n" not in message, message
    for pydantic_wording in ("validation error", "errors.pydantic.dev", "For further information", "type="):
        assert pydantic_wording not in message, message


@pytest.mark.parametrize("key", sorted(OfferingConfig.model_fields))
def test_any_odd_value_of_an_offering_key_is_refused_in_one_line_naming_offering_and_key(key: str) -> None:
    for value in ODD_VALUES:
        document = example()
        document["offerings"][0][key] = value

        message = refusal(document)

        if message is not None:
            # Without a usable name, the offering is named by its position alone.
            assert_in_the_providers_words(message, FIRST, "offerings.yaml: offering #1: ")
            assert key in message or "storage" in message, message


@pytest.mark.parametrize("key", ["filesystem", "data_type", "path_mapping", "path_template"])
def test_any_odd_storage_value_is_refused_in_one_line_naming_the_setting(key: str) -> None:
    for value in ODD_VALUES:
        document = example()
        document["offerings"][2]["storage"][key] = value

        message = refusal(document)

        if message is not None:
            assert_in_the_providers_words(message, STORAGE)
            assert f"storage.{key}" in message, message


@pytest.mark.parametrize("key", ["measured_unit", "unit_factor", "accounting_type", "label", "dwdi_field"])
def test_any_odd_component_setting_is_refused_in_one_line_naming_the_component(key: str) -> None:
    for value in ODD_VALUES:
        document = example()
        document["offerings"][0]["backend_components"]["nodeHours"][key] = value

        message = refusal(document)

        if message is not None:
            assert_in_the_providers_words(message, f"{FIRST}backend_components: component 'nodeHours': ")
            assert key in message, message


def test_the_models_keep_the_types_the_dag_factory_reads() -> None:
    daint, alps, capstor, _llm = parse_config(example(), source="offerings.yaml").offerings

    assert isinstance(alps.clusters, tuple)
    assert isinstance(daint.tags, tuple)
    assert alps.components[0].unit_factor == Decimal("0.25")  # exact, not the float 0.25 read by YAML
    assert capstor.components[0].unit_factor == Decimal("1e-12")
    assert isinstance(capstor.storage, StorageSettings)
    with pytest.raises(ValueError, match="frozen"):
        daint.name = "renamed"  # type: ignore[misc]


def test_an_offering_is_equal_to_itself_read_again() -> None:
    first = parse_config(example(), source="a.yaml").offerings
    second = parse_config(example(), source="b.yaml").offerings

    assert first == second


def test_storage_settings_built_by_an_operator_explain_themselves() -> None:
    with pytest.raises(ConfigurationError, match=r"^storage\.data_type: required$"):
        StorageSettings(filesystem="capstor")
    with pytest.raises(ConfigurationError, match=r"^unknown key\(s\) at storage: filesytem "):
        StorageSettings(filesytem="capstor", data_type="store")


@pytest.mark.parametrize(
    "model", [OfferingsFile, OfferingConfig, AuditSettings, NotificationSettings], ids=lambda m: m.__name__
)
def test_the_offering_models_declare_their_rules_instead_of_re_checking_them(model: Any) -> None:
    # Constraints live in the field types (core.types); a field validator would be a second,
    # hand-written copy of a rule the schema already declares.
    assert dict(model.__pydantic_decorators__.field_validators) == {}


def test_the_offering_holds_its_components_parsed_once() -> None:
    offering = parse_config(example(), source="offerings.yaml").offerings[0]

    assert offering.components is offering.components
    assert components_of(offering.backend_components) is offering.components
    assert [component.type for component in offering.components] == list(offering.backend_components)
    # The file's mapping stays plain data for the operators' (serialised) arguments.
    assert offering.backend_components == example()["offerings"][0]["backend_components"]
