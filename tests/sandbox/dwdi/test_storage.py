"""The DWDI double's storage endpoint and dataset: one level per path and month, deterministic,
rounding edges, filters, expected levels recomputed from the served JSON, injections, 404."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest
import requests

from sandbox.dwdi_server import STORAGE_PATH, DWDISandbox, StorageDataset, StoragePath
from tests.sandbox.dwdi.helpers import STATIC, TODAY, MakeSandbox, get, usage_entries

PATHS = [f"/capstor/store/cscs/p{n:03d}" for n in range(1, 21)]


@pytest.fixture
def storage() -> StorageDataset:
    return StorageDataset(paths=PATHS, today=TODAY)


@pytest.fixture
def storage_sandbox(make_dwdi_sandbox: MakeSandbox, storage: StorageDataset) -> DWDISandbox:
    return make_dwdi_sandbox(storage=storage, today=TODAY)


def test_one_level_per_path_deterministic_and_some_paths_without_data(storage: StorageDataset) -> None:
    entries = storage.entries("2026-10")
    assert entries == StorageDataset(paths=list(reversed(PATHS)), today=TODAY).entries("2026-10")
    assert entries != StorageDataset(paths=PATHS, today=TODAY, seed=8).entries("2026-10")
    assert [e["path"] for e in entries] == [p for p in PATHS if storage.has_data(p)]
    assert len(entries) == 18  # positions 4 and 14 have no data
    assert all(isinstance(e["spaceUsed"], int) and isinstance(e["inodesUsed"], int) for e in entries)
    assert storage.entries("2026-12") == []  # after today
    assert storage.entries("2026-09") != entries  # a level per month


def test_edge_paths_sit_on_unit_rounding_edges(storage: StorageDataset) -> None:
    edges = {10**12 - 1, 10**12, 10**12 + 1, 5 * 10**9, 5 * 10**9 - 1, 10**9 - 1, 5 * 10**6, 0, 1}
    months = [f"2026-{m:02d}" for m in range(1, 12)]
    edge_paths = [p for i, p in enumerate(PATHS) if i % 10 in (1, 6)]
    served = {e["spaceUsed"] for m in months for e in storage.entries(m, edge_paths)}
    assert served <= edges
    assert 10**12 - 1 in served


def test_the_endpoint_answers_only_requested_paths_with_data(
    storage_sandbox: DWDISandbox, storage: StorageDataset, session: requests.Session
) -> None:
    asked = [PATHS[0], PATHS[4], "/not/in/the/dataset"]
    served = usage_entries(session, storage_sandbox, STORAGE_PATH, **{"exact-month": "2026-10"}, paths=asked)
    assert [e["path"] for e in served] == [PATHS[0]]
    assert storage.paths_without_data("2026-10", asked) == sorted(asked[1:])
    assert (
        len(usage_entries(session, storage_sandbox, STORAGE_PATH, **{"exact-month": "2026-10"})) == 18
    )  # no paths: all
    assert storage_sandbox.requests[0].query["paths"] == asked


def test_filesystem_and_data_type_filter(make_dwdi_sandbox: MakeSandbox, session: requests.Session) -> None:
    storage = StorageDataset(
        paths=[
            "/capstor/store/a",
            StoragePath("/capstor/projects/b", data_type="projects"),
            StoragePath("/lustre/c", "lustre"),
        ],
        today=TODAY,
    )
    sandbox = make_dwdi_sandbox(storage=storage)
    month = {"exact-month": "2026-10"}
    assert [
        e["path"] for e in usage_entries(session, sandbox, STORAGE_PATH, **month, data_type="projects")
    ] == ["/capstor/projects/b"]
    assert [
        e["path"] for e in usage_entries(session, sandbox, STORAGE_PATH, **month, filesystem="lustre")
    ] == ["/lustre/c"]
    both = usage_entries(session, sandbox, STORAGE_PATH, **month, filesystem="capstor", data_type="store")
    assert [e["path"] for e in both] == ["/capstor/store/a"]


def test_expected_levels_are_the_served_values_as_decimals(
    storage_sandbox: DWDISandbox, storage: StorageDataset, session: requests.Session
) -> None:
    response = get(session, storage_sandbox, STORAGE_PATH, **{"exact-month": "2026-11"}, paths=PATHS)
    # Parsed here with Decimal from the bytes on the wire, not through the provider.
    served = json.loads(response.content, parse_int=Decimal)["storage"]
    levels = {e["path"]: {"spaceUsed": e["spaceUsed"], "inodesUsed": e["inodesUsed"]} for e in served}
    assert storage.expected_levels("2026-11", PATHS) == levels


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({}, "exact-month"),
        ({"exact-month": "2026-13"}, "YYYY-MM"),
        ({"exact-month": "2026-10-01"}, "YYYY-MM"),
        ({"exact-month": "2026-10", "filesystem": ["a", "b"]}, "filesystem"),
    ],
)
def test_bad_queries_are_400(
    storage_sandbox: DWDISandbox, session: requests.Session, query: dict[str, object], problem: str
) -> None:
    response = get(session, storage_sandbox, STORAGE_PATH, **query)
    assert response.status_code == 400
    assert problem in response.json()["detail"]


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("negative", b"-5"),
        ("null", b"null"),
        ("nan_string", b'"NaN"'),
        ("nan_token", b"NaN"),
        ("text", b'"12 TB"'),
    ],
)
@pytest.mark.parametrize("field", ["spaceUsed", "inodesUsed"])
def test_bad_values_are_served_as_injected_and_expected_as_issues(
    storage_sandbox: DWDISandbox,
    storage: StorageDataset,
    session: requests.Session,
    kind: str,
    raw: bytes,
    field: str,
) -> None:
    storage.set_bad_value(PATHS[1], field, kind)
    response = get(session, storage_sandbox, STORAGE_PATH, **{"exact-month": "2026-10"}, paths=PATHS[:3])
    assert f'"{field}": '.encode() + raw in response.content
    assert storage.expected_issues("2026-10", PATHS[:3]) == {PATHS[1]: f"{field} is {kind}"}
    assert set(storage.expected_levels("2026-10", PATHS[:3])) == {PATHS[0], PATHS[2]}
    storage.clear_injections()
    assert storage.expected_issues("2026-10") == {}


def test_a_path_answered_twice(
    storage_sandbox: DWDISandbox, storage: StorageDataset, session: requests.Session
) -> None:
    storage.answer_twice(PATHS[0])
    served = usage_entries(
        session, storage_sandbox, STORAGE_PATH, **{"exact-month": "2026-10"}, paths=PATHS[:2]
    )
    assert [e["path"] for e in served] == [PATHS[0], PATHS[0], PATHS[1]]
    assert served[0]["spaceUsed"] != served[1]["spaceUsed"]
    assert storage.expected_issues("2026-10", PATHS[:2]) == {PATHS[0]: "answered twice"}
    with pytest.raises(ValueError, match="no data"):
        storage.answer_twice(PATHS[4])


def test_injections_and_expectations_through_the_admin_api(
    storage_sandbox: DWDISandbox, session: requests.Session
) -> None:
    admin = storage_sandbox.url + "/sandbox"
    assert session.post(
        f"{admin}/storage/bad-value",
        json={"path": PATHS[0], "field": "spaceUsed", "kind": "nan_token"},
        timeout=10,
    ).ok
    assert session.post(f"{admin}/storage/answer-twice", json={"path": PATHS[2]}, timeout=10).ok
    bad = session.post(
        f"{admin}/storage/bad-value", json={"path": PATHS[0], "field": "size", "kind": "null"}, timeout=10
    )
    assert bad.status_code == 400
    expected = session.get(
        f"{admin}/expected-storage", params={"month": "2026-10", "paths": PATHS[:5]}, timeout=10
    ).json()
    assert expected["issues"] == {PATHS[0]: "spaceUsed is nan_token", PATHS[2]: "answered twice"}
    assert expected["no_data"] == [PATHS[4]]
    assert set(expected["levels"]) == {PATHS[1], PATHS[3]}
    assert all(isinstance(v, str) for level in expected["levels"].values() for v in level.values())
    served = get(session, storage_sandbox, STORAGE_PATH, **{"exact-month": "2026-10"}, paths=PATHS[:1])
    assert math.isnan(json.loads(served.content)["storage"][0]["spaceUsed"])


def test_an_older_release_without_storage_answers_404(
    storage_sandbox: DWDISandbox, session: requests.Session
) -> None:
    month = {"exact-month": "2026-10"}
    storage_sandbox.set_endpoint_available("storage", False)
    assert get(session, storage_sandbox, STORAGE_PATH, **month).status_code == 404
    assert get(session, storage_sandbox, **{"from": "2026-10", "to": "2026-10"}).status_code == 200  # compute
    assert session.post(
        storage_sandbox.url + "/sandbox/endpoint-available",
        json={"family": "storage", "available": True},
        timeout=10,
    ).ok
    assert get(session, storage_sandbox, STORAGE_PATH, **month).status_code == 200
    with pytest.raises(ValueError, match="family"):
        storage_sandbox.set_endpoint_available("billing", False)


def test_same_url_limit_and_authentication_as_compute(
    make_dwdi_sandbox: MakeSandbox, storage: StorageDataset, session: requests.Session
) -> None:
    sandbox = make_dwdi_sandbox(storage=storage, static_token=STATIC)
    month = {"exact-month": "2026-10"}
    assert get(session, sandbox, STORAGE_PATH, **month).status_code == 401
    assert get(session, sandbox, STORAGE_PATH, token=STATIC, **month).status_code == 200
    long = [f"/capstor/store/cscs/project-{n:05d}" for n in range(300)]
    assert get(session, sandbox, STORAGE_PATH, token=STATIC, **month, paths=long).status_code == 414


def test_no_storage_dataset_answers_an_empty_list(
    open_sandbox: DWDISandbox, session: requests.Session
) -> None:
    assert usage_entries(session, open_sandbox, STORAGE_PATH, **{"exact-month": "2026-10"}, paths=PATHS) == []
