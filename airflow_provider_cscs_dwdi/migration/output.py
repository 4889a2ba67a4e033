"""The files a migration writes: the offerings file, the two connection files and the report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from airflow_provider_cscs_dwdi.migration.model import (
    CONNECTIONS_ENV_FILE,
    CONNECTIONS_SCRIPT_FILE,
    OFFERINGS_FILE,
    REPORT_FILE,
    SECRET_FILE_MODE,
    Migration,
)

SECRET_HEADER = "# Airflow connections migrated by cscs-dwdi-migrate. SECRETS: keep this file private.\n"
#: Ends the connections document inside connections.sh (a line no JSON document can be).
_END_OF_DOCUMENT = "CSCS_DWDI_CONNECTIONS"


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


def render_env(migration: Migration) -> str:
    """``connections.env``: one ``AIRFLOW_CONN_<ID>='<json>'`` line per connection."""
    return (
        SECRET_HEADER
        + "# Read by a POSIX shell (set -a; . ./connections.env; set +a), Docker Compose's env_file\n"
        + "# and systemd's EnvironmentFile: each value is the connection's JSON, single-quoted.\n"
        + "".join(connection.env_line() + "\n" for connection in migration.connections)
    )


def render_script(migration: Migration) -> str:
    """``connections.sh``: creates each connection, or replaces the one stored under its id.

    ``airflow connections add`` refuses an id that exists (and ``set -e`` would stop there, the old
    connection kept); ``airflow connections import --overwrite`` creates or replaces each one. The
    document goes through a private temporary file that the script removes on exit.
    """
    document = {
        connection.conn_id: {
            **connection.as_document(),
            # The import reads ``extra`` as text, as the metadata database stores it.
            **({"extra": json.dumps(dict(connection.extra))} if connection.extra else {}),
        }
        for connection in migration.connections
    }
    return (
        "#!/bin/sh\n"
        + SECRET_HEADER
        + "# Creates each connection, or replaces the one stored under its id.\n"
        + "set -e\n"
        + "umask 077\n"
        + "dir=$(mktemp -d)\ntrap 'rm -rf \"$dir\"' EXIT\n"
        + f"cat > \"$dir/connections.json\" <<'{_END_OF_DOCUMENT}'\n"
        + json.dumps(document, indent=2)
        + f"\n{_END_OF_DOCUMENT}\n"
        + 'airflow connections import --overwrite "$dir/connections.json"\n'
    )


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
    _write_secret(paths["env"], render_env(migration))
    _write_secret(paths["script"], render_script(migration))
    paths["report"].write_text(render_report(migration), encoding="utf-8")
    return paths
