"""The offerings YAML for storage and inference offerings: defaults, paths, and mistakes named."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import yaml

from airflow_provider_cscs_dwdi.core.config import parse_config
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.kinds import StorageSettings, UsageKind

STORAGE_YAML = """
offerings:
  - name: Capstor Store
    offering_uuid: 9a0b1c2d3e4f40516273849a0b1c2d3e
    billing_timezone: Europe/Zurich
    usage_kind: storage
    storage:
      filesystem: capstor
      data_type: store
      path_template: /capstor/store/cscs/{backend_id}
      path_mapping:
        g207: /capstor/store/legacy/g207
        1234: /capstor/store/numeric
    backend_components:
      storage_space:
        measured_unit: TB
        unit_factor: "1e-12"
        label: Storage space
        dwdi_field: spaceUsed
      storage_inodes:
        measured_unit: million inodes
        unit_factor: 0.000001
        label: Inodes
        dwdi_field: inodesUsed
  - name: LLM Inference
    offering_uuid: 1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9
    billing_timezone: UTC
    usage_kind: inference
    backend_components:
      token_cost:
        measured_unit: CHF
        label: Inference cost
        dwdi_field: totalCost
"""
STORAGE = "offering 'Capstor Store' (#1)"
INFERENCE = "offering 'LLM Inference' (#2)"


def document() -> dict[str, Any]:
    return yaml.safe_load(STORAGE_YAML)


def parse(doc: dict[str, Any]) -> Any:
    return parse_config(doc, source="offerings.yaml")


def test_storage_and_inference_offerings_load() -> None:
    storage, inference = parse(document()).offerings

    assert storage.usage_kind is UsageKind.STORAGE
    assert storage.storage == StorageSettings(
        filesystem="capstor",
        data_type="store",
        path_template="/capstor/store/cscs/{backend_id}",
        path_mapping={"g207": "/capstor/store/legacy/g207", "1234": "/capstor/store/numeric"},
    )
    assert [(c.type, c.dwdi_field) for c in storage.components] == [
        ("storage_space", "spaceUsed"),
        ("storage_inodes", "inodesUsed"),
    ]
    # A YAML string and a YAML number both give the exact decimal, never a binary float artefact.
    assert [c.unit_factor for c in storage.components] == [Decimal("1e-12"), Decimal("0.000001")]
    assert inference.usage_kind is UsageKind.INFERENCE
    assert inference.storage is None
    assert inference.offering_uuid == "1f2e3d4c5b6a49788695a4b3c2d1e0f9"


def test_usage_kind_defaults_to_compute_so_existing_files_keep_working() -> None:
    doc = document()
    del doc["offerings"][1]["usage_kind"]
    doc["offerings"][1]["backend_components"] = {"nodeHours": {"measured_unit": "node-hours"}}

    offering = parse(doc).offerings[1]

    assert offering.usage_kind is UsageKind.COMPUTE
    assert offering.usage_kind.has_users
    assert offering.storage is None


def test_a_storage_path_is_mapped_else_templated() -> None:
    settings = parse(document()).offerings[0].storage
    assert settings is not None

    assert settings.path_of("g207") == "/capstor/store/legacy/g207"
    assert settings.path_of("1234") == "/capstor/store/numeric"
    assert settings.path_of("g300") == "/capstor/store/cscs/g300"


def test_without_mapping_or_template_the_backend_id_is_the_path() -> None:
    settings = StorageSettings(filesystem="lustre", data_type="projects")

    assert settings.path_of("/lustre/projects/p1") == "/lustre/projects/p1"


def test_two_resources_resolving_to_one_path_are_an_error_naming_both() -> None:
    settings = StorageSettings(
        filesystem="capstor",
        data_type="store",
        path_template="/capstor/store/{backend_id}",
        path_mapping={"old": "/capstor/store/new"},
    )

    assert settings.paths_of(["old", "g1"]) == {"old": "/capstor/store/new", "g1": "/capstor/store/g1"}
    with pytest.raises(ConfigurationError, match="'old' and 'new' both resolve to path '/capstor/store/new'"):
        settings.paths_of(["old", "new"])


def set_storage(**changes: Any) -> dict[str, Any]:
    doc = document()
    doc["offerings"][0]["storage"].update(changes)
    return doc


def drop_storage_key(key: str) -> dict[str, Any]:
    doc = document()
    del doc["offerings"][0]["storage"][key]
    return doc


def with_offering_change(index: int, **changes: Any) -> dict[str, Any]:
    doc = document()
    doc["offerings"][index].update(changes)
    return doc


def without_storage() -> dict[str, Any]:
    doc = document()
    del doc["offerings"][0]["storage"]
    return doc


BROKEN: dict[str, tuple[dict[str, Any], str]] = {
    "unknown kind": (
        with_offering_change(1, usage_kind="gpu"),
        f"{INFERENCE}: usage_kind: expected one of compute, storage, inference, got 'gpu'",
    ),
    "storage settings on a compute offering": (
        with_offering_change(1, usage_kind="compute", storage={"filesystem": "x", "data_type": "y"}),
        f"{INFERENCE}: storage: only a storage offering has storage settings, this offering is compute",
    ),
    "storage settings on an inference offering": (
        with_offering_change(1, storage={"filesystem": "x", "data_type": "y"}),
        f"{INFERENCE}: storage: only a storage offering has storage settings, this offering is inference",
    ),
    "storage offering without storage settings": (
        without_storage(),
        f"{STORAGE}: storage: required for usage_kind storage",
    ),
    "missing filesystem": (drop_storage_key("filesystem"), f"{STORAGE}: storage.filesystem: required"),
    "missing data type": (drop_storage_key("data_type"), f"{STORAGE}: storage.data_type: required"),
    "blank filesystem": (
        set_storage(filesystem=" "),
        f"{STORAGE}: storage.filesystem: expected a non-empty string",
    ),
    "template without backend_id": (
        set_storage(path_template="/capstor/store/all"),
        f"{STORAGE}: storage.path_template: '/capstor/store/all' lacks {{backend_id}}",
    ),
    "template with another field": (
        set_storage(path_template="/capstor/{tenant}/{backend_id}"),
        f"{STORAGE}: storage.path_template: '/capstor/{{tenant}}/{{backend_id}}' uses {{tenant}}",
    ),
    "broken template": (
        set_storage(path_template="/capstor/{backend_id"),
        f"{STORAGE}: storage.path_template: '/capstor/{{backend_id' is not a valid template",
    ),
    "two backend ids mapped to one path": (
        set_storage(path_mapping={"a1": "/capstor/p", "b2": "/capstor/p"}),
        f"{STORAGE}: storage.path_mapping: backend IDs 'a1' and 'b2' both map to path '/capstor/p'",
    ),
    "mapping to a blank path": (
        set_storage(path_mapping={"a1": ""}),
        f"{STORAGE}: storage.path_mapping.a1: expected a non-empty path",
    ),
    "mapping that is a list": (
        set_storage(path_mapping=["a1"]),
        f"{STORAGE}: storage.path_mapping: expected a mapping of backend IDs to paths, got list",
    ),
    "typo in a storage key": (
        set_storage(filesytem="capstor"),
        f"{STORAGE}: unknown key(s) at storage: filesytem",
    ),
    "clusters on a storage offering": (
        with_offering_change(0, clusters=["daint"]),
        f"{STORAGE}: clusters: only compute usage has clusters, this offering is storage",
    ),
    "a component reading the path": (
        with_offering_change(0, backend_components={"p": {"measured_unit": "x", "dwdi_field": "path"}}),
        f"{STORAGE}: backend_components: component 'p': dwdi_field 'path' names the storage record",
    ),
    "a component reading the resource uuid": (
        with_offering_change(
            1, backend_components={"u": {"measured_unit": "x", "dwdi_field": "waldurResourceUuid"}}
        ),
        f"{INFERENCE}: backend_components: component 'u': dwdi_field 'waldurResourceUuid' names the inference",
    ),
}


@pytest.mark.parametrize(("doc", "message"), list(BROKEN.values()), ids=list(BROKEN))
def test_a_wrong_combination_names_the_offering_and_the_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse(doc)

    assert str(caught.value).startswith(f"offerings.yaml: {message}")
