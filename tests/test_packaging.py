"""Packaging tells the truth: the Python floor it declares is the one CI bootstraps and lints for."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def declared_floor() -> tuple[int, int]:
    requirement = PYPROJECT["project"]["requires-python"]
    assert requirement.startswith(">="), requirement
    major, minor = requirement.removeprefix(">=").split(".")[:2]
    return int(major), int(minor)


def test_floor_covers_what_the_code_uses() -> None:
    # enum.StrEnum (core.usage) and tomllib (this test) exist from Python 3.11 on.
    assert declared_floor() >= (3, 11)


def test_ruff_lints_for_the_declared_floor() -> None:
    major, minor = declared_floor()

    assert PYPROJECT["tool"]["ruff"]["target-version"] == f"py{major}{minor}"


def test_bootstrap_creates_the_virtualenv_with_the_declared_floor() -> None:
    environment = {name: value for name, value in os.environ.items() if name != "PYTHON"}
    printed = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "bootstrap.sh"), "--python"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()

    assert printed == "python{}.{}".format(*declared_floor())


def test_tests_run_on_the_floor_under_ci() -> None:
    running = sys.version_info[:2]

    assert running >= declared_floor()
    if os.environ.get("CI") == "true":
        assert running == declared_floor()  # CI proves the floor, not a newer Python


def test_troubleshooting_page_names_the_loggers_hooks_and_operators_really_use() -> None:
    from airflow_provider_cscs_dwdi.hooks.dwdi import DWDIHook
    from airflow_provider_cscs_dwdi.hooks.waldur import WaldurHook
    from airflow_provider_cscs_dwdi.operators.fetch import FetchMonthlyUsageOperator

    page = (REPO_ROOT / "docs" / "troubleshooting.md").read_text()
    paragraph = page.split("## Debug logging\n\n", 1)[1].split("\n\n")[0]
    documented = set(re.findall(r"`(airflow\.task\.[\w.]+)`", paragraph))
    hook_prefix = "airflow.task.hooks.airflow_provider_cscs_dwdi"
    operator_prefix = "airflow.task.operators.airflow_provider_cscs_dwdi"
    operator = FetchMonthlyUsageOperator(task_id="fetch", dwdi_conn_id="unused", billing_timezone="UTC")

    assert {hook_prefix, operator_prefix, DWDIHook("unused").log.name} <= documented
    for logger_name in (DWDIHook("unused").log.name, WaldurHook("unused").log.name):
        assert logger_name.startswith(hook_prefix + "."), logger_name
    assert operator.log.name.startswith(operator_prefix + "."), operator.log.name
