"""The translation rules: one agent offering -> one offering of the offerings file.

Reads the agent's YAML (the seed plugin's ``reporting_backend: cscs-dwdi`` and the 1.0.x
``cscs-dwdi-compute`` / ``-storage`` / ``-inference`` backends). The offerings document is
validated with :func:`core.config.parse_config` before :func:`migrate` returns it; a component's
``unit_factor`` is read exactly as the offerings file reads it (``ComponentSettings``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from airflow_provider_cscs_dwdi.core.components import ComponentSettings
from airflow_provider_cscs_dwdi.core.config import parse_config
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.migration.connections import dwdi_connection, waldur_connection
from airflow_provider_cscs_dwdi.migration.model import OFFERINGS_FILE, Migration, MigrationError, Note

#: The agent's reporting backends this provider replaces, and the usage kind each one reports.
DWDI_BACKENDS = {
    "cscs-dwdi": "compute",
    "cscs-dwdi-compute": "compute",
    "cscs-dwdi-storage": "storage",
    "cscs-dwdi-inference": "inference",
}
#: Offering keys that give another backend a role this provider does not take over.
OTHER_ROLES = ("order_processing_backend", "membership_sync_backend", "username_management_backend")
#: Offering keys carried over (into the offerings file or a connection).
CARRIED_OFFERING_KEYS = frozenset(
    {
        "name",
        "reporting_backend",
        "backend_type",
        "backend_settings",
        "backend_components",
        "waldur_offering_uuid",
        "waldur_api_url",
        "waldur_api_token",
        "verify_ssl",
        *OTHER_ROLES,
    }
)
CARRIED_COMPONENT_KEYS = frozenset(
    {"measured_unit", "unit_factor", "unit_factor_reporting", "accounting_type", "label"}
)
DWDI_SETTING_KEYS = frozenset(
    {
        "cscs_dwdi_api_url",
        "cscs_dwdi_client_id",
        "cscs_dwdi_client_secret",
        "cscs_dwdi_oidc_token_url",
        "cscs_dwdi_oidc_scope",
        "socks_proxy",
    }
)
#: backend_settings keys that only one usage kind reads.
KIND_SETTING_KEYS: dict[str, frozenset[str]] = {
    "compute": frozenset({"cscs_dwdi_cluster"}),
    "storage": frozenset({"storage_filesystem", "storage_data_type", "storage_path_mapping"}),
    "inference": frozenset(),
}
#: Offering UUIDs written when the agent's file has none: they load, and Waldur knows no such offering.
PLACEHOLDER_UUID = "00000000-0000-0000-0000-{:012d}"


def _decimal_text(value: Any, measured_unit: str, where: str) -> str:
    """A factor as exact decimal text, read as the offerings file reads it (a YAML float through
    its shortest repr, not its binary value)."""
    try:
        settings = ComponentSettings.model_validate({"measured_unit": measured_unit, "unit_factor": value})
    except ValidationError:
        raise MigrationError(f"{where}: not a number > 0: {value!r}") from None
    return format(settings.unit_factor, "f")


def _is_one(text: str) -> bool:
    return Decimal(text) == 1


def _reporting_backend(raw: Mapping[str, Any]) -> str:
    """The agent's reporting backend of an offering (1.0.x examples name it in ``backend_type``)."""
    return str(raw.get("reporting_backend") or raw.get("backend_type") or "")


