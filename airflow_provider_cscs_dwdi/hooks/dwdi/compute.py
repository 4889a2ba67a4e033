"""The compute usage family: ``GET {compute_usage_path}?from=&to=&cluster=..&account=..``.

Answers ``{"compute": [{"account", "cluster", "totalNodeHours", "users": [...]}, ...]}``
(dwdi-api.md, "Compute usage"). Account lists are split so that no URL exceeds 8 KiB. Compute
is one more :class:`~.pages.Family` of the hook's generic paging; what is its own is the month
check (a daily path takes ``YYYY-MM-DD``), the cluster filter and the user rows it counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_cscs_dwdi.core.months import MONTH_PATTERN
from airflow_provider_cscs_dwdi.hooks.dwdi.errors import DWDIConfigurationError
from airflow_provider_cscs_dwdi.hooks.dwdi.pages import DWDIPage, Family
from airflow_provider_cscs_dwdi.hooks.dwdi.splitting import (
    MAX_URL_BYTES,
    request_url,
    split_values,
    unique_values,
)

if TYPE_CHECKING:
    from airflow_provider_cscs_dwdi.hooks.dwdi.settings import DWDISettings

_DATE_OR_MONTH = re.compile(rf"^{MONTH_PATTERN}(-\d{{2}})?$")

COMPUTE = Family(
    name="compute",
    list_key="compute",
    key="account",
    item="account",
    entry_key="account",
    # None: the compute path is the seed's own, so a 404 is not "this release has no compute API".
    extra=None,
    repeated="account name",
    users_key="users",
    user_key="username",
)


def check_month(value: Any, name: str, *, days: bool = True) -> None:
    """``value`` is ``YYYY-MM`` (or ``YYYY-MM-DD`` when ``days``); else a configuration error."""
    if not isinstance(value, str) or not _DATE_OR_MONTH.match(value) or (not days and len(value) != 7):
        expected = "YYYY-MM (or YYYY-MM-DD)" if days else "YYYY-MM"
        raise DWDIConfigurationError(f"{name} must be {expected}, got {value!r}")


def _compute_query(month_from: str, month_to: str, clusters: Sequence[str] | None) -> list[tuple[str, str]]:
    return [("from", month_from), ("to", month_to), *(("cluster", cluster) for cluster in clusters or ())]


def compute_usage_url(
    endpoint: str,
    month_from: str,
    month_to: str,
    accounts: Sequence[str] | None = None,
    clusters: Sequence[str] | None = None,
) -> str:
    """The full request URL: ``from``, ``to``, then repeated ``cluster`` and ``account`` keys."""
    return request_url(endpoint, _compute_query(month_from, month_to, clusters), COMPUTE.key, accounts)


def split_accounts(
    endpoint: str,
    month_from: str,
    month_to: str,
    accounts: Sequence[str],
    clusters: Sequence[str] | None = None,
    *,
    max_url_bytes: int = MAX_URL_BYTES,
) -> list[list[str]]:
    """Split ``accounts`` greedily, in order, into batches whose request URL fits ``max_url_bytes``.

    The length is that of the URL actually sent (``compute_usage_url``). An account that cannot
    fit even alone is a configuration error.
    """
    query = _compute_query(month_from, month_to, clusters)
    return split_values(endpoint, query, COMPUTE.key, accounts, max_url_bytes=max_url_bytes)


def count_rows(raw: bytes) -> tuple[int, int]:
    """``(entries, user_rows)`` of a raw compute answer, counted from its keys without parsing it.

    In valid JSON a quoted name followed by a colon is always an object key (a string value is
    followed by ``,``, ``]`` or ``}``, and quotes inside strings are escaped), so the counts are exact.
    """
    return COMPUTE.count_entries(raw), COMPUTE.count_user_rows(raw)


@dataclass(frozen=True)
class UsagePage:
    """One DWDI compute usage answer: request ``index`` (0-based), the accounts it asked for (None =
    all), the HTTP status, the raw body exactly as received and the parsed body (floats as Decimal;
    None when the page was fetched with ``parse=False``)."""

    index: int
    accounts: list[str] | None
    status: int
    raw: bytes = field(repr=False)
    data: dict[str, Any] | None = field(repr=False)

    @property
    def keys(self) -> list[str] | None:
        """The accounts asked for, under the name every family's page has."""
        return self.accounts


class ComputeMixin:
    """``iter_compute_usage`` / ``get_compute_usage`` of DWDIHook (which provides the attributes below)."""

    _iter_family: Callable[..., Iterator[DWDIPage]]
    _merge_family: Callable[..., dict[str, Any]]

    if TYPE_CHECKING:  # provided by DWDIHook (the parsed connection)

        @property
        def settings(self) -> DWDISettings: ...

    def iter_compute_usage(
        self,
        month_from: str,
        month_to: str,
        accounts: Sequence[str] | None = None,
        clusters: Sequence[str] | None = None,
        *,
        parse: bool = True,
    ) -> Iterator[UsagePage]:
        """Yield one :class:`UsagePage` per request, in order (bounded memory: one page at a time).

        ``parse=False`` skips the full JSON parse (``UsagePage.data`` is None) for callers that
        archive the raw bytes and parse them once later: parsing a large month costs more than
        fetching it.

        ``accounts=None`` asks for every account in one request; an empty list makes no request.
        Otherwise the (de-duplicated) accounts are split so that no URL exceeds ``max_url_bytes``.
        ``month_from`` / ``month_to`` are ``YYYY-MM`` (or ``YYYY-MM-DD`` for a daily path), inclusive.
        """
        check_month(month_from, "month_from")
        check_month(month_to, "month_to")
        cluster_list = unique_values(clusters, "cluster") if clusters else None
        pages = self._iter_family(
            COMPUTE,
            path=self.settings.compute_usage_path,
            describe=_describe(month_from, month_to),
            fixed=_compute_query(month_from, month_to, cluster_list),
            values=accounts,
            parse=parse,
            scope=f", clusters {cluster_list}" if cluster_list else "",
        )
        for page in pages:
            yield UsagePage(
                index=page.index, accounts=page.keys, status=page.status, raw=page.raw, data=page.data
            )

    def get_compute_usage(
        self,
        month_from: str,
        month_to: str,
        accounts: Sequence[str] | None = None,
        clusters: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Every page of :meth:`iter_compute_usage` merged into one ``{"compute": [...]}``."""
        pages = self.iter_compute_usage(month_from, month_to, accounts, clusters)
        return self._merge_family(COMPUTE, _describe(month_from, month_to), pages)


def _describe(month_from: str, month_to: str) -> str:
    return f"DWDI compute usage {month_from}..{month_to}"
