"""The built wheel is all a site needs: installed alone in a new virtualenv, it gives working DAGs.

One module-scoped build and virtualenv: ``python -m build`` makes the sdist and then the wheel
from the unpacked sdist (so the sdist is enough to build from), and the wheel is installed, not
editable, with nothing but its declared dependencies (held to requirements/constraints.txt). Every
check then uses that virtualenv's own ``airflow`` and ``python`` in a throw-away AIRFLOW_HOME on
SQLite, from a directory outside the checkout, so nothing of the repository can stand in for what
the wheel lacks. The last test runs a DAG with ``airflow dags test`` against the sandbox doubles
and compares what landed in Waldur with DWDI's totals.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_cscs_dwdi import __version__
from airflow_provider_cscs_dwdi.core.config import load_config
from airflow_provider_cscs_dwdi.core.months import previous_month
from airflow_provider_cscs_dwdi.dag_factory import (
    AUDIT_DAG_ID_PREFIX,
    CLOSING_DAG_ID_PREFIX,
    CONFIG_ENV_VAR,
    DAG_ID_PREFIX,
)
from sandbox.stack import SandboxStack, differences
from tests.fixtures.offerings import NODE_AND_GPU_COMPONENTS

# setuptools builds in the checkout (build/, *.egg-info): one build at a time among the xdist workers.
pytestmark = [
    pytest.mark.packaging,
    pytest.mark.timeout(900),
    pytest.mark.xdist_group("builds_in_the_checkout"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO_ROOT / "requirements" / "constraints.txt"
DISTRIBUTION = "airflow_provider_cscs_dwdi"
PACKAGE_DIR = REPO_ROOT / DISTRIBUTION
SHIPPED_DAG_FILES = (
    "cscs_dwdi_usage.py",
    "cscs_dwdi_offerings.example.yaml",
    "cscs_dwdi_offerings.schema.json",
)
EXAMPLE_DAG_IDS = sorted(
    prefix + slug
    for slug in ("cscs_hpc_daint", "alps_gpu", "capstor_storage", "llm_inference")
    for prefix in (DAG_ID_PREFIX, CLOSING_DAG_ID_PREFIX, AUDIT_DAG_ID_PREFIX)
)
# The session OIDC issuer's default client (tests/fixtures/oidc_issuer.py).
ISSUER_CLIENT = ("dwdi-client", "dwdi-secret")
COMMAND_TIMEOUT = 300


@dataclass(frozen=True)
class Installed:
    """The built distributions and the virtualenv the wheel is installed in."""

    sdist: Path
    wheel: Path
    venv: Path
    home: Path  # AIRFLOW_HOME, migrated; the dags folder is home / "dags"

    def run(
        self, program: str, *arguments: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run one of the virtualenv's programs (``airflow``, ``python``) outside the checkout."""
        result = subprocess.run(
            [str(self.venv / "bin" / program), *arguments],
            cwd=self.home,
            env={**clean_environment(self.home), **(env or {})},
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if check:
            assert result.returncode == 0, (
                f"{program} {' '.join(arguments)}:\n{result.stdout}\n{result.stderr}"
            )
        return result


def clean_environment(home: Path) -> dict[str, str]:
    """This process's environment without what points at the checkout or its Airflow settings."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW", "CSCS_DWDI", "PYTHON", "VIRTUAL_ENV"))
    }
    return {
        **inherited,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
    }


def checked(command: list[str], **kwargs: Any) -> None:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False, **kwargs
    )
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel_install")
    dist = root / "dist"
    # Without isolation: the setuptools and build of the test virtualenv (pinned), no download.
    checked([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(REPO_ROOT)])
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    venv = root / "venv"
    checked([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    # This virtualenv's pip installs into the new one (--python): no second pip to set up.
    checked(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            # Compiling all of Airflow up front costs more than the modules the checks import.
            "--no-compile",
            "-c",
            str(CONSTRAINTS),
            str(wheel),
        ]
    )
    home = root / "airflow_home"
    (home / "dags").mkdir(parents=True)
    result = Installed(sdist=sdist, wheel=wheel, venv=venv, home=home)
    result.run("airflow", "db", "migrate")
    return result


def test_sdist_carries_the_package_and_the_dags_folder_but_not_the_test_suite(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    package_files = {
        path.relative_to(REPO_ROOT).as_posix()
        for path in PACKAGE_DIR.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }

    assert package_files <= names
    assert {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml"} <= names
    assert {f"dags/{name}" for name in SHIPPED_DAG_FILES} <= names
    # The test suite needs the whole repository (sandbox, scripts, node issuer): not shipped.
    assert not {name for name in names if name.startswith(("tests/", "sandbox/", "scripts/"))}
    assert not {name for name in names if "__pycache__" in name or name.endswith(".pyc")}


def test_wheel_carries_the_dag_files_license_and_type_marker(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        (metadata_name,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        metadata = HeaderParser().parsestr(wheel.read(metadata_name).decode())

    assert {f"{DISTRIBUTION}/dags/{name}" for name in SHIPPED_DAG_FILES} <= names
    assert f"{DISTRIBUTION}/py.typed" in names
    assert f"{DISTRIBUTION}-{__version__}.dist-info/licenses/LICENSE" in names
    assert metadata["License-Expression"] == "MIT"
    assert "compute, storage and inference" in metadata["Summary"]
    requirements = metadata.get_all("Requires-Dist") or []
    assert "apache-airflow>=3.3.2" in requirements
    assert not [name for name in requirements if name.startswith("requests-toolbelt")]


def test_the_provider_is_imported_from_the_wheel_not_the_checkout(installed: Installed) -> None:
    found = installed.run("python", "-c", f"import {DISTRIBUTION}; print({DISTRIBUTION}.__file__)")

    location = Path(found.stdout.strip())
    assert location.is_relative_to(installed.venv), location
    assert not (location.parent / ".." / ".git").exists()


def test_airflow_lists_the_provider_and_both_connection_types(installed: Installed) -> None:
    providers = installed.run("airflow", "providers", "list", "-o", "json")
    hooks = installed.run("airflow", "providers", "hooks", "-o", "json")

    (ours,) = [
        row for row in json_rows(providers.stdout) if row["package_name"] == "airflow-provider-cscs-dwdi"
    ]
    assert ours["version"] == __version__
    assert "compute, storage and inference" in ours["description"]
    connection_types = {row["connection_type"]: row["class"] for row in json_rows(hooks.stdout)}
    assert connection_types["cscs_dwdi"] == f"{DISTRIBUTION}.hooks.dwdi.DWDIHook"
    assert connection_types["waldur"] == f"{DISTRIBUTION}.hooks.waldur.WaldurHook"


def test_the_wheel_alone_registers_the_billing_view_plugin_with_its_offline_assets(
    installed: Installed,
) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    static = f"{DISTRIBUTION}/view/static"
    assert {f"{static}/view.js", f"{static}/view.css", f"{static}/vendor/frappe-charts.min.umd.js"} <= names
    assert f"{static}/vendor/frappe-charts.LICENSE" in names

    plugins = installed.run("airflow", "plugins", "-o", "json")

    (view,) = [row for row in json_rows(plugins.stdout) if row["name"] == "cscs_dwdi_billing_view"]
    assert "/cscs-dwdi-billing" in json.dumps(view["fastapi_apps"])
    assert "Billing" in json.dumps(view["external_views"])


def test_init_writes_the_dag_files_and_without_an_offerings_file_airflow_says_how_to_set_it(
    installed: Installed,
) -> None:
    dags = installed.home / "dags"

    written = installed.run("python", "-m", DISTRIBUTION, "init", str(dags))
    errors = installed.run("airflow", "dags", "list-import-errors", "--local", "-o", "json", check=False)

    assert sorted(path.name for path in dags.iterdir() if path.is_file()) == sorted(SHIPPED_DAG_FILES)
    for name in SHIPPED_DAG_FILES:
        assert (dags / name).read_bytes() == (REPO_ROOT / "dags" / name).read_bytes()
    assert CONFIG_ENV_VAR in written.stdout
    assert f"{CONFIG_ENV_VAR} is not set and {dags / 'cscs_dwdi_offerings.yaml'} does not exist" in (
        errors.stdout + errors.stderr
    )


def test_the_dag_file_and_an_offerings_file_give_the_dags_without_import_errors(
    installed: Installed,
) -> None:
    dags = installed.home / "dags"
    installed.run("python", "-m", DISTRIBUTION, "init", str(dags))
    config = {CONFIG_ENV_VAR: str(dags / "cscs_dwdi_offerings.example.yaml")}

    errors = installed.run("airflow", "dags", "list-import-errors", "--local", "-o", "json", env=config)
    listed = installed.run("airflow", "dags", "list", "--local", "-o", "json", env=config)

    assert "No data found" in errors.stdout or json_rows(errors.stdout) == []
    assert sorted(row["dag_id"] for row in json_rows(listed.stdout)) == EXAMPLE_DAG_IDS


@pytest.fixture(scope="module")
def sandbox(oidc_issuer: Any, installed: Installed) -> Iterator[tuple[SandboxStack, dict[str, str]]]:
    config_file = installed.home / "offerings.yaml"
    offering = {
        "name": "Wheel HPC",
        "slug": "wheel_hpc",
        "offering_uuid": "5c2f7e3b0d4e5f6a9b8c7d6e5f4a3b2c",
        "billing_timezone": "Europe/Zurich",
        "backend_components": NODE_AND_GPU_COMPONENTS,
        "archive_path": f"file://{installed.home}/archive",
    }
    config_file.write_text(yaml.safe_dump({"offerings": [offering]}))
    stack = SandboxStack(
        load_config(config_file).offerings,
        accounts_per_offering=3,
        waldur_version="8",
        external_issuer=(oidc_issuer.realm_url, oidc_issuer.jwks_url, oidc_issuer.token_url),
        client_id=ISSUER_CLIENT[0],
        client_secret=ISSUER_CLIENT[1],
    )
    stack.start()
    try:
        yield stack, {CONFIG_ENV_VAR: str(config_file), **stack.connection_env()}
    finally:
        stack.stop()


def test_a_dag_run_from_the_wheel_lands_dwdi_totals_in_waldur(
    installed: Installed, sandbox: tuple[SandboxStack, dict[str, str]]
) -> None:
    stack, environment = sandbox
    installed.run("python", "-m", DISTRIBUTION, "init", str(installed.home / "dags"))
    now = datetime.now(UTC)
    month = previous_month(previous_month(f"{now.year:04d}-{now.month:02d}"))

    run = installed.run(
        "airflow",
        "dags",
        "test",
        DAG_ID_PREFIX + "wheel_hpc",
        "-c",
        json.dumps({"month": month}),
        env=environment,
        check=False,
    )

    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    item = stack.seeded[0]
    expected = stack.expected(item, month)
    assert any(amount > 0 for account in expected.values() for amount in account["total"].values())
    assert differences(expected, stack.landed(item, month)) == []


def json_rows(stdout: str) -> list[dict[str, Any]]:
    """The JSON table of ``-o json``; Airflow may log to stdout too, on lines of their own."""
    tables = [line for line in stdout.splitlines() if line.startswith("[")]
    return json.loads(tables[-1]) if tables else []