class _OfferingMigration:
    """Migrates one agent offering; notes go to the shared :class:`Migration`."""

    def __init__(self, migration: Migration, raw: Mapping[str, Any], position: int, timezone: str) -> None:
        self.migration = migration
        self.raw = raw
        self.name = str(raw.get("name") or f"offering {position}")
        self.label = f"offering {self.name!r} (#{position})"
        self.position = position
        self.timezone = timezone
        self.settings: Mapping[str, Any] = raw.get("backend_settings") or {}
        if not isinstance(self.settings, Mapping):
            raise MigrationError(f"{self.label}: backend_settings must be a mapping")
        self.usage_kind = DWDI_BACKENDS[_reporting_backend(raw)]
        if not raw.get("name"):
            self.must_fix(
                "name", f"missing in the agent's file: the offering is named {self.name!r}; rename it."
            )

    def not_carried(self, key: str, reason: str) -> None:
        self.migration.not_carried.append(Note(f"{self.label}: {key}", reason))

    def must_fix(self, key: str, reason: str) -> None:
        self.migration.must_fix.append(Note(f"{self.label}: {key}", reason))

    def noted(self, key: str, reason: str) -> None:
        self.migration.carried_with_note.append(Note(f"{self.label}: {key}", reason))

    def run(self) -> dict[str, Any]:
        offering: dict[str, Any] = {"name": self.name, "usage_kind": self.usage_kind}
        offering["offering_uuid"] = self._offering_uuid()
        offering["billing_timezone"] = self.timezone
        if self.usage_kind == "compute":
            clusters = self._clusters()
            if clusters:
                offering["clusters"] = clusters
        elif self.usage_kind == "storage":
            offering["storage"] = self._storage()
        offering["backend_components"] = self._components()
        offering["dwdi_conn_id"] = dwdi_connection(self)
        offering["waldur_conn_id"] = waldur_connection(self)
        self._left_behind()
        return offering

    # ------------------------------------------------------------------ offering keys

    def _offering_uuid(self) -> str:
        uuid = self.raw.get("waldur_offering_uuid")
        if uuid:
            return str(uuid)
        placeholder = PLACEHOLDER_UUID.format(self.position)
        self.must_fix(
            "waldur_offering_uuid",
            f"missing in the agent's file: offering_uuid is the placeholder {placeholder} in "
            f"{OFFERINGS_FILE} (Waldur knows no such offering, so a run fails before writing). "
            "Set the UUID of the Waldur offering (Marketplace > Offering).",
        )
        return placeholder

    def _clusters(self) -> list[str] | None:
        value = self.settings.get("cscs_dwdi_cluster")
        if value is None or value == "":
            return None
        clusters = [value] if isinstance(value, str) else list(value)
        return sorted({str(cluster).strip().lower() for cluster in clusters})

    def _storage(self) -> dict[str, Any]:
        storage: dict[str, Any] = {}
        for agent_key, key in (("storage_filesystem", "filesystem"), ("storage_data_type", "data_type")):
            value = self.settings.get(agent_key)
            if not value:
                raise MigrationError(
                    f"{self.label}: backend_settings.{agent_key} is missing; a storage offering needs it "
                    "(the DWDI storage endpoint is queried per filesystem and data type)"
                )
            storage[key] = str(value)
        mapping = self.settings.get("storage_path_mapping")
        if mapping:
            if not isinstance(mapping, Mapping):
                raise MigrationError(f"{self.label}: backend_settings.storage_path_mapping must be a mapping")
            storage["path_mapping"] = {str(bid): str(path) for bid, path in mapping.items()}
        self.noted(
            "backend_settings.storage_path_mapping",
            "resources not in the mapping use their backend_id as the DWDI path, as the agent did; "
            "set storage.path_template (e.g. /capstor/store/cscs/{backend_id}) if your paths follow one.",
        )
        return storage

    # ------------------------------------------------------------------ components

    def _components(self) -> dict[str, Any]:
        raw_components = self.raw.get("backend_components") or {}
        if not isinstance(raw_components, Mapping) or not raw_components:
            raise MigrationError(f"{self.label}: backend_components is missing or empty")
        components: dict[str, Any] = {}
        for name, settings in raw_components.items():
            where = f"backend_components.{name}"
            if not isinstance(settings, Mapping):
                raise MigrationError(f"{self.label}: {where} must be a mapping")
            for key in sorted(set(settings) - CARRIED_COMPONENT_KEYS):
                self.not_carried(f"{where}.{key}", "not a setting of this provider's components.")
            migrated = self._component(str(name), settings, where)
            if migrated is not None:
                components[str(name)] = migrated
        if not components:
            raise MigrationError(
                f"{self.label}: none of its backend_components was ever filled by the agent, so there "
                "is nothing this provider would bill the same way (see the components named in the report)"
            )
        return components

    def _component(self, name: str, settings: Mapping[str, Any], where: str) -> dict[str, Any] | None:
        dwdi_field = self._dwdi_field(name, where)
        if dwdi_field is None:
            return None
        component: dict[str, Any] = {
            "measured_unit": str(settings.get("measured_unit") or name),
            "unit_factor": self._unit_factor(settings, where, dwdi_field),
            "accounting_type": str(settings.get("accounting_type") or "usage"),
            "label": str(settings.get("label") or name),
        }
        if dwdi_field != name:
            component["dwdi_field"] = dwdi_field
        return component

    def _dwdi_field(self, name: str, where: str) -> str | None:
        """The DWDI field the agent filled ``name`` from, or None (reported) when it never did."""
        lowered = name.lower()
        if self.usage_kind == "compute":
            if "node" in lowered:
                return name
            self.not_carried(
                where,
                "the agent never filled it (its compute code reports only components whose name "
                "contains 'node'), so Waldur never received it. To start billing it, add it to the "
                f"offering with dwdi_field set to the DWDI field that carries it (e.g. dwdi_field: {name}).",
            )
            return None
        if self.usage_kind == "storage":
            if lowered == "storage" or "space" in lowered:
                return "spaceUsed"
            if "inodes_usage" in lowered:
                return "inodesUsed"
            self.not_carried(
                where,
                "the agent never filled it (its storage code fills a component named 'storage' or "
                "containing 'space' with spaceUsed, and one containing 'inodes_usage' with inodesUsed), "
                "so Waldur never received it. To start billing it, add it with dwdi_field: inodesUsed "
                "(or spaceUsed) and the unit_factor of its measured_unit.",
            )
            return None
        return "totalCost"

    def _unit_factor(self, settings: Mapping[str, Any], where: str, dwdi_field: str) -> str:
        unit = str(settings.get("measured_unit") or where.rsplit(".", 1)[-1])
        if self.usage_kind == "compute":
            # The 1.0.x compute code multiplies by unit_factor_reporting, else by unit_factor: so does this provider.
            key = (
                "unit_factor_reporting"
                if settings.get("unit_factor_reporting") is not None
                else "unit_factor"
            )
            factor = _decimal_text(settings.get(key, 1), unit, f"{self.label}: {where}.{key}")
            if key == "unit_factor_reporting":
                self.noted(
                    f"{where}.unit_factor_reporting",
                    f"carried as unit_factor {factor} (the agent reported with it, not with unit_factor).",
                )
            return factor
        if settings.get("unit_factor_reporting") is not None:
            self.not_carried(
                f"{where}.unit_factor_reporting",
                f"the agent's {self.usage_kind} code never read it (only compute does); unit_factor applies.",
            )
        factor = _decimal_text(settings.get("unit_factor", 1), unit, f"{self.label}: {where}.unit_factor")
        if _is_one(factor):
            return factor
        # Storage and inference: the agent divided by unit_factor; this provider multiplies.
        inverse = format(Decimal(1) / Decimal(factor), "f")
        unit_named = settings.get("measured_unit") or "its measured unit"
        self.must_fix(
            f"{where}.unit_factor",
            f"the agent divided {dwdi_field} by unit_factor {factor}, so it reported {dwdi_field} x {inverse}; "
            f"this provider multiplies. {OFFERINGS_FILE} keeps unit_factor {factor}, which bills "
            f"{dwdi_field} x {factor}: right when {unit_named} is what that gives (e.g. bytes x 1e-9 = GB), and "
            f"{inverse} times less than what the agent sent to Waldur. To bill exactly what the agent "
            f"billed, set unit_factor: '{inverse}' instead. Decide before the first run: every run "
            "rewrites the current month.",
        )
        return factor

    # ------------------------------------------------------------------ the rest

    def _left_behind(self) -> None:
        for role in OTHER_ROLES:
            backend = self.raw.get(role)
            if backend:
                self.not_carried(
                    role,
                    f"{backend!r} stays with the agent: this provider only reports usage. Keep the agent "
                    "for that role, with reporting turned off for this offering.",
                )
        for key in sorted(set(self.raw) - CARRIED_OFFERING_KEYS):
            reason = (
                "agent-level OIDC for Waldur: the Waldur connection uses an API token."
                if key.startswith("oidc_")
                else "an agent setting this provider has no counterpart for."
            )
            self.not_carried(key, reason)
        used = DWDI_SETTING_KEYS | KIND_SETTING_KEYS[self.usage_kind]
        for key in sorted(set(self.settings) - used):
            where = f"backend_settings.{key}"
            if key == "storage_tenant":
                self.not_carried(where, "the agent read it but never sent it to DWDI.")
            elif kind := next((k for k, keys in KIND_SETTING_KEYS.items() if key in keys), None):
                self.not_carried(where, f"only {kind} offerings use it; this one reports {self.usage_kind}.")
            else:
                self.not_carried(where, "not a setting the DWDI plugin reads.")


