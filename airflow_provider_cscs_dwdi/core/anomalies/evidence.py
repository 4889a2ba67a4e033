"""What the guard's checks compare, as plain data, and how to read it out of a fetch archive.

:class:`GuardEvidence` holds one push's new totals beside what Waldur holds for the month (the
last push), the previous month's totals and what the last push's archive and this fetch's archive
say about clusters, accounts and storage paths. The operators fill it; ``core.anomalies.checks``
only compares.

The archive helpers read the records of an archive written by the fetch task (``core.archive``:
a header, then pages whose ``body`` holds DWDI's list of records under the kind's key): the
clusters each compute account has usage on (user rows, or a total above zero), how many
accounts (paths, resources) have data, and which path each storage resource matched. Each takes
the archive's pages or the records themselves; :func:`archive_evidence` reads all three in one
pass, so a month's archive is streamed once.

"The last push" is the last push **of the same month**, whose values Waldur holds: usage recorded
in a month does not disappear from it, so a cluster, an account or a path that had data then and
has none now is suspicious. Compared with another month, the first days of a month would always
look like a loss; :attr:`GuardEvidence.last_push_month` lets the checks refuse such a comparison.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_cscs_dwdi.core.kinds import (
    KIND_FIELD,
    PATHS_FIELD,
    UsageKind,
    header_kind,
    normalise_resource_uuid,
)
from airflow_provider_cscs_dwdi.core.months import MONTH_PATTERN

#: backend_id -> component type -> amount (2 decimals, the component's billed unit).
Totals = dict[str, dict[str, Decimal]]

#: The key of each kind's record list in a DWDI answer page, and the field naming the record.
LIST_KEYS = {UsageKind.COMPUTE: "compute", UsageKind.STORAGE: "storage", UsageKind.INFERENCE: "inference"}
#: The key of a page line's DWDI answer in an archive (``core.archive``); DWDI records have none.
_PAGE_BODY = "body"
_MONTH = f"^{MONTH_PATTERN}$"


class GuardEvidence(BaseModel):
    """Everything the checks of one push compare (one offering, one month, one usage kind).

    The optional parts are ``None`` when unknown (no archive of a previous push of the month, a
    kind without clusters or paths): the checks that need them then stay silent rather than guess.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    month: str = Field(pattern=_MONTH, description="The month pushed, YYYY-MM.")
    usage_kind: UsageKind
    new_totals: Totals = Field(description="The report's totals: what DWDI says now, to be written.")
    waldur_totals: Totals = Field(
        default_factory=dict,
        description="What Waldur holds for the month now (the last push); empty: never pushed.",
    )
    previous_month_totals: Totals = Field(
        default_factory=dict, description="What Waldur holds for the month before; empty: unknown."
    )
    clusters_now: dict[str, frozenset[str]] | None = Field(
        default=None, description="Compute: account -> clusters with rows in this fetch."
    )
    clusters_last_push: dict[str, frozenset[str]] | None = Field(
        default=None, description="Compute: account -> clusters with rows in the last push of the month."
    )
    accounts_with_data_now: int | None = Field(default=None, ge=0)
    accounts_with_data_last_push: int | None = Field(default=None, ge=0)
    paths_now: dict[str, str | None] | None = Field(
        default=None, description="Storage: backend_id -> the path it matched now (None: no path matched)."
    )
    paths_last_push: dict[str, str | None] | None = Field(
        default=None, description="Storage: backend_id -> the path it matched in the last push."
    )
    last_push_month: str | None = Field(
        default=None,
        pattern=_MONTH,
        description=(
            "The month of the archive the ``*_last_push`` parts were read from, when known; another "
            "month than ``month`` makes the checks ignore them."
        ),
    )

    @property
    def last_push_comparable(self) -> bool:
        """The ``*_last_push`` parts describe this month (or say nothing about which month)."""
        return self.last_push_month is None or self.last_push_month == self.month


