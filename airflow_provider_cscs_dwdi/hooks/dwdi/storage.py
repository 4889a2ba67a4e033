"""The storage usage family: ``GET {storage_usage_path}?exact-month=&filesystem=&data_type=&paths=..``.

Answers ``{"storage": [{"path": "/store/p1", "spaceUsed": 123456789, "inodesUsed": 42}, ...]}``
(dwdi-api.md, "Storage usage"): a level per path and month, in bytes and inodes. The hook only
fetches and checks the shape; judging the values (a path answered twice, a negative or null
level) is the core's job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_cscs_dwdi.hooks.dwdi.compute import check_month
from airflow_provider_cscs_dwdi.hooks.dwdi.errors import DWDIConfigurationError
from airflow_provider_cscs_dwdi.hooks.dwdi.pages import DWDIPage, Family
from airflow_provider_cscs_dwdi.hooks.dwdi.splitting import request_url

if TYPE_CHECKING:
    from airflow_provider_cscs_dwdi.hooks.dwdi.settings import DWDISettings

STORAGE = Family(
    name="storage",
    list_key="storage",
    key="paths",
    item="path",
    entry_key="path",
    extra="storage_usage_path",
)


def storage_query(
    month: str, filesystem: str | None = None, data_type: str | None = None
) -> list[tuple[str, str]]:
    """The fixed parameters: ``exact-month``, then ``filesystem`` and ``data_type`` when given."""
    query = [("exact-month", month)]
    for name, value in (("filesystem", filesystem), ("data_type", data_type)):
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise DWDIConfigurationError(f"storage {name} must be a non-empty string or None, got {value!r}")
        query.append((name, value.strip()))
    return query


def storage_usage_url(
    endpoint: str,
    month: str,
    paths: Sequence[str] | None = None,
    filesystem: str | None = None,
    data_type: str | None = None,
) -> str:
    """The full request URL: ``exact-month``, ``filesystem``, ``data_type``, then repeated ``paths``."""
    return request_url(endpoint, storage_query(month, filesystem, data_type), STORAGE.key, paths)


def count_storage_entries(raw: bytes) -> int:
    """Entries (``"path":`` keys) of a raw storage answer, without parsing it (for the fetch log)."""
    return STORAGE.count_entries(raw)


class StorageMixin:
    """``iter_storage_usage`` / ``get_storage_usage`` of DWDIHook (which provides the attributes below)."""

    _iter_family: Callable[..., Iterator[DWDIPage]]
    _merge_family: Callable[..., dict[str, Any]]

    if TYPE_CHECKING:  # provided by DWDIHook (the parsed connection)

        @property
        def settings(self) -> DWDISettings: ...

    def iter_storage_usage(
        self,
        month: str,
        paths: Sequence[str] | None = None,
        filesystem: str | None = None,
        data_type: str | None = None,
        *,
        parse: bool = True,
    ) -> Iterator[DWDIPage]:
        """Yield one :class:`DWDIPage` per request (``page.keys`` = the paths it asked for), in order.

        ``month`` is ``YYYY-MM`` (sent as ``exact-month``). ``paths=None`` asks for every path in
        one request; an empty list makes no request; otherwise the de-duplicated paths are split
        so that no URL exceeds ``max_url_bytes``. ``filesystem`` / ``data_type`` (e.g.
        ``capstor`` / ``store``) are sent when given. ``parse=False`` only checks the shape
        cheaply (``page.data`` is None), for callers that archive the raw bytes.

        :raises DWDIAPIError: a 404 says "this DWDI release has no storage API at <path>: set
            storage_usage_path"; other statuses name status and body excerpt.
        :raises DWDIResponseError: a 200 that is not ``{"storage": [...]}`` JSON.
        """
        check_month(month, "month", days=False)
        fixed = storage_query(month, filesystem, data_type)
        return self._iter_family(
            STORAGE,
            path=self.settings.storage_usage_path,
            describe=f"DWDI storage usage {month}",
            fixed=fixed,
            values=paths,
            parse=parse,
        )

    def get_storage_usage(
        self,
        month: str,
        paths: Sequence[str] | None = None,
        filesystem: str | None = None,
        data_type: str | None = None,
    ) -> dict[str, Any]:
        """Every page of :meth:`iter_storage_usage` merged into one ``{"storage": [...]}``
        (entries as DWDI sent them, floats as Decimal)."""
        pages = self.iter_storage_usage(month, paths, filesystem, data_type)
        return self._merge_family(STORAGE, f"DWDI storage usage {month}", pages)
