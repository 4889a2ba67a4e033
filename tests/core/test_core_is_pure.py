"""core/ is pure Python: importing any of it must not import Airflow."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import airflow_provider_cscs_dwdi.core as core_package

CORE_DIR = Path(core_package.__file__).resolve().parent
REPO_ROOT = CORE_DIR.parents[1]
# Subpackages too (core/anomalies/): each module by its dotted name.
CORE_MODULES = sorted(
    "airflow_provider_cscs_dwdi.core." + ".".join(path.relative_to(CORE_DIR).with_suffix("").parts)
    for path in CORE_DIR.rglob("*.py")
    if path.stem != "__init__"
)
# `import airflow`, `import airflow.sdk`, `from airflow import ...`, `from airflow.x import ...`
AIRFLOW_IMPORT = re.compile(r"^\s*(import\s+airflow\b|from\s+airflow(\.|\s))", re.MULTILINE)


def test_the_core_modules_are_found() -> None:
    # Guards the two tests below against passing on an empty list.
    assert {
        "airflow_provider_cscs_dwdi.core.usage",
        "airflow_provider_cscs_dwdi.core.report",
        "airflow_provider_cscs_dwdi.core.anomalies.checks",
    } <= set(CORE_MODULES)


def test_importing_every_core_module_does_not_import_airflow() -> None:
    script = (
        "import importlib, json, sys\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_no_core_file_imports_airflow() -> None:
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in sorted(CORE_DIR.rglob("*.py"))
        if AIRFLOW_IMPORT.search(path.read_text(encoding="utf-8"))
    ]

    assert offenders == []


def test_the_import_pattern_catches_airflow_imports() -> None:
    for line in ("import airflow", "from airflow.sdk import BaseOperator", "    from airflow import DAG"):
        assert AIRFLOW_IMPORT.search(line), line
    for line in ("import airflow_provider_cscs_dwdi", "from airflow_provider_cscs_dwdi.core import usage"):
        assert not AIRFLOW_IMPORT.search(line), line