def totals_of(accounts: Mapping[str, Mapping[str, Any]]) -> Totals:
    """``{backend_id: {"total": {component: "1.00"}, ...}}`` (a report's or Waldur's) -> Decimals.

    A missing amount (``None``: nothing held) is left out, so "nothing" is never read as zero.
    """
    return {
        backend_id: {
            component: Decimal(str(amount))
            for component, amount in usage.get("total", {}).items()
            if amount is not None
        }
        for backend_id, usage in accounts.items()
    }


def records_of(pages: Iterable[Mapping[str, Any]], usage_kind: UsageKind) -> Iterator[Mapping[str, Any]]:
    """The records of an archive's pages (``read_archive``'s second value), one at a time.

    What is not a record (a page without the kind's list, an item that is no object) is passed
    over: the aggregate task already reports it as an issue, the guard only counts what is there.
    An item that is already a record (no ``body``) is passed on as it is, so every helper below
    takes an archive's pages or the records themselves.
    """
    key = LIST_KEYS[usage_kind]
    for page in pages:
        if not isinstance(page, Mapping):
            continue
        if _PAGE_BODY not in page:
            yield page
            continue
        body = page[_PAGE_BODY]
        items = body.get(key) if isinstance(body, Mapping) else None
        if isinstance(items, list):
            yield from (item for item in items if isinstance(item, Mapping))


def has_usage(record: Mapping[str, Any]) -> bool:
    """A compute entry with user rows or a total above zero: an entry of zeros is no data."""
    users = record.get("users")
    if isinstance(users, list) and users:
        return True
    return any(
        isinstance(value, int | float | Decimal) and not isinstance(value, bool) and value > 0
        for value in record.values()
    )


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


@dataclass(frozen=True)
class ArchiveEvidence:
    """What one archive says about where the data came from (see :func:`archive_evidence`).

    ``clusters`` is compute's only (None for the other kinds), ``paths`` storage's only.
    """

    month: str | None
    usage_kind: UsageKind
    accounts_with_data: int
    clusters: dict[str, frozenset[str]] | None
    paths: dict[str, str | None] | None


class _Reader:
    """Reads records of one kind into the three pieces of evidence (one pass over an archive)."""

    def __init__(self, header: Mapping[str, Any], clusters: Collection[str] | None) -> None:
        self.kind = header_kind(header)
        requested = header.get("accounts")
        self.accounts = None if requested is None else frozenset(str(name) for name in requested)
        self.cluster_filter = None if clusters is None else frozenset(c.lower() for c in clusters)
        paths = header.get(PATHS_FIELD) if self.kind is UsageKind.STORAGE else None
        self.paths: dict[str, str] = dict(paths) if isinstance(paths, Mapping) else {}
        self.path_owners = {path: backend_id for backend_id, path in self.paths.items()}
        resources = header.get("resources") if self.kind is UsageKind.INFERENCE else None
        self.resources: dict[str, str] = {}
        if isinstance(resources, Mapping):
            for resource_uuid, backend_id in resources.items():
                normalised = normalise_resource_uuid(resource_uuid)
                if normalised is not None:
                    self.resources[normalised] = backend_id
        self.by_account: dict[str, set[str]] = {}
        self.with_data: set[str] = set()

    def add(self, record: Mapping[str, Any]) -> None:
        if self.kind is UsageKind.COMPUTE:
            self._compute(record)
        elif self.kind is UsageKind.STORAGE:
            path = record.get("path")
            if isinstance(path, str) and path in self.path_owners:
                self.with_data.add(self.path_owners[path])
        else:
            resource_uuid = record.get("waldurResourceUuid")
            normalised = normalise_resource_uuid(resource_uuid) if isinstance(resource_uuid, str) else None
            if normalised is not None and normalised in self.resources:
                self.with_data.add(self.resources[normalised])

    def _compute(self, record: Mapping[str, Any]) -> None:
        account = _text(record.get("account"))
        cluster = _text(record.get("cluster"))
        if account is None or (self.accounts is not None and account not in self.accounts):
            return
        if not has_usage(record):
            return
        if self.cluster_filter is not None and (
            cluster is None or cluster.lower() not in self.cluster_filter
        ):
            return
        self.with_data.add(account)
        if cluster is not None:
            self.by_account.setdefault(account, set()).add(cluster.lower())


