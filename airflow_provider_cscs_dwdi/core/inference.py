"""Inference cost per Waldur resource: an amount DWDI has already priced.

DWDI's ``inference/resource/cost`` answers records such as
``{"waldurResourceUuid": "1f2e3d4c-...", "totalCost": 12.5}``, keyed by the Waldur resource UUID
(with or without dashes, in either case), not by the backend_id. Cost is additive: several records
of one resource are summed. A requested resource DWDI does not return costs ``0.00`` for the month,
as a compute account does. A UUID nobody requested is counted and logged, never billed.

The report keys resources by backend_id like every other kind, so the push finds them the same
way; the UUID -> backend_id map comes from the Waldur listing the run started with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from airflow_provider_cscs_dwdi.core.components import ComponentConfig
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.kinds import UsageKind, normalise_resource_uuid
from airflow_provider_cscs_dwdi.core.resource_totals import ResourceRecordAggregator
from airflow_provider_cscs_dwdi.core.usage import AggregatedUsage, BadValuePolicy


class InferenceAggregator(ResourceRecordAggregator):
    """Streams DWDI inference-cost pages into one summed cost per resource.

    :param components: usually one, e.g. ``token_cost`` reading ``totalCost`` with factor 1.
    :param resources: ``{resource_uuid: backend_id}`` of the resources to report; UUIDs in any
        spelling Waldur or DWDI uses.
    :param policy: what bad values do.
    """

    usage_kind = UsageKind.INFERENCE
    list_key = "inference"
    key_field = "waldurResourceUuid"

    def __init__(
        self,
        components: Sequence[ComponentConfig],
        *,
        resources: Mapping[str, str],
        policy: BadValuePolicy = BadValuePolicy.FAIL,
    ) -> None:
        super().__init__(components, policy=policy)
        self._backend_ids: dict[str, str] = {}
        for resource_uuid, backend_id in resources.items():
            normalised = normalise_resource_uuid(resource_uuid)
            if normalised is None:
                raise ConfigurationError(f"inference: {resource_uuid!r} is not a Waldur resource UUID")
            self._backend_ids[normalised] = backend_id

    def _resource_of(self, key: Any, where: str) -> str | None:
        resource_uuid = normalise_resource_uuid(key)
        if resource_uuid is None:
            self._missing_key(key, where)
            return None
        backend_id = self._backend_ids.get(resource_uuid)
        if backend_id is None:
            self._ignored.add(resource_uuid)
        return backend_id

    def _add_values(self, backend_id: str, values: list[Decimal], where: str, key: Any) -> None:
        sums = self._values.get(backend_id)
        if sums is None:
            self._values[backend_id] = values
            return
        for slot, value in enumerate(values):
            sums[slot] += value

    def result(self) -> AggregatedUsage:
        """The summed cost of every requested resource (``0.00`` without data) but those left out.

        :raises UsageDataError: a sum too large or precise to handle exactly (any policy).
        """
        return self._result(self._billed(sorted(set(self._backend_ids.values())), zero_without_data=True))
