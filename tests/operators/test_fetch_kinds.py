"""The fetch and aggregate tasks for storage and inference, against the DWDI double.

The fetch archives DWDI's raw answers with a header that says the kind and which path or resource
UUID belongs to which backend ID; the aggregate rebuilds the billed amounts from that archive
alone. Expected amounts come from the double's own Decimal arithmetic on its served rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_cscs_dwdi.core.archive import read_archive
from airflow_provider_cscs_dwdi.core.xcom import FetchResult
from airflow_provider_cscs_dwdi.operators.aggregate import AggregateUsageOperator
from airflow_provider_cscs_dwdi.operators.fetch import FetchMonthlyUsageOperator
from sandbox.dwdi_server import DWDISandbox, InferenceDataset, StorageDataset
from tests.fixtures.offerings import INFERENCE_COMPONENTS, STORAGE_COMPONENTS

CONN_ID = "dwdi_fetch_kinds_test"
DAG_ID = "cscs_dwdi_usage_fetch_kinds_test"
MONTH = f"{datetime.now(UTC):%Y-%m}"
STORAGE = {
    "filesystem": "capstor",
    "data_type": "store",
    "path_template": "/capstor/store/cscs/{backend_id}",
    "path_mapping": {"s005": "/capstor/store/legacy/old-project"},
}
BACKEND_IDS = [f"s{number:03d}" for number in range(1, 7)]
CENT = Decimal("0.01")


def path_of(backend_id: str) -> str:
    return STORAGE["path_mapping"].get(backend_id) or f"/capstor/store/cscs/{backend_id}"


def uuid_of(number: int) -> str:
    return f"{number:032x}"


@pytest.fixture
def kinds_sandbox(
    make_dwdi_sandbox: Callable[..., DWDISandbox], oidc_issuer: Any, set_connection: Callable[..., None]
) -> DWDISandbox:
    sandbox = make_dwdi_sandbox(
        jwks_url=oidc_issuer.jwks_url,
        issuer=oidc_issuer.realm_url,
        audience=oidc_issuer.audience,
        storage=StorageDataset(paths=[path_of(backend_id) for backend_id in BACKEND_IDS]),
        inference=InferenceDataset(resource_uuids=[uuid_of(n) for n in range(1, 7)]),
    )
    set_connection(
        CONN_ID,
        conn_type="cscs_dwdi",
        host=sandbox.url,
        login="dwdi-client",
        password="dwdi-secret",
        extra={"oidc_endpoint_url": oidc_issuer.token_url, "timeout_seconds": 10},
    )
    return sandbox


def fetch(archive_root: Path, **kwargs: Any) -> dict[str, Any]:
    with DAG(DAG_ID, schedule=None):
        operator = FetchMonthlyUsageOperator(
            task_id="fetch_usage",
            dwdi_conn_id=CONN_ID,
            month=MONTH,
            archive_path=f"file://{archive_root}",
            **kwargs,
        )
    context = {"run_id": "manual__kinds", "dag_run": SimpleNamespace(run_after=datetime.now(UTC))}
    return json.loads(json.dumps(operator.execute(context)))  # type: ignore[arg-type]


def aggregate(fetched: dict[str, Any], components: dict[str, Any], policy: str = "fail") -> dict[str, Any]:
    operator = AggregateUsageOperator(
        task_id="aggregate_usage",
        fetch_result=fetched,
        backend_components=components,
        bad_value_policy=policy,
    )
    return operator.execute({})  # type: ignore[arg-type]


def archive_header(fetched: dict[str, Any]) -> dict[str, Any]:
    with Path(FetchResult.from_xcom(fetched).archive.removeprefix("file://")).open("rb") as raw:
        header, _pages = read_archive(raw)
        return header


def billed(raw: Decimal, factor: str) -> str:
    return str((raw * Decimal(factor)).quantize(CENT, rounding=ROUND_HALF_UP))


def test_storage_is_fetched_by_path_and_billed_per_backend_id_from_the_archive_alone(
    kinds_sandbox: DWDISandbox, tmp_path: Path
) -> None:
    fetched = fetch(tmp_path, accounts=BACKEND_IDS, usage_kind="storage", storage=STORAGE)

    paths = {backend_id: path_of(backend_id) for backend_id in BACKEND_IDS}
    header = archive_header(fetched)
    assert (header["usage_kind"], header["paths"]) == ("storage", paths)
    assert fetched["usage_kind"] == "storage"
    assert fetched["query"] == {"exact-month": MONTH, "filesystem": "capstor", "data_type": "store"}
    [request] = kinds_sandbox.requests
    assert sorted(request.query["paths"]) == sorted(paths.values())

    report = aggregate(fetched, STORAGE_COMPONENTS)

    storage = kinds_sandbox.storage
    assert storage is not None
    levels = storage.expected_levels(MONTH, list(paths.values()), "capstor", "store")
    no_data = storage.paths_without_data(MONTH, list(paths.values()), "capstor", "store")
    # The dataset has both shapes among six paths.
    assert levels
    assert no_data
    owner = {path: backend_id for backend_id, path in paths.items()}
    assert report["usage_kind"] == "storage"
    assert report["accounts"] == {
        owner[path]: {
            "total": {
                "space": billed(level["spaceUsed"], "1e-12"),
                "inodes": billed(level["inodesUsed"], "1e-6"),
            },
            "users": {},
        }
        for path, level in levels.items()
    }
    assert report["without_data"] == sorted(owner[path] for path in no_data)
    assert fetched["entries"] == len(levels)


def test_two_backend_ids_on_one_storage_path_fail_the_fetch_naming_both(
    kinds_sandbox: DWDISandbox, tmp_path: Path
) -> None:
    clash = {**STORAGE, "path_mapping": {"s001": "/capstor/store/cscs/s002"}}

    with pytest.raises(AirflowFailException, match=r"'s001' and 's002' both resolve to path"):
        fetch(tmp_path, accounts=["s001", "s002"], usage_kind="storage", storage=clash)

    assert kinds_sandbox.requests == []


def test_inference_is_fetched_by_resource_uuid_and_a_shared_backend_id_is_not_guessed(
    kinds_sandbox: DWDISandbox, tmp_path: Path
) -> None:
    inference = kinds_sandbox.inference
    assert inference is not None
    inference.add_unknown_resource(uuid_of(99), "7.25")
    backend_ids = {
        "backend_ids": ["i1", "i2", "i3", "i4", "i5"],
        "issues": [],
        # i3 is two Waldur resources: neither may be given the other's cost.
        "resource_uuids": {
            "i1": [uuid_of(1)],
            "i2": [uuid_of(2)],
            "i3": [uuid_of(3), uuid_of(6)],
            "i4": [uuid_of(4)],
            "i5": [uuid_of(5)],
        },
    }

    fetched = fetch(
        tmp_path, accounts=["i1", "i2", "i3", "i4", "i5"], usage_kind="inference", backend_ids=backend_ids
    )

    resources = {uuid_of(n): f"i{n}" for n in (1, 2, 4, 5)}
    header = archive_header(fetched)
    assert (header["usage_kind"], header["resources"]) == ("inference", resources)
    assert header["excluded"] == {"i3": [uuid_of(3), uuid_of(6)]}
    asked = {value for request in kinds_sandbox.requests for value in request.query["resource_uuid"]}
    assert asked == set(resources)

    report = aggregate(fetched, INFERENCE_COMPONENTS)

    costs = inference.expected_costs(MONTH, MONTH, list(resources))
    assert report["accounts"] == {
        resources[uuid]: {"total": {"token_cost": billed(cost, "1")}, "users": {}}
        for uuid, cost in costs.items()
    }
    assert inference.resources_without_data(MONTH, MONTH, list(resources))  # billed 0.00 above
    assert report["counts"]["accounts_ignored"] == 1
    assert report["ignored_accounts_sample"] == [uuid_of(99)]


def test_a_dwdi_without_the_storage_api_fails_the_fetch_naming_the_extra(
    kinds_sandbox: DWDISandbox, tmp_path: Path
) -> None:
    kinds_sandbox.set_endpoint_available("storage", False)

    with pytest.raises(AirflowFailException, match=r"no storage API at .*: set storage_usage_path"):
        fetch(tmp_path, accounts=BACKEND_IDS, usage_kind="storage", storage=STORAGE)


def test_the_aggregate_refuses_an_archive_of_another_kind_than_the_fetch_result(
    kinds_sandbox: DWDISandbox, tmp_path: Path
) -> None:
    fetched = fetch(tmp_path, accounts=BACKEND_IDS, usage_kind="storage", storage=STORAGE)

    with pytest.raises(
        AirflowException, match="archive holds storage usage but the fetch result says compute"
    ):
        aggregate({**fetched, "usage_kind": "compute"}, STORAGE_COMPONENTS)


def test_inference_without_the_backend_ids_document_fails_before_asking_dwdi(
    kinds_sandbox: DWDISandbox, tmp_path: Path
) -> None:
    with pytest.raises(AirflowFailException, match="inference is keyed by Waldur resource UUID"):
        fetch(tmp_path, accounts=["i1"], usage_kind="inference")

    assert kinds_sandbox.requests == []
