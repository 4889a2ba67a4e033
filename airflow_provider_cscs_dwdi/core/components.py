"""The usage components of an offering: the seed's ``backend_components`` mapping, validated.

Each key is a Waldur component type (``nodeHours``); its settings say which DWDI field carries
it, how DWDI units convert to the measured unit (``unit_factor``) and how Waldur bills it.
Every mistake raises :class:`ConfigurationError` naming the component and the setting, so a
typo breaks the DAG import instead of silently billing zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError

ACCOUNTING_TYPES: tuple[str, ...] = ("usage", "limit")
ALLOWED_SETTINGS: tuple[str, ...] = ("measured_unit", "unit_factor", "accounting_type", "label", "dwdi_field")
#: Keys of DWDI entries and user rows that are not usage fields, so no component may read them.
RESERVED_DWDI_FIELDS = frozenset({"account", "cluster", "users", "username", "usageDate"})


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
        raise ConfigurationError(f"expected a mapping of component types to settings, got {_kind(raw)}")
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
        raise ConfigurationError(f"component {name!r}: expected a mapping of settings, got {_kind(settings)}")
    unknown = sorted(str(key) for key in settings if key not in ALLOWED_SETTINGS)
    if unknown:
        raise ConfigurationError(
            f"component {name!r}: unknown setting(s) {', '.join(map(repr, unknown))} "
            f"(allowed: {', '.join(ALLOWED_SETTINGS)})"
        )
    if "measured_unit" not in settings:
        raise ConfigurationError(f"component {name!r}: measured_unit is required")
    measured_unit = _text(name, "measured_unit", settings["measured_unit"])
    accounting_type = _text(name, "accounting_type", settings.get("accounting_type", "usage"))
    if accounting_type not in ACCOUNTING_TYPES:
        raise ConfigurationError(
            f"component {name!r}: accounting_type must be one of {', '.join(ACCOUNTING_TYPES)}, "
            f"got {accounting_type!r}"
        )
    dwdi_field = _text(name, "dwdi_field", settings.get("dwdi_field", name))
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
        measured_unit=measured_unit,
        unit_factor=_unit_factor(name, settings.get("unit_factor", 1)),
        accounting_type=accounting_type,
        label=_text(name, "label", settings.get("label", name)),
        dwdi_field=dwdi_field,
    )


def _unit_factor(name: str, value: Any) -> Decimal:
    # bool is an int subclass: `unit_factor: yes` in YAML must not become a factor of 1.
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ConfigurationError(f"component {name!r}: unit_factor must be a number, got {value!r}")
    try:
        # str() first: a float 0.1 becomes exactly 0.1, not 0.1000000000000000055...
        factor = Decimal(str(value))
    except InvalidOperation:
        raise ConfigurationError(f"component {name!r}: unit_factor must be a number, got {value!r}") from None
    if not factor.is_finite() or factor <= 0:
        raise ConfigurationError(f"component {name!r}: unit_factor must be > 0, got {str(value)!r}")
    return factor


def _text(name: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"component {name!r}: {key} must be a non-empty string, got {value!r}")
    return value


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
