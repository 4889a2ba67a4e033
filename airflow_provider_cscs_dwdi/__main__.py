"""``python -m airflow_provider_cscs_dwdi init DIR``: put the DAG file and the example offerings in a dags folder.

A wheel install has no repository ``dags/`` folder: this writes the two files shipped in the
package (:data:`SHIPPED_FILES`) into ``DIR`` and says what to do next. A file that already exists
with other content is left alone unless ``--force`` is given, so a second run never overwrites an
edited copy.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

DAG_FILE = "cscs_dwdi_usage.py"
EXAMPLE_OFFERINGS = "cscs_dwdi_offerings.example.yaml"
OFFERINGS_SCHEMA = "cscs_dwdi_offerings.schema.json"
SHIPPED_FILES = (DAG_FILE, EXAMPLE_OFFERINGS, OFFERINGS_SCHEMA)
OWN_OFFERINGS = "cscs_dwdi_offerings.yaml"


def shipped_file(name: str) -> bytes:
    """The content of one file of the package's ``dags`` data folder."""
    return files("airflow_provider_cscs_dwdi").joinpath("dags", name).read_bytes()


def write_dag_files(directory: Path, *, force: bool = False) -> list[Path]:
    """Write :data:`SHIPPED_FILES` into ``directory`` (created if missing); return the files written.

    :raises FileExistsError: a file exists there with other content and ``force`` is false.
    """
    directory.mkdir(parents=True, exist_ok=True)
    contents = {name: shipped_file(name) for name in SHIPPED_FILES}
    conflicts = [
        directory / name
        for name, content in contents.items()
        if (directory / name).exists() and (directory / name).read_bytes() != content
    ]
    if conflicts and not force:
        raise FileExistsError(
            "not overwriting files that differ from the shipped ones (use --force to replace them): "
            + ", ".join(str(path) for path in conflicts)
        )
    written = []
    for name, content in contents.items():
        target = directory / name
        if not target.exists() or target.read_bytes() != content:
            target.write_bytes(content)
            written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_cscs_dwdi",
        description="Tools of the CSCS-DWDI to Waldur Airflow provider.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help=f"write {DAG_FILE} and {EXAMPLE_OFFERINGS} into a dags folder")
    init.add_argument("directory", type=Path, help="the dags folder, e.g. $AIRFLOW_HOME/dags")
    init.add_argument("--force", action="store_true", help="replace files that differ from the shipped ones")
    arguments = parser.parse_args(argv)

    try:
        written = write_dag_files(arguments.directory, force=arguments.force)
    except OSError as error:  # FileExistsError included
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    if not written:
        print(f"{arguments.directory}: {DAG_FILE} and {EXAMPLE_OFFERINGS} are already up to date")
    own = arguments.directory.resolve() / OWN_OFFERINGS
    print(
        f"next: copy {EXAMPLE_OFFERINGS} to your own offerings file, edit it, and set "
        f"CSCS_DWDI_CONFIG to its path (or name it {own}, where the DAG file looks when "
        "CSCS_DWDI_CONFIG is unset)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
