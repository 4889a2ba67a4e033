"""``cscs-dwdi-migrate``: a Waldur Site Agent configuration -> this provider's offerings file,
Airflow connections and a report of what was not carried over (see :mod:`.cli`).

Rooms: :mod:`.model` (what a migration produces), :mod:`.offering` (the translation rules),
:mod:`.connections` (the connections of an offering), :mod:`.output` (the files), :mod:`.cli`.
"""

from __future__ import annotations

from airflow_provider_cscs_dwdi.migration.cli import main
from airflow_provider_cscs_dwdi.migration.model import (
    CONNECTIONS_ENV_FILE,
    CONNECTIONS_SCRIPT_FILE,
    OFFERINGS_FILE,
    REPORT_FILE,
    ConnectionSpec,
    Migration,
    MigrationError,
    Note,
)
from airflow_provider_cscs_dwdi.migration.offering import migrate
from airflow_provider_cscs_dwdi.migration.output import render_report, write_outputs

__all__ = [
    "CONNECTIONS_ENV_FILE",
    "CONNECTIONS_SCRIPT_FILE",
    "OFFERINGS_FILE",
    "REPORT_FILE",
    "ConnectionSpec",
    "Migration",
    "MigrationError",
    "Note",
    "main",
    "migrate",
    "render_report",
    "write_outputs",
]
