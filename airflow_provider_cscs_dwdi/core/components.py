"""The usage components of an offering: the seed's ``backend_components`` mapping, validated.

Each key is a Waldur component type (``nodeHours``); its settings say which DWDI field carries
it, how DWDI units convert to the measured unit (``unit_factor``) and how Waldur bills it.
Every mistake raises :class:`ConfigurationError` naming the component and the setting, so a
typo breaks the DAG import instead of silently billing zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.types import PositiveDecimal, SettingText
from airflow_provider_cscs_dwdi.core.validation import (
    Refusal,
    Wording,
    describe,
    explain,
    invalid,
    kind_of,
)

AccountingType = Literal["usage", "limit"]
ACCOUNTING_TYPES: tuple[str, ...] = get_args(AccountingType)
#: Keys of DWDI entries and user rows that are not usage fields, so no component may read them.
RESERVED_DWDI_FIELDS = frozenset({"account", "cluster", "users", "username", "usageDate"})


class ComponentSettings(BaseModel):
    """One entry of ``backend_components`` as the offerings file spells it (the key is its type)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="Component settings",
        json_schema_extra={
            "description": (
                "One usage component, as in the Waldur Site Agent; its key is the Waldur component "
                "type, e.g. `nodeHours`."
            )
        },
    )

    # Each type declares its constraint once (it feeds the JSON Schema) and the sentence for a
    # refusal (its Refusal); _WORDING puts the setting's name first: ``unit_factor must be > 0``.
    measured_unit: SettingText = Field(
        description="The unit shown in Waldur, e.g. `node-hours`, `TB`, `CHF`."
    )
    unit_factor: PositiveDecimal = Field(
        default=Decimal(1),
        description=(
            "DWDI amount x `unit_factor` = amount billed; a number > 0, used exactly as written "
            "(`0.25`, or a string such as `'0.000000001'`)."
        ),
    )
    accounting_type: Annotated[
        AccountingType,
        Refusal(lambda value: f"must be one of {', '.join(ACCOUNTING_TYPES)}, got {value!r}"),
    ] = Field(default="usage", description="The Waldur accounting type of the component: `usage` or `limit`.")
    label: SettingText | None = Field(
        default=None, description="The name shown in Waldur; default: the component type."
    )
    dwdi_field: SettingText | None = Field(
        default=None,
        description=(
            "The field of the DWDI rows to read (no spaces; not a key such as `account`, `path` or "
            "`waldurResourceUuid`); default: the component type. Two components may not read one "
            "field."
        ),
    )


ALLOWED_SETTINGS: tuple[str, ...] = tuple(ComponentSettings.model_fields)
#: A component's errors as the provider always worded them: the setting's name starts the
#: sentence (``measured_unit is required``, ``unit_factor must be > 0, got '0'``), unknown ones
#: are listed with the settings in the order they are documented.
_WORDING = Wording(
    missing=lambda place, _annotation: f"{place} is required",
    placed=lambda place, sentence: f"{place} {sentence}" if place else sentence,
    unknown=lambda _where, keys, allowed: (
        f"unknown setting(s) {', '.join(map(repr, keys))} (allowed: {', '.join(allowed)})"
    ),
)


@dataclass(frozen=True)
class ComponentConfig:
    """One usage component: where DWDI reports it and how it is converted for Waldur."""

    type: str  # Waldur component type, e.g. "nodeHours" (the key in backend_components)
    measured_unit: str
    unit_factor: Decimal  # > 0; DWDI amount * unit_factor = Waldur amount
    accounting_type: str  # "usage" | "limit"
    label: str
    dwdi_field: str  # field in DWDI user rows; default = type

    def to_json(self) -> dict[str, str]:
        """The component as the report describes it (``unit_factor`` as a string, exact)."""
        return {
            "measured_unit": self.measured_unit,
            "label": self.label,
            "unit_factor": str(self.unit_factor),
            "accounting_type": self.accounting_type,
            "dwdi_field": self.dwdi_field,
        }


