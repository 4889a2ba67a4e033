"""``cscs-dwdi-migrate``: turn a Waldur Site Agent configuration into this provider's files.

Reads the agent's YAML (the seed plugin's ``reporting_backend: cscs-dwdi`` and the 1.0.x
``cscs-dwdi-compute`` / ``-storage`` / ``-inference`` backends) and writes into ``--out DIR``:

* ``offerings.yaml``: the offerings file (validated with :func:`core.config.parse_config` before
  it is written), without a single secret;
* ``connections.env`` and ``connections.sh`` (mode 0600): the DWDI and Waldur connections as
  ``AIRFLOW_CONN_<ID>=<json>`` lines and as ``airflow connections add`` commands;
* ``migration-report.md``: what must be set before the first run, and every setting that was not
  carried over, with the reason.

Nothing here imports Airflow: the command runs wherever the agent's file is.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from airflow_provider_cscs_dwdi.core.config import parse_config
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError

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
#: Proxy schemes the ``cscs_dwdi`` connection accepts (``proxy_url`` extra).
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
#: Offering UUIDs written when the agent's file has none: they load, and Waldur knows no such offering.
PLACEHOLDER_UUID = "00000000-0000-0000-0000-{:012d}"
OFFERINGS_FILE = "offerings.yaml"
CONNECTIONS_ENV_FILE = "connections.env"
CONNECTIONS_SCRIPT_FILE = "connections.sh"
REPORT_FILE = "migration-report.md"
SECRET_FILE_MODE = 0o600


class MigrationError(Exception):
    """The agent's configuration cannot be migrated; the message names the offering and the key."""


@dataclass(frozen=True)
class Note:
    """One line of the migration report: where in the agent's file, and what to know about it."""

    where: str
    text: str


@dataclass(frozen=True)
class ConnectionSpec:
    """An Airflow connection to create; ``password`` is a secret and never reaches the report."""

    conn_id: str
    conn_type: str
    host: str
    password: str
    login: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> str:
        """The connection as Airflow's JSON connection format (``AIRFLOW_CONN_<ID>`` value)."""
        document: dict[str, Any] = {"conn_type": self.conn_type, "host": self.host}
        if self.login is not None:
            document["login"] = self.login
        document["password"] = self.password
        if self.extra:
            document["extra"] = dict(self.extra)
        return json.dumps(document, separators=(",", ":"))

    def env_line(self) -> str:
        return f"AIRFLOW_CONN_{self.conn_id.upper()}={self.as_json()}"

    def add_command(self) -> str:
        return (
            f"airflow connections add {shlex.quote(self.conn_id)} --conn-json {shlex.quote(self.as_json())}"
        )


@dataclass
class Migration:
    """What the agent's file becomes: the offerings document, connections and report notes."""

    source: str
    offerings: list[dict[str, Any]] = field(default_factory=list)
    connections: list[ConnectionSpec] = field(default_factory=list)
    must_fix: list[Note] = field(default_factory=list)
    not_carried: list[Note] = field(default_factory=list)
    carried_with_note: list[Note] = field(default_factory=list)

    @property
    def document(self) -> dict[str, Any]:
        return {"offerings": self.offerings}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "offering"


