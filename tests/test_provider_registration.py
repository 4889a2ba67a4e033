"""The provider is discoverable by Airflow and its connection forms are well-formed."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_provider_cscs_dwdi.operators as operators_package
from airflow_provider_cscs_dwdi.get_provider_info import get_provider_info

INFO = get_provider_info()
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
MASKED_ON_PURPOSE = {"proxy_url"}


def test_package_name_matches_the_installed_distribution() -> None:
    # A mismatch makes every `airflow providers ...` command crash (airflow-3.md).
    assert importlib.metadata.metadata(INFO["package-name"])["Name"] == "airflow-provider-cscs-dwdi"


def test_entry_point_points_at_get_provider_info() -> None:
    entry_points = importlib.metadata.entry_points(group="apache_airflow_provider")
    ours = [ep for ep in entry_points if ep.value.startswith("airflow_provider_cscs_dwdi")]
    assert len(ours) == 1
    assert ours[0].load()() == INFO


@pytest.mark.parametrize(
    "module",
    [m for section in ("hooks", "operators") for entry in INFO[section] for m in entry["python-modules"]],
)
def test_declared_modules_import(module: str) -> None:
    importlib.import_module(module)


def test_every_operator_is_exported_and_registered() -> None:
    from airflow.sdk import BaseOperator

    defined: dict[str, str] = {}
    for found in pkgutil.iter_modules(operators_package.__path__):
        if found.name.startswith("_"):
            continue
        module = importlib.import_module(f"{operators_package.__name__}.{found.name}")
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, BaseOperator)
                and value.__module__ == module.__name__
            ):
                defined[name] = module.__name__
    registered = {module for entry in INFO["operators"] for module in entry["python-modules"]}

    assert "PlanBillingRunOperator" in defined
    assert sorted(defined) == sorted(operators_package.__all__)
    assert set(defined.values()) == registered


@pytest.mark.parametrize("connection", INFO["connection-types"], ids=lambda c: c["connection-type"])
def test_connection_type_matches_its_hook(connection: dict) -> None:
    module_name, class_name = connection["hook-class-name"].rsplit(".", 1)
    hook_class = getattr(importlib.import_module(module_name), class_name)
    assert hook_class.conn_type == connection["connection-type"]
    assert hook_class.hook_name == connection["hook-name"]
    assert hook_class.default_conn_name.endswith("_default")
    assert callable(getattr(hook_class, "test_connection", None))


@pytest.mark.parametrize("connection", INFO["connection-types"], ids=lambda c: c["connection-type"])
def test_non_secret_extras_are_not_masked_by_airflow(connection: dict) -> None:
    from airflow.sdk._shared.secrets_masker.secrets_masker import DEFAULT_SENSITIVE_FIELDS

    for key in connection["conn-fields"]:
        if key in MASKED_ON_PURPOSE:
            continue
        hits = [word for word in DEFAULT_SENSITIVE_FIELDS if word in key.lower()]
        assert not hits, f"extra {key!r} would be masked in logs because it contains {hits}"


@pytest.mark.parametrize("connection", INFO["connection-types"], ids=lambda c: c["connection-type"])
def test_connection_fields_are_json_schema_form_fields(connection: dict) -> None:
    for key, field in connection["conn-fields"].items():
        assert field["label"], key
        assert field["description"], key
        types = field["schema"]["type"]
        assert "null" in types, f"{key}: an empty form field must be allowed (it means the default)"
        assert set(types) <= {"string", "number", "integer", "boolean", "null"}


def test_airflow_cli_lists_the_provider_and_its_connection_types(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    providers = subprocess.run(
        [AIRFLOW, "providers", "list"], env=env, capture_output=True, text=True, check=True
    )
    assert "airflow-provider-cscs-dwdi" in providers.stdout
    hooks = subprocess.run(
        [AIRFLOW, "providers", "hooks"], env=env, capture_output=True, text=True, check=True
    )
    assert "cscs_dwdi" in hooks.stdout
    assert "waldur" in hooks.stdout
