"""``cscs-dwdi-migrate``: turn a Waldur Site Agent configuration into this provider's files.

Writes into ``--out DIR``:

* ``offerings.yaml``: the offerings file (validated before it is written), without a single secret;
* ``connections.env`` and ``connections.sh`` (mode 0600): the DWDI and Waldur connections as
  ``AIRFLOW_CONN_<ID>='<json>'`` lines and as a script that creates or replaces them;
* ``migration-report.md``: what must be set before the first run, and every setting that was not
  carried over, with the reason.

Nothing here imports Airflow: the command runs wherever the agent's file is.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from airflow_provider_cscs_dwdi.migration.model import MigrationError
from airflow_provider_cscs_dwdi.migration.offering import migrate
from airflow_provider_cscs_dwdi.migration.output import write_outputs


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
