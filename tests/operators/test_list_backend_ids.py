"""ListWaldurBackendIdsOperator (the list_backend_ids task) against the Waldur sandbox."""

from __future__ import annotations

from collections.abc import Callable

from airflow_provider_cscs_dwdi.operators.list_backend_ids import ListWaldurBackendIdsOperator
from sandbox.waldur_server import WaldurSandbox
from tests.operators.support import (
    CONN_ID,
    Offering,
)


def test_list_backend_ids_reports_blank_and_duplicate_ids(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    offering = seed(waldur_sandbox, {"g002": {}, "g001": {}})
    second_g001 = waldur_sandbox.add_resource(offering.uuid, "g001")
    waldur_sandbox.add_resource(offering.uuid, "")
    waldur_sandbox.add_resource(offering.uuid, "g009", state="Erred")

    result = ListWaldurBackendIdsOperator(
        task_id="ids", offering_uuid=offering.uuid, waldur_conn_id=CONN_ID
    ).execute({})

    assert result["backend_ids"] == ["g001", "g002"]
    assert sorted(issue["kind"] for issue in result["issues"]) == ["blank_backend_id", "duplicate_backend_id"]
    # Every resource's UUID, so inference (keyed by UUID) never takes one of g001's two for both.
    assert result["resource_uuids"] == {
        "g001": sorted([offering.resources["g001"], second_g001]),
        "g002": [offering.resources["g002"]],
    }
    assert waldur_sandbox.schema_violations == []
