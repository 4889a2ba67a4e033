"""Storage levels per resource path: how much each project stores at the end of the month's data.

DWDI's storage ``usage-month`` answers one record per path and month, e.g.
``{"path": "/capstor/store/cscs/g207", "spaceUsed": 1234567890123, "inodesUsed": 42}``. Storage is
a level, not a flow, so the rules differ from compute:

* a path answered twice in one month is an issue (``duplicate_path``), never summed: under the
  ``fail`` policy the month is refused, under ``skip`` the path is left out;
* a requested path DWDI does not return gets no write (:attr:`AggregatedUsage.without_data`):
  a zero would claim the data vanished;
* a path nobody requested is counted and ignored, never billed;
* a bad ``spaceUsed`` or ``inodesUsed`` (null, negative, NaN, non-numeric) follows the policy, and
  under ``skip`` the resource is left out whole.

Paths are matched exactly as the configuration resolves them (``core.kinds.StorageSettings``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from airflow_provider_cscs_dwdi.core.components import ComponentConfig
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.kinds import UsageKind, resources_by_path
from airflow_provider_cscs_dwdi.core.resource_totals import ResourceRecordAggregator
from airflow_provider_cscs_dwdi.core.usage import AggregatedUsage, BadValuePolicy


class StorageAggregator(ResourceRecordAggregator):
    """Streams DWDI storage pages into one level per resource, in each component's unit.

    :param components: e.g. ``spaceUsed`` x 1e-12 (TB) and ``inodesUsed`` x 1e-6 (million inodes).
    :param paths: ``{backend_id: path}`` of the resources to report
        (``StorageSettings.paths_of``); two resources may not share a path.
    :param policy: what bad values and duplicate paths do.
    """

    usage_kind = UsageKind.STORAGE
    list_key = "storage"
    key_field = "path"

    def __init__(
        self,
        components: Sequence[ComponentConfig],
        *,
        paths: Mapping[str, str],
        policy: BadValuePolicy = BadValuePolicy.FAIL,
    ) -> None:
        super().__init__(components, policy=policy)
        try:
            self._owners = resources_by_path(paths)
        except ConfigurationError as error:
            raise ConfigurationError(f"storage: {error}") from None
        self._paths = dict(paths)
        #: Where each path was first answered, to name both records of a duplicate.
        self._first_seen: dict[str, str] = {}

    def _resource_of(self, key: Any, where: str) -> str | None:
        if not isinstance(key, str) or not key.strip():
            self._missing_key(key, where)
            return None
        backend_id = self._owners.get(key)
        if backend_id is None:
            self._ignored.add(key)
            return None
        first = self._first_seen.setdefault(key, where)
        if first != where:
            self._issues.add(
                "duplicate_path",
                where,
                backend_id,
                None,
                self.key_field,
                key,
                f"path {key!r} is answered twice for the month (first at {first}); a storage level is "
                "one value per path and month, and two cannot be summed",
                consequence="the resource is not written this month",
            )
            self._left_out.add(backend_id)
            return None
        return backend_id

    def _add_values(self, backend_id: str, values: list[Decimal], where: str, key: Any) -> None:
        self._values[backend_id] = values

    def result(self) -> AggregatedUsage:
        """The level of every requested resource that DWDI answered for, and those it did not.

        :raises UsageDataError: a value too large or precise to handle exactly (any policy).
        """
        requested = sorted(self._paths)
        without_data = [
            backend_id
            for backend_id in requested
            if backend_id not in self._values and backend_id not in self._left_out
        ]
        return self._result(self._billed(requested, zero_without_data=False), without_data=without_data)
