"""backend_components: the seed's component mapping, parsed and validated."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import jsonschema
import pytest

from airflow_provider_cscs_dwdi.core.components import (
    ComponentConfig,
    ComponentSettings,
    account_total_fields,
    parse_backend_components,
)
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError


def test_the_seed_example_parses_with_its_defaults() -> None:
    components = parse_backend_components(
        {
            "nodeHours": {
                "measured_unit": "node-hours",
                "unit_factor": 1,
                "accounting_type": "usage",
                "label": "Node Hours",
            },
            "storage": {
                "measured_unit": "TB",
                "unit_factor": 1,
                "accounting_type": "usage",
                "label": "Storage Usage",
            },
        }
    )

    assert components == (
        ComponentConfig("nodeHours", "node-hours", Decimal("1"), "usage", "Node Hours", "nodeHours"),
        ComponentConfig("storage", "TB", Decimal("1"), "usage", "Storage Usage", "storage"),
    )


def test_only_measured_unit_is_required() -> None:
    (component,) = parse_backend_components({"gpuHours": {"measured_unit": "gpu-hours"}})

    assert component == ComponentConfig("gpuHours", "gpu-hours", Decimal(1), "usage", "gpuHours", "gpuHours")


def test_dwdi_field_and_limit_accounting_are_taken_as_given() -> None:
    (component,) = parse_backend_components(
        {"node_hours": {"measured_unit": "h", "dwdi_field": "nodeHours", "accounting_type": "limit"}}
    )

    assert (component.type, component.dwdi_field, component.accounting_type) == (
        "node_hours",
        "nodeHours",
        "limit",
    )


def test_components_keep_the_mapping_order() -> None:
    raw = {name: {"measured_unit": "u"} for name in ("zeta", "alpha", "mid")}

    assert [component.type for component in parse_backend_components(raw)] == ["zeta", "alpha", "mid"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (1, "1"),
        (0.5, "0.5"),
        (3.6, "3.6"),  # a float: exactly 3.6, not 3.600000000000000088817841970012523
        (0.1, "0.1"),
        ("3.6", "3.6"),
        (" 2.5 ", "2.5"),
        (Decimal("0.001"), "0.001"),
        ("1e3", "1E+3"),
        (1e-9, "1E-9"),  # a float's shortest spelling, as written in the file
        (123456789.123, "123456789.123"),
    ],
)
def test_unit_factor_is_an_exact_decimal(given: Any, expected: str) -> None:
    (component,) = parse_backend_components({"x": {"measured_unit": "u", "unit_factor": given}})

    assert component.unit_factor == Decimal(expected)
    assert str(component.unit_factor) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "the mapping is empty"),
        ([{"nodeHours": {}}], "expected a mapping of component types"),
        (None, "got nothing"),
        ({"": {"measured_unit": "u"}}, "component type names must be non-empty strings, got ''"),
        ({"  ": {"measured_unit": "u"}}, "component type names must be non-empty strings"),
        ({" nodeHours": {"measured_unit": "u"}}, "leading or trailing spaces"),
        ({3: {"measured_unit": "u"}}, "component type names must be non-empty strings, got 3"),
        ({"nodeHours": None}, "component 'nodeHours': expected a mapping of settings, got nothing"),
        ({"nodeHours": "node-hours"}, "component 'nodeHours': expected a mapping of settings, got str"),
        ({"nodeHours": {}}, "component 'nodeHours': measured_unit is required"),
        (
            {"nodeHours": {"measured_unit": ""}},
            "component 'nodeHours': measured_unit must be a non-empty string",
        ),
        (
            {"nodeHours": {"measured_unit": 5}},
            "component 'nodeHours': measured_unit must be a non-empty string",
        ),
        (
            {"nodeHours": {"measured_unit": "  "}},
            "component 'nodeHours': measured_unit must be a non-empty string, got '  '",
        ),
        (
            {"nodeHours": {"measured_unit": b"u"}},
            "component 'nodeHours': measured_unit must be a non-empty string, got b'u'",
        ),
        (
            {"nodeHours": {"measured_unit": None}},
            "component 'nodeHours': measured_unit must be a non-empty string, got None",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "unit_factr": 2}},
            "component 'nodeHours': unknown setting(s) 'unit_factr'",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "unit_factor": 0}},
            "component 'nodeHours': unit_factor must be > 0, got '0'",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "unit_factor": -1.5}},
            "component 'nodeHours': unit_factor must be > 0, got '-1.5'",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "unit_factor": float("nan")}},
            "component 'nodeHours': unit_factor must be > 0, got 'nan'",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "unit_factor": "NaN"}},
            "component 'nodeHours': unit_factor must be > 0, got 'NaN'",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "unit_factor": "inf"}},
            "component 'nodeHours': unit_factor must be > 0, got 'inf'",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "unit_factor": "two"}},
            "component 'nodeHours': unit_factor must be a number, got 'two'",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "unit_factor": True}},
            "component 'nodeHours': unit_factor must be a number, got True",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "unit_factor": None}},
            "component 'nodeHours': unit_factor must be a number, got None",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "unit_factor": [1]}},
            "component 'nodeHours': unit_factor must be a number, got [1]",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "accounting_type": "fixed"}},
            "component 'nodeHours': accounting_type must be one of usage, limit, got 'fixed'",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "accounting_type": "Usage"}},
            "component 'nodeHours': accounting_type must be one of usage, limit, got 'Usage'",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "accounting_type": None}},
            "component 'nodeHours': accounting_type must be one of usage, limit, got None",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "unit_factor": False}},
            "component 'nodeHours': unit_factor must be a number, got False",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "unit_factor": "-inf"}},
            "component 'nodeHours': unit_factor must be > 0, got '-inf'",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "label": 7}},
            "component 'nodeHours': label must be a non-empty string, got 7",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "label": " "}},
            "component 'nodeHours': label must be a non-empty",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "dwdi_field": ""}},
            "component 'nodeHours': dwdi_field must be a non-empty string",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "dwdi_field": "node Hours"}},
            "component 'nodeHours': dwdi_field must not contain spaces",
        ),
        (
            {"nodeHours": {"measured_unit": "u", "dwdi_field": "username"}},
            "component 'nodeHours': dwdi_field 'username' is a DWDI key",
        ),
        (
            {"nodeHours": {"measured_unit": "u"}, "nh": {"measured_unit": "u", "dwdi_field": "nodeHours"}},
            "component 'nh': dwdi_field 'nodeHours' is already read by component 'nodeHours'",
        ),
    ],
)
def test_every_mistake_names_the_component_and_the_setting(raw: Any, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_backend_components(raw)

    assert message in str(caught.value)


def test_a_wrong_setting_is_one_line_naming_component_setting_and_value() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_backend_components({"gpu": {"measured_unit": "h", "unit_factor": "0.0"}})

    assert str(caught.value) == "component 'gpu': unit_factor must be > 0, got '0.0'"


def test_component_settings_declare_their_rules_instead_of_re_checking_them() -> None:
    # The types (core.types.SettingText, PositiveDecimal, the Literal) declare each rule once, for
    # the JSON Schema and the check alike; a validator would be a second, hand-written copy.
    decorators = ComponentSettings.__pydantic_decorators__

    assert dict(decorators.field_validators) == {}
    assert [d.info.mode for d in decorators.model_validators.values()] == []


def test_the_schema_refuses_what_the_settings_refuse() -> None:
    schema = ComponentSettings.model_json_schema()
    validator = jsonschema.Draft202012Validator(schema)

    for refused in (
        {"measured_unit": " "},
        {"measured_unit": "u", "label": ""},
        {"measured_unit": "u", "unit_factor": 0},
    ):
        assert not validator.is_valid(refused), refused
    assert validator.is_valid({"measured_unit": " TB", "dwdi_field": "nodeHours", "unit_factor": "0.5"})


def test_the_unknown_settings_error_lists_the_allowed_ones() -> None:
    with pytest.raises(ConfigurationError, match="allowed: measured_unit, unit_factor, accounting_type"):
        parse_backend_components({"x": {"measured_unit": "u", "lable": "X", "units": 1}})


def test_a_component_is_immutable() -> None:
    (component,) = parse_backend_components({"x": {"measured_unit": "u"}})

    with pytest.raises(AttributeError):
        component.unit_factor = Decimal(2)  # type: ignore[misc]


def test_to_json_gives_the_report_description() -> None:
    (component,) = parse_backend_components(
        {"gpuHours": {"measured_unit": "gpu-hours", "unit_factor": 0.5, "label": "GPU"}}
    )

    assert component.to_json() == {
        "measured_unit": "gpu-hours",
        "label": "GPU",
        "unit_factor": "0.5",
        "accounting_type": "usage",
        "dwdi_field": "gpuHours",
    }


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("nodeHours", ("totalNodeHours", "accountNodeHours")),
        ("gpuHours", ("totalGpuHours", "accountGpuHours")),
        ("storage", ("totalStorage", "accountStorage")),
        ("x", ("totalX", "accountX")),
    ],
)
def test_account_total_fields(field: str, expected: tuple[str, str]) -> None:
    assert account_total_fields(field) == expected


def test_account_total_fields_needs_a_field() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        account_total_fields("")
