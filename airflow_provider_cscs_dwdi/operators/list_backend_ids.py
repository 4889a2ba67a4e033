"""The ``list_backend_ids`` task, the DAG's first: which DWDI accounts the Waldur offering bills.

:class:`ListWaldurBackendIdsOperator` returns a :class:`~core.xcom.BackendIds`, read by the
``billing_months`` task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException

from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError
from airflow_provider_cscs_dwdi.core.waldur_state import index_resources
from airflow_provider_cscs_dwdi.core.xcom import BackendIds
from airflow_provider_cscs_dwdi.hooks.waldur import WaldurHook
from airflow_provider_cscs_dwdi.operators._base import WaldurBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class ListWaldurBackendIdsOperator(WaldurBaseOperator):
    """List the backend IDs (DWDI accounts) of an offering's resources: the DAG's first task.

    Returns ``{"backend_ids": [...sorted, unique, non-blank], "issues": [...], "resource_uuids":
    {backend_id: [uuid, ...]}}`` (:class:`~core.xcom.BackendIds`); blank and duplicate backend IDs
    are reported as issues (a duplicated ID is still listed with all its resources' UUIDs, and the
    push refuses it, so the problem stays visible).

    :param offering_uuid: the Waldur offering.
    :param waldur_conn_id: the ``waldur`` connection.
    """

    template_fields: Sequence[str] = ("offering_uuid",)
    ui_color = "#e8f4fd"

    def __init__(
        self, *, offering_uuid: str, waldur_conn_id: str = WaldurHook.default_conn_name, **kwargs: Any
    ) -> None:
        super().__init__(offering_uuid=offering_uuid, waldur_conn_id=waldur_conn_id, **kwargs)

    def execute(self, context: Context) -> dict[str, Any]:
        offering_uuid = str(self.target.offering_uuid)
        try:
            resources = self.hook.list_resources(offering_uuid)
        except CscsDwdiError as error:
            raise AirflowException(str(error)) from error
        index = index_resources(resources)
        for issue in index.issues:
            self.log.warning("Issue: %s", issue.message)
        resource_uuids = {
            **{backend_id: (str(resource["uuid"]),) for backend_id, resource in index.unique.items()},
            **{backend_id: tuple(sorted(uuids)) for backend_id, uuids in index.duplicates.items()},
        }
        backend_ids = BackendIds(
            backend_ids=tuple(sorted(resource_uuids)),
            issues=index.issues,
            resource_uuids=dict(sorted(resource_uuids.items())),
        )
        self.log.info("Offering %s: %d backend ID(s).", offering_uuid, len(backend_ids.backend_ids))
        return backend_ids.to_xcom()
