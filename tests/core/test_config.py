"""The offerings YAML: the shipped example is valid, and every mistake names offering and field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_cscs_dwdi.core.config import OfferingsConfig, load_config, parse_config, slugify
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError

EXAMPLE = Path(__file__).resolve().parents[2] / "dags" / "cscs_dwdi_offerings.example.yaml"
FIRST = "offering 'CSCS HPC Daint' (#1)"
SECOND = "offering 'CSCS GPU Alps' (#2)"


def example_document() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))


def parse_changed(change: Callable[[dict[str, Any]], None]) -> OfferingsConfig:
    document = example_document()
    change(document)
    return parse_config(document, source="offerings.yaml")


def test_example_configuration_loads_with_defaults_applied() -> None:
    config = load_config(EXAMPLE)

    assert config.source == str(EXAMPLE)
    daint, alps, capstor, llm = config.offerings
    assert (daint.name, daint.slug) == ("CSCS HPC Daint", "cscs_hpc_daint")
    assert daint.offering_uuid == "0b8a5f3c2d4e4f619a7b3c5d6e7f8a91"  # dashes dropped, as Waldur spells it
    assert (daint.dwdi_conn_id, daint.waldur_conn_id) == ("cscs_dwdi_default", "waldur_default")
    assert (daint.clusters, daint.bad_value_policy, daint.reopen_previous_month_days) == (None, "fail", 3)
    assert (daint.schedule, daint.archive_path, daint.tags) == ("@daily", None, ("daint",))
    assert [c.type for c in daint.components] == ["nodeHours"]

    assert alps.slug == "alps_gpu"
    assert alps.clusters == ("alps", "clariden")
    assert (alps.bad_value_policy, alps.reopen_previous_month_days) == ("skip", 5)
    gpu = next(c for c in alps.components if c.type == "gpuNodeHours")
    assert (gpu.dwdi_field, str(gpu.unit_factor)) == ("gpuHours", "0.25")
    assert alps.backend_components["gpuNodeHours"]["label"] == "GPU Node Hours"

    # The other two kinds: storage in TB and millions of inodes, inference cost as priced.
    assert (daint.usage_kind, alps.usage_kind, capstor.usage_kind, llm.usage_kind) == (
        "compute",
        "compute",
        "storage",
        "inference",
    )
    assert capstor.storage is not None
    assert capstor.storage.path_of("g207") == "/capstor/store/cscs/g207"
    assert capstor.storage.path_of("legacy_climate") == "/capstor/store/cscs/userlab/climate-2019"
    factors = {c.dwdi_field: str(c.unit_factor) for c in capstor.components}
    assert {field: Decimal(factor) for field, factor in factors.items()} == {
        "spaceUsed": Decimal("1e-12"),
        "inodesUsed": Decimal("0.000001"),
    }
    assert [(c.type, c.dwdi_field, c.unit_factor) for c in llm.components] == [
        ("token_cost", "totalCost", Decimal(1))
    ]


def test_slug_is_lower_case_letters_digits_and_underscores() -> None:
    assert slugify("  CSCS HPC (Daint) / v2 ") == "cscs_hpc_daint_v2"


def first(document: dict[str, Any]) -> dict[str, Any]:
    return document["offerings"][0]


def second(document: dict[str, Any]) -> dict[str, Any]:
    return document["offerings"][1]


BROKEN_FIELDS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "unknown time zone": (
        lambda d: first(d).update(billing_timezone="Mars/Base"),
        f"{FIRST}: billing_timezone: unknown time zone 'Mars/Base'",
    ),
    "missing time zone": (
        lambda d: first(d).pop("billing_timezone"),
        f"{FIRST}: billing_timezone: required",
    ),
    "bad uuid": (
        lambda d: second(d).update(offering_uuid="not-a-uuid"),
        f"{SECOND}: offering_uuid: not a UUID: 'not-a-uuid'",
    ),
    "missing name": (lambda d: second(d).pop("name"), "offering #2: name: required"),
    "blank name": (lambda d: first(d).update(name="  "), "offering #1: name: expected a non-empty string"),
    "typo in a key": (
        lambda d: first(d).update(bad_value_polcy="skip"),
        f"{FIRST}: unknown key(s) at offering: bad_value_polcy",
    ),
    "unknown policy": (
        lambda d: first(d).update(bad_value_policy="zero"),
        f"{FIRST}: bad_value_policy: expected one of fail, skip, got 'zero'",
    ),
    "reopen too large": (
        lambda d: second(d).update(reopen_previous_month_days=28),
        f"{SECOND}: reopen_previous_month_days: expected a whole number from 0 to 27, got 28",
    ),
    "reopen boolean": (
        lambda d: second(d).update(reopen_previous_month_days=True),
        f"{SECOND}: reopen_previous_month_days: expected a whole number from 0 to 27, got True",
    ),
    "empty cluster list": (
        lambda d: second(d).update(clusters=[]),
        f"{SECOND}: clusters: expected a non-empty list of strings",
    ),
    "cluster not a string": (
        lambda d: second(d).update(clusters=["alps", 7]),
        f"{SECOND}: clusters: every item must be a non-empty string, got 7",
    ),
    "tags not a list": (lambda d: first(d).update(tags="daint"), f"{FIRST}: tags: expected a non-empty list"),
    "connection id with a space": (
        lambda d: first(d).update(waldur_conn_id="waldur prod"),
        f"{FIRST}: waldur_conn_id: not a valid Airflow connection id: 'waldur prod'",
    ),
    "bad slug": (
        lambda d: second(d).update(slug="Alps-GPU"),
        f"{SECOND}: slug: only a-z, 0-9 and '_' are allowed, got 'Alps-GPU'",
    ),
    "name without letters": (
        lambda d: first(d).update(name="***"),
        "offering '***' (#1): name: '***' has no letter or digit",
    ),
    "no components": (
        lambda d: first(d).update(backend_components={}),
        f"{FIRST}: backend_components: expected a non-empty mapping",
    ),
    "zero unit factor": (
        lambda d: second(d)["backend_components"]["gpuNodeHours"].update(unit_factor=0),
        f"{SECOND}: backend_components: ",
    ),
    "duplicate name": (
        lambda d: second(d).update(name="CSCS HPC Daint"),
        "offering 'CSCS HPC Daint' (#2): name: 'CSCS HPC Daint' is already used by offering #1",
    ),
    "duplicate slug": (
        lambda d: second(d).update(slug="cscs_hpc_daint"),
        f"{SECOND}: slug: 'cscs_hpc_daint' is already used by offering #1",
    ),
    "same uuid spelled differently": (
        lambda d: second(d).update(offering_uuid="0B8A5F3C2D4E4F619A7B3C5D6E7F8A91"),
        f"{SECOND}: offering_uuid: '0b8a5f3c2d4e4f619a7b3c5d6e7f8a91' is already used by offering #1",
    ),
    "offering not a mapping": (
        lambda d: d["offerings"].append("CSCS Eiger"),
        "offering #5: expected a mapping, got str 'CSCS Eiger'",
    ),
    "no offerings": (lambda d: d.update(offerings=[]), "offerings: expected a non-empty list"),
    "unknown top-level key": (
        lambda d: d.update(offering=[]),
        "unknown key(s) at top level: offering (allowed: notifications, offerings)",
    ),
}


@pytest.mark.parametrize("case", BROKEN_FIELDS, ids=list(BROKEN_FIELDS))
def test_broken_field_is_named_with_its_offering(case: str) -> None:
    change, expected = BROKEN_FIELDS[case]

    with pytest.raises(ConfigurationError) as raised:
        parse_changed(change)

    assert str(raised.value).startswith("offerings.yaml: "), str(raised.value)
    assert expected in str(raised.value)


def test_component_error_keeps_the_component_parser_message() -> None:
    def zero_factor(document: dict[str, Any]) -> None:
        second(document)["backend_components"]["gpuNodeHours"]["unit_factor"] = 0

    with pytest.raises(ConfigurationError, match=r"backend_components: .*gpuNodeHours.*unit_factor"):
        parse_changed(zero_factor)


def test_document_that_is_not_a_mapping() -> None:
    with pytest.raises(ConfigurationError, match=r"^x\.yaml: expected a mapping with an 'offerings' list"):
        parse_config(["CSCS HPC"], source="x.yaml")


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"

    with pytest.raises(ConfigurationError, match=rf"^{missing}: cannot read the offerings configuration"):
        load_config(missing)


def test_invalid_yaml_names_the_path_and_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("offerings:\n  - name: [unclosed\n")

    with pytest.raises(ConfigurationError, match=rf"(?s)^{broken}: not valid YAML: .*line 2, column 11"):
        load_config(broken)
