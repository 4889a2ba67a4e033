"""What a migration produces: the offerings document, the connections and the report's notes."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError

OFFERINGS_FILE = "offerings.yaml"
CONNECTIONS_ENV_FILE = "connections.env"
CONNECTIONS_SCRIPT_FILE = "connections.sh"
REPORT_FILE = "migration-report.md"
SECRET_FILE_MODE = 0o600
#: The port a URL without one is served on.
DEFAULT_PORTS = {"https": 443, "http": 80}


class MigrationError(CscsDwdiError):
    """The agent's configuration cannot be migrated; the message names the offering and the key."""


@dataclass(frozen=True)
class Note:
    """One line of the migration report: where in the agent's file, and what to know about it."""

    where: str
    text: str


def url_port(url: str) -> int | None:
    """The port ``url`` names, else its scheme's (443 for https, 80 for http); None when unknown."""
    try:
        split = urlsplit(url)
        return split.port or DEFAULT_PORTS.get(split.scheme.lower())
    except ValueError:
        return None


@dataclass(frozen=True)
class ConnectionSpec:
    """An Airflow connection to create; ``password`` is a secret and never reaches the report.

    ``port`` is stored although the host URL says it: Airflow 3.3's UI Test button sends port 0
    for a connection without one, which the api-server refuses as "a different endpoint" (400).
    """

    conn_id: str
    conn_type: str
    host: str
    password: str
    login: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def port(self) -> int | None:
        return url_port(self.host)

    def as_document(self) -> dict[str, Any]:
        """The connection in Airflow's JSON connection format (keys in a stable order)."""
        document: dict[str, Any] = {"conn_type": self.conn_type, "host": self.host}
        if self.port is not None:
            document["port"] = self.port
        if self.login is not None:
            document["login"] = self.login
        document["password"] = self.password
        if self.extra:
            document["extra"] = dict(self.extra)
        return document

    def as_json(self) -> str:
        """The connection as Airflow's JSON connection format (``AIRFLOW_CONN_<ID>`` value)."""
        return json.dumps(self.as_document(), separators=(",", ":"))

    def env_line(self) -> str:
        """``AIRFLOW_CONN_<ID>='<json>'``: single quotes, so a POSIX shell, Docker Compose's
        ``env_file`` and systemd's ``EnvironmentFile`` all read the JSON verbatim (no ``$``
        expansion, no word splitting)."""
        return f"AIRFLOW_CONN_{self.conn_id.upper()}={shlex.quote(self.as_json())}"


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
