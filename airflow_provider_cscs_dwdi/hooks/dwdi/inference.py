"""The inference cost family: ``GET {inference_cost_path}?from=&to=&resource_uuid=..``.

Answers ``{"inference": [{"waldurResourceUuid": "...", "totalCost": 12.5}, ...]}`` (dwdi-api.md,
"Inference cost"): an amount already priced by the warehouse, keyed by the Waldur resource UUID.
The hook only fetches and checks the shape; matching UUIDs (dashed or not) and summing is the
core's job.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_cscs_dwdi.hooks.dwdi.compute import check_month
from airflow_provider_cscs_dwdi.hooks.dwdi.errors import DWDIConfigurationError
from airflow_provider_cscs_dwdi.hooks.dwdi.pages import DWDIPage, Family
from airflow_provider_cscs_dwdi.hooks.dwdi.splitting import request_url

if TYPE_CHECKING:
    from airflow_provider_cscs_dwdi.hooks.dwdi.settings import DWDISettings

INFERENCE = Family(
    name="inference",
    list_key="inference",
    key="resource_uuid",
    item="resource UUID",
    entry_key="waldurResourceUuid",
    extra="inference_cost_path",
)
_HEX_UUID = re.compile(r"^[0-9a-f]{32}$")


def uuid_identity(value: str) -> str:
    """The 32 lower-case hex digits of a UUID written with or without dashes (its identity).

    :raises DWDIConfigurationError: ``value`` is not a UUID (e.g. a backend_id passed by mistake).
    """
    hex_digits = value.replace("-", "").lower()
    if not _HEX_UUID.match(hex_digits):
        raise DWDIConfigurationError(f"resource_uuids: {value[:80]!r} is not a Waldur resource UUID")
    return hex_digits


def inference_query(month_from: str, month_to: str) -> list[tuple[str, str]]:
    """The fixed parameters ``from`` and ``to``."""
    return [("from", month_from), ("to", month_to)]


def inference_cost_url(
    endpoint: str, month_from: str, month_to: str, resource_uuids: Sequence[str] | None = None
) -> str:
    """The full request URL: ``from``, ``to``, then repeated ``resource_uuid``."""
    return request_url(endpoint, inference_query(month_from, month_to), INFERENCE.key, resource_uuids)


def count_inference_entries(raw: bytes) -> int:
    """Entries (``"waldurResourceUuid":`` keys) of a raw inference answer, without parsing it."""
    return INFERENCE.count_entries(raw)


class InferenceMixin:
    """``iter_inference_cost`` / ``get_inference_cost`` of DWDIHook (which provides the attributes below)."""

    _iter_family: Callable[..., Iterator[DWDIPage]]
    _merge_family: Callable[..., dict[str, Any]]

    if TYPE_CHECKING:  # provided by DWDIHook (the parsed connection)

        @property
        def settings(self) -> DWDISettings: ...

    def iter_inference_cost(
        self,
        month_from: str,
        month_to: str,
        resource_uuids: Sequence[str] | None = None,
        *,
        parse: bool = True,
    ) -> Iterator[DWDIPage]:
        """Yield one :class:`DWDIPage` per request (``page.keys`` = the UUIDs it asked for), in order.

        ``month_from`` / ``month_to`` are ``YYYY-MM``, inclusive. ``resource_uuids=None`` asks
        for every resource in one request; an empty list makes no request; otherwise the UUIDs are
        sent as given (dashed or not), each resource once (``"A-B"`` and ``"ab"`` are the same
        resource), split so that no URL exceeds ``max_url_bytes``. ``parse=False`` only checks
        the shape cheaply (``page.data`` is None), for callers that archive the raw bytes.

        :raises DWDIConfigurationError: a value that is not a UUID (named in the message).
        :raises DWDIAPIError: a 404 says "this DWDI release has no inference API at <path>: set
            inference_cost_path"; other statuses name status and body excerpt.
        :raises DWDIResponseError: a 200 that is not ``{"inference": [...]}`` JSON.
        """
        check_month(month_from, "month_from", days=False)
        check_month(month_to, "month_to", days=False)
        return self._iter_family(
            INFERENCE,
            path=self.settings.inference_cost_path,
            describe=f"DWDI inference cost {month_from}..{month_to}",
            fixed=inference_query(month_from, month_to),
            values=resource_uuids,
            parse=parse,
            identity=uuid_identity,
        )

    def get_inference_cost(
        self, month_from: str, month_to: str, resource_uuids: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """Every page of :meth:`iter_inference_cost` merged into one ``{"inference": [...]}``
        (entries as DWDI sent them, ``totalCost`` as Decimal)."""
        pages = self.iter_inference_cost(month_from, month_to, resource_uuids)
        return self._merge_family(INFERENCE, f"DWDI inference cost {month_from}..{month_to}", pages)