def account_total_fields(dwdi_field: str) -> tuple[str, str]:
    """The account-level DWDI fields of a component, preferred first.

    ``"nodeHours"`` -> ``("totalNodeHours", "accountNodeHours")``: later DWDI releases send
    ``total<Field>``, the seed-era release ``account<Field>``.
    """
    if not dwdi_field:
        raise ValueError("dwdi_field must not be empty")
    capitalised = dwdi_field[0].upper() + dwdi_field[1:]
    return f"total{capitalised}", f"account{capitalised}"


def parse_backend_components(raw: Mapping[str, Mapping[str, Any]]) -> tuple[ComponentConfig, ...]:
    """Validate the seed's ``backend_components`` mapping; components keep the mapping's order.

    :raises ConfigurationError: e.g. ``component 'x': unit_factor must be > 0, got '0'``.
    """
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"expected a mapping of component types to settings, got {kind_of(raw)}")
    if not raw:
        raise ConfigurationError("no component configured: the mapping is empty")
    components = tuple(_parse_component(name, settings) for name, settings in raw.items())
    readers: dict[str, str] = {}
    for component in components:
        # Two components reading one DWDI field would bill the same usage twice.
        other = readers.setdefault(component.dwdi_field, component.type)
        if other != component.type:
            raise ConfigurationError(
                f"component {component.type!r}: dwdi_field {component.dwdi_field!r} is already read "
                f"by component {other!r}"
            )
    return components


def _parse_component(name: Any, settings: Any) -> ComponentConfig:
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(f"component type names must be non-empty strings, got {name!r}")
    if name != name.strip():
        raise ConfigurationError(f"component {name!r}: the type name has leading or trailing spaces")
    if not isinstance(settings, Mapping):
        raise ConfigurationError(
            f"component {name!r}: expected a mapping of settings, got {kind_of(settings)}"
        )
    try:
        parsed = ComponentSettings.model_validate(settings)
    except ValidationError as error:
        raise ConfigurationError(
            f"component {name!r}: {explain(error, ComponentSettings, wording=_WORDING)}"
        ) from None
    dwdi_field = parsed.dwdi_field or name
    if dwdi_field != dwdi_field.strip() or any(char.isspace() for char in dwdi_field):
        raise ConfigurationError(
            f"component {name!r}: dwdi_field must not contain spaces, got {dwdi_field!r}"
        )
    if dwdi_field in RESERVED_DWDI_FIELDS:
        raise ConfigurationError(
            f"component {name!r}: dwdi_field {dwdi_field!r} is a DWDI key, not a usage field"
        )
    return ComponentConfig(
        type=name,
        measured_unit=parsed.measured_unit,
        unit_factor=parsed.unit_factor,
        accounting_type=parsed.accounting_type,
        label=parsed.label or name,
        dwdi_field=dwdi_field,
    )


class CheckedComponents(dict[str, Any]):
    """``backend_components`` as the file wrote it (a plain mapping for the operators' arguments),
    carrying its one parse: :attr:`components`."""

    components: tuple[ComponentConfig, ...]


def components_of(raw: Mapping[str, Mapping[str, Any]]) -> tuple[ComponentConfig, ...]:
    """The components of a ``backend_components`` mapping: the parse an offering already holds,
    or a fresh one for a mapping that did not come from the offerings file."""
    if isinstance(raw, CheckedComponents):
        return raw.components
    return parse_backend_components(raw)


def _mapping_of_components(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise invalid(f"expected a non-empty mapping, got {describe(value)}")
    return {
        str(component): dict(settings) if isinstance(settings, Mapping) else settings
        for component, settings in value.items()
    }


def _checked(raw: dict[str, Any]) -> CheckedComponents:
    checked = CheckedComponents(raw)
    try:
        checked.components = parse_backend_components(raw)
    except ConfigurationError as error:
        raise invalid(str(error)) from None
    return checked


def _schema(schema: dict[str, Any]) -> None:
    schema["additionalProperties"] = ComponentSettings.model_json_schema()
    schema["minProperties"] = 1


#: The offerings file's ``backend_components``: component type -> :class:`ComponentSettings`,
#: parsed once when the file is read (errors name the component and its setting).
BackendComponents = Annotated[
    dict[str, Any],
    BeforeValidator(_mapping_of_components),
    AfterValidator(_checked),
    Field(json_schema_extra=_schema),
]