def archive_evidence(
    header: Mapping[str, Any],
    pages: Iterable[Mapping[str, Any]],
    *,
    clusters: Collection[str] | None = None,
) -> ArchiveEvidence:
    """Read an archive's clusters per account, accounts with data and matched paths in one pass.

    :param header: the archive's header (``read_archive``'s first value): its ``usage_kind``,
        requested ``accounts`` and, for storage and inference, the key maps.
    :param pages: its pages, streamed.
    :param clusters: the offering's ``clusters`` filter (compute), so that rows the report leaves
        out are not evidence either; None: every cluster.
    """
    reader = _Reader(header, clusters)
    for record in records_of(pages, reader.kind):
        reader.add(record)
    month = header.get("month")
    return ArchiveEvidence(
        month=month if isinstance(month, str) else None,
        usage_kind=reader.kind,
        accounts_with_data=len(reader.with_data),
        clusters=(
            {account: frozenset(names) for account, names in sorted(reader.by_account.items())}
            if reader.kind is UsageKind.COMPUTE
            else None
        ),
        paths=(
            {
                backend_id: path if backend_id in reader.with_data else None
                for backend_id, path in reader.paths.items()
            }
            if reader.kind is UsageKind.STORAGE
            else None
        ),
    )


def clusters_by_account(
    records: Iterable[Mapping[str, Any]],
    *,
    accounts: Collection[str] | None = None,
    clusters: Collection[str] | None = None,
) -> dict[str, frozenset[str]]:
    """Compute: account -> the clusters (lower case) it has usage on in these DWDI records.

    :param records: DWDI's compute entries, or an archive's pages (:func:`records_of`); an entry
        of zeros (no user row, no total above zero) is no usage.

    :param accounts: only these accounts (the archive header's requested ``accounts``); None: all.
    :param clusters: only these clusters (the offering's filter); None: all.
    """
    reader = _Reader({"accounts": None if accounts is None else list(accounts)}, clusters)
    for record in records_of(records, UsageKind.COMPUTE):
        reader.add(record)
    return {account: frozenset(names) for account, names in sorted(reader.by_account.items())}


def accounts_with_data(
    records: Iterable[Mapping[str, Any]],
    *,
    header: Mapping[str, Any] | None = None,
    clusters: Collection[str] | None = None,
) -> int:
    """How many requested accounts (storage: paths, inference: resources) have data.

    Read as the aggregate task reads the archive: compute accounts among the header's ``accounts``
    (all, when it requested all or without a header) on the ``clusters`` kept; storage paths and
    inference UUIDs of the header's maps, each counted once per backend ID.
    """
    reader = _Reader(header or {}, clusters)
    for record in records_of(records, reader.kind):
        reader.add(record)
    return len(reader.with_data)


def storage_paths(header: Mapping[str, Any], records: Iterable[Mapping[str, Any]]) -> dict[str, str | None]:
    """Storage: backend_id -> its path (the header's ``paths``) when a record matched it, else None.

    :param records: DWDI's storage entries, or the archive's pages (:func:`records_of`).
    """
    reader = _Reader({**header, KIND_FIELD: UsageKind.STORAGE.value}, None)
    for record in records_of(records, UsageKind.STORAGE):
        reader.add(record)
    return {
        backend_id: path if backend_id in reader.with_data else None
        for backend_id, path in reader.paths.items()
    }


__all__ = [
    "LIST_KEYS",
    "ArchiveEvidence",
    "GuardEvidence",
    "Totals",
    "accounts_with_data",
    "archive_evidence",
    "clusters_by_account",
    "has_usage",
    "header_kind",
    "records_of",
    "storage_paths",
    "totals_of",
]