def migrate(agent_config: Any, *, source: str = "<agent configuration>") -> Migration:
    """Translate a parsed agent configuration; the offerings document is validated before return.

    :raises MigrationError: the file is not an agent configuration, an offering lacks what its
        usage kind needs, or the result would not load (the message names the offering and key).
    """
    if not isinstance(agent_config, Mapping) or not isinstance(agent_config.get("offerings"), list):
        raise MigrationError(f"{source}: not a Waldur Site Agent configuration (no 'offerings' list)")
    migration = Migration(source=source)
    timezone = str(agent_config.get("timezone") or "UTC")
    if not agent_config.get("timezone"):
        migration.carried_with_note.append(
            Note("timezone", "not set: the agent's default UTC is every offering's billing_timezone.")
        )
    for key in sorted(set(agent_config) - {"offerings", "timezone"}):
        reason = (
            "this provider re-reports the previous month on its first days (reopen_previous_month_days, "
            "default 3) and closes every month with the monthly DAG; older months are backfills."
            if key == "reporting_periods"
            else "an agent-wide setting this provider has no counterpart for."
        )
        migration.not_carried.append(Note(key, reason))
    for position, raw in enumerate(agent_config["offerings"], start=1):
        if not isinstance(raw, Mapping):
            raise MigrationError(f"{source}: offering #{position} is not a mapping")
        backend = _reporting_backend(raw)
        if backend not in DWDI_BACKENDS:
            migration.not_carried.append(
                Note(
                    f"offering {raw.get('name')!r} (#{position})",
                    f"reporting backend {backend or 'none'!r} is not CSCS-DWDI: left to the agent.",
                )
            )
            continue
        migration.offerings.append(_OfferingMigration(migration, raw, position, timezone).run())
    if not migration.offerings:
        raise MigrationError(
            f"{source}: no offering reports with a CSCS-DWDI backend ({', '.join(DWDI_BACKENDS)})"
        )
    try:
        parse_config(migration.document, source=OFFERINGS_FILE)
    except ConfigurationError as error:
        raise MigrationError(f"the migrated offerings would not load: {error}") from None
    return migration