def _decimal_text(value: Any, where: str) -> str:
    """A factor as exact decimal text (YAML floats go through their shortest repr, not binary)."""
    if isinstance(value, bool):
        raise MigrationError(f"{where}: not a number: {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise MigrationError(f"{where}: not a number: {value!r}") from None
    return format(number, "f")


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
        offering["dwdi_conn_id"] = self._dwdi_connection()
        offering["waldur_conn_id"] = self._waldur_connection()
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
        if self.usage_kind == "compute":
            # The 1.0.x compute code multiplies by unit_factor_reporting, else by unit_factor: so does this provider.
            key = (
                "unit_factor_reporting"
                if settings.get("unit_factor_reporting") is not None
                else "unit_factor"
            )
            factor = _decimal_text(settings.get(key, 1), f"{self.label}: {where}.{key}")
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
        factor = _decimal_text(settings.get("unit_factor", 1), f"{self.label}: {where}.unit_factor")
        if _is_one(factor):
            return factor
        # Storage and inference: the agent divided by unit_factor; this provider multiplies.
        inverse = format(Decimal(1) / Decimal(factor), "f")
        unit = settings.get("measured_unit") or "its measured unit"
        self.must_fix(
            f"{where}.unit_factor",
            f"the agent divided {dwdi_field} by unit_factor {factor}, so it reported {dwdi_field} x {inverse}; "
            f"this provider multiplies. {OFFERINGS_FILE} keeps unit_factor {factor}, which bills "
            f"{dwdi_field} x {factor}: right when {unit} is what that gives (e.g. bytes x 1e-9 = GB), and "
            f"{inverse} times less than what the agent sent to Waldur. To bill exactly what the agent "
            f"billed, set unit_factor: '{inverse}' instead. Decide before the first run: every run "
            "rewrites the current month.",
        )
        return factor

    # ------------------------------------------------------------------ connections

    def _dwdi_connection(self) -> str:
        keys = {
            "host": "cscs_dwdi_api_url",
            "login": "cscs_dwdi_client_id",
            "password": "cscs_dwdi_client_secret",
            "oidc_endpoint_url": "cscs_dwdi_oidc_token_url",
        }
        values = {field_name: self.settings.get(key) for field_name, key in keys.items()}
        extra: dict[str, Any] = {}
        if values["oidc_endpoint_url"]:
            extra["oidc_endpoint_url"] = str(values["oidc_endpoint_url"])
        scope = self.settings.get("cscs_dwdi_oidc_scope")
        if scope:
            extra["oidc_scope"] = str(scope)
        proxy = self.settings.get("socks_proxy")
        if proxy:
            scheme = str(proxy).split("://", 1)[0].lower()
            if scheme in PROXY_SCHEMES:
                extra["proxy_url"] = str(proxy)
            else:
                self.must_fix(
                    "backend_settings.socks_proxy",
                    f"a {scheme}:// proxy is not supported by the cscs_dwdi connection (proxy_url takes "
                    f"{', '.join(s + '://' for s in PROXY_SCHEMES)}); the connection has no proxy_url. "
                    "Set one the proxy also speaks, or DWDI may be unreachable.",
                )
        missing = [keys[name] for name, value in values.items() if not value]
        if missing:
            self.must_fix(
                "backend_settings",
                f"missing {', '.join(missing)}: no DWDI connection was written for this offering. Create "
                "a cscs_dwdi connection (host = DWDI API URL, login = OIDC client ID, password = client "
                "secret, extra oidc_endpoint_url = token endpoint) and name it in dwdi_conn_id.",
            )
            return self._conn_id("cscs_dwdi", None)
        spec = ConnectionSpec(
            conn_id="",
            conn_type="cscs_dwdi",
            host=str(values["host"]),
            login=str(values["login"]),
            password=str(values["password"]),
            extra=extra,
        )
        self.noted("backend_settings.cscs_dwdi_client_secret", "moved to the DWDI connection's password.")
        return self._conn_id("cscs_dwdi", spec)

    def _waldur_connection(self) -> str:
        url, token = self.raw.get("waldur_api_url"), self.raw.get("waldur_api_token")
        if not url or not token:
            missing = [
                key for key, value in (("waldur_api_url", url), ("waldur_api_token", token)) if not value
            ]
            self.must_fix(
                ", ".join(missing),
                "missing in the agent's file: no Waldur connection was written for this offering. Create "
                "a waldur connection (host = Waldur API URL, password = a non-expiring token) and name "
                "it in waldur_conn_id.",
            )
            return self._conn_id("waldur", None)
        extra: dict[str, Any] = {}
        if self.raw.get("verify_ssl") is False:
            extra["verify_tls"] = False
            self.noted("verify_ssl", "false: carried as verify_tls false in the Waldur connection.")
        spec = ConnectionSpec(conn_id="", conn_type="waldur", host=str(url), password=str(token), extra=extra)
        self.noted("waldur_api_token", "moved to the Waldur connection's password.")
        return self._conn_id("waldur", spec)

    def _conn_id(self, prefix: str, spec: ConnectionSpec | None) -> str:
        """The id of ``spec``: an identical connection of an earlier offering is reused; the first
        of each type is ``<prefix>_default`` (the hooks' default), others ``<prefix>_<name>``."""
        if spec is not None:
            for connection in self.migration.connections:
                if dataclasses.replace(connection, conn_id="") == spec:
                    return connection.conn_id
        taken = {connection.conn_id for connection in self.migration.connections}
        conn_id = f"{prefix}_default" if f"{prefix}_default" not in taken else f"{prefix}_{_slug(self.name)}"
        if spec is not None:
            self.migration.connections.append(dataclasses.replace(spec, conn_id=conn_id))
        return conn_id

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


def _write_secret(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner only, also when ``path`` existed with a wider mode."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SECRET_FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        os.fchmod(stream.fileno(), SECRET_FILE_MODE)
        stream.write(text)


def render_report(migration: Migration) -> str:
    """The report as Markdown; it names keys and connection ids, never a secret value."""
    lines = [f"# Migration of {migration.source}", ""]
    sections = (
        ("Must fix before the first run", migration.must_fix),
        ("Not carried over", migration.not_carried),
        ("Carried over, with a note", migration.carried_with_note),
    )
    for title, notes in sections:
        lines += [f"## {title}", ""]
        lines += [f"- **{note.where}**: {note.text}" for note in notes] or ["- nothing"]
        lines.append("")
    lines += ["## Connections", ""]
    lines += [
        f"- `{c.conn_id}` ({c.conn_type}, {c.host}): in {CONNECTIONS_ENV_FILE} and {CONNECTIONS_SCRIPT_FILE}"
        for c in migration.connections
    ] or ["- none written"]
    return "\n".join(lines) + "\n"


def write_outputs(migration: Migration, out_dir: Path) -> dict[str, Path]:
    """Write the four files into ``out_dir`` (created if needed); returns them by role."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "offerings": out_dir / OFFERINGS_FILE,
        "env": out_dir / CONNECTIONS_ENV_FILE,
        "script": out_dir / CONNECTIONS_SCRIPT_FILE,
        "report": out_dir / REPORT_FILE,
    }
    header = (
        f"# Migrated from {migration.source} by cscs-dwdi-migrate. Read {REPORT_FILE} first:\n"
        "# it lists what must be set before the first run. No secrets here: they are in the\n"
        f"# connections ({CONNECTIONS_ENV_FILE}, {CONNECTIONS_SCRIPT_FILE}).\n"
    )
    paths["offerings"].write_text(
        header + yaml.safe_dump(migration.document, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    secret_header = "# Airflow connections migrated by cscs-dwdi-migrate. SECRETS: keep this file private.\n"
    _write_secret(paths["env"], secret_header + "".join(c.env_line() + "\n" for c in migration.connections))
    _write_secret(
        paths["script"],
        "#!/bin/sh\n"
        + secret_header
        + "set -e\n"
        + "".join(c.add_command() + "\n" for c in migration.connections),
    )
    paths["report"].write_text(render_report(migration), encoding="utf-8")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """The ``cscs-dwdi-migrate`` console script."""
    parser = argparse.ArgumentParser(
        prog="cscs-dwdi-migrate",
        description="Turn a Waldur Site Agent configuration (CSCS-DWDI reporting) into this provider's "
        "offerings file, Airflow connections (mode 0600) and a report of what was not carried over.",
    )
    parser.add_argument("agent_config", type=Path, help="the agent's YAML configuration file")
    parser.add_argument("--out", type=Path, required=True, help="directory to write the files into")
    arguments = parser.parse_args(argv)
    source = str(arguments.agent_config)
    try:
        with arguments.agent_config.open(encoding="utf-8") as stream:
            document = yaml.safe_load(stream)
        migration = migrate(document, source=source)
    except (OSError, yaml.YAMLError, MigrationError) as error:
        print(f"cscs-dwdi-migrate: {error}", file=sys.stderr)
        return 1
    paths = write_outputs(migration, arguments.out)
    print(f"{len(migration.offerings)} offering(s) -> {paths['offerings']}")
    print(f"{len(migration.connections)} connection(s) -> {paths['env']}, {paths['script']} (mode 0600)")
    print(
        f"{len(migration.must_fix)} thing(s) to fix before the first run, "
        f"{len(migration.not_carried)} setting(s) not carried over -> {paths['report']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
