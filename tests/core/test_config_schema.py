"""The JSON Schema of the offerings file: committed up to date, described, and used by the example."""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from airflow_provider_cscs_dwdi.core.config import parse_config
from airflow_provider_cscs_dwdi.core.config_schema import (
    REFERENCE_BEGIN,
    REFERENCE_END,
    SCHEMA_PATH,
    reference_markdown,
    schema_text,
)
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "dags" / "cscs_dwdi_offerings.example.yaml"
CONFIGURATION_PAGE = ROOT / "docs" / "configuration.md"
REGENERATE = (
    "python -m airflow_provider_cscs_dwdi.core.config_schema > airflow_provider_cscs_dwdi/dags/"
    "cscs_dwdi_offerings.schema.json (and copy it to dags/)"
)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def test_the_committed_schema_is_the_one_the_models_generate() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), f"out of date: run {REGENERATE}"


def test_the_example_names_the_committed_schema_for_editors() -> None:
    first_line = EXAMPLE.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="

    assert first_line.startswith(prefix)
    # A path beside the example: it holds in the repository's dags/, in the package and in a
    # folder written by `init` (tests/packaging keeps the copies identical).
    named = EXAMPLE.parent / first_line.removeprefix(prefix)
    assert named.read_text(encoding="utf-8") == SCHEMA_PATH.read_text(encoding="utf-8")


def test_the_example_is_valid_under_the_schema(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)

    jsonschema.Draft202012Validator(schema).validate(example())


def described_properties(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property of every object in the schema, with its dotted path."""
    if isinstance(node, dict):
        for name, prop in node.get("properties", {}).items():
            yield f"{path}{name}", prop
        for key, child in node.items():
            yield from described_properties(child, f"{path}{key}." if key == "properties" else path)
    elif isinstance(node, list):
        for child in node:
            yield from described_properties(child, path)


def test_every_key_has_a_title_and_a_description(schema: dict[str, Any]) -> None:
    properties = list(described_properties(schema))

    assert len(properties) >= 25  # top level, offering, component and storage keys
    undescribed = [path for path, prop in properties if not prop.get("title") or not prop.get("description")]
    assert undescribed == []


def first_offering(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda document: change(document["offerings"][0])


MISTAKES: dict[str, Callable[[dict[str, Any]], None]] = {
    "unknown offering key": first_offering(lambda offering: offering.update(bad_value_polcy="skip")),
    "missing name": first_offering(lambda offering: offering.pop("name")),
    "unknown kind": first_offering(lambda offering: offering.update(usage_kind="gpu")),
    "reopen too long": first_offering(lambda offering: offering.update(reopen_previous_month_days=28)),
    "no components": first_offering(lambda offering: offering.update(backend_components={})),
    "unknown component setting": first_offering(
        lambda offering: offering["backend_components"]["nodeHours"].update(unit_factr=2)
    ),
    "zero unit factor": first_offering(
        lambda offering: offering["backend_components"]["nodeHours"].update(unit_factor=0)
    ),
    "bad slug": first_offering(lambda offering: offering.update(slug="Daint-HPC")),
    "unknown top-level key": lambda document: document.update(offering=[]),
    "no offerings": lambda document: document.update(offerings=[]),
}


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_the_schema_and_the_loader_refuse_the_same_mistakes(schema: dict[str, Any], mistake: str) -> None:
    document = copy.deepcopy(example())
    MISTAKES[mistake](document)

    assert not jsonschema.Draft202012Validator(schema).is_valid(document)
    with pytest.raises(ConfigurationError):
        parse_config(document, source="offerings.yaml")


def test_the_configuration_page_has_the_reference_the_schema_generates(schema: dict[str, Any]) -> None:
    page = CONFIGURATION_PAGE.read_text(encoding="utf-8")
    start, end = page.index(REFERENCE_BEGIN), page.index(REFERENCE_END) + len(REFERENCE_END) + 1

    assert page[start:end] == reference_markdown(schema), (
        "docs/configuration.md is out of date: paste the output of "
        "python -m airflow_provider_cscs_dwdi.core.config_schema --markdown"
    )
    for path, _prop in described_properties(schema):
        assert f"| `{path.rsplit('.', 1)[-1]}` |" in page, f"{path} is missing from docs/configuration.md"


def test_the_schema_is_package_data() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = project["tool"]["setuptools"]["package-data"]["airflow_provider_cscs_dwdi.dags"]

    assert any(SCHEMA_PATH.match(f"airflow_provider_cscs_dwdi/dags/{pattern}") for pattern in package_data)
