"""Per usage kind: what the fetch task asks DWDI for, and how the aggregate task reads it back.

The archive header is the contract between the two tasks. Besides the month, window, query and
requested backend IDs (``accounts``), it records the ``usage_kind`` and, for storage and
inference, the map that turns DWDI's keys back into backend IDs, so the billed amounts can be
rebuilt from the archive alone (audit):

- storage: ``"paths": {backend_id: path}`` (``StorageSettings.paths_of``), plus ``filesystem``
  and ``data_type``;
- inference: ``"resources": {resource_uuid: backend_id}``, plus ``"excluded": {backend_id:
  [uuid, ...]}``: backend IDs that are not exactly one Waldur resource (DWDI keys inference by
  resource, so a cost cannot be given to one of two resources sharing a backend ID).

An archive without ``usage_kind`` is compute (written before storage and inference existed).
:func:`report_from_archive` rebuilds a month's report from an archive alone: the aggregate task
bills from it, the audit rebuilds a past push with it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import IO, Any, Literal

from airflow_provider_cscs_dwdi.core.archive import ArchiveError, ChecksumReader, read_archive
from airflow_provider_cscs_dwdi.core.components import ComponentConfig
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.inference import InferenceAggregator
from airflow_provider_cscs_dwdi.core.kinds import (
    EXCLUDED_FIELD,
    KIND_FIELD,
    PATHS_FIELD,
    RESOURCES_FIELD,
    StorageSettings,
    UsageKind,
    header_kind,
)
from airflow_provider_cscs_dwdi.core.report import build_report
from airflow_provider_cscs_dwdi.core.storage import StorageAggregator
from airflow_provider_cscs_dwdi.core.usage import BadValuePolicy, UsageAggregator
from airflow_provider_cscs_dwdi.core.xcom import BackendIds, UsageReport
from airflow_provider_cscs_dwdi.hooks.dwdi import (
    DWDIHook,
    count_inference_entries,
    count_rows,
    count_storage_entries,
)

Aggregator = UsageAggregator | StorageAggregator | InferenceAggregator


@dataclass(frozen=True)
class KindRequest:
    """One month's DWDI request for one usage kind, before it is sent.

    ``query`` goes into the FetchResult and the archive header, ``details`` into the header only;
    ``keys`` counts the paths or UUIDs asked for (None: everything DWDI has); ``excluded`` lists
    the backend IDs left out of the request and why; ``pages`` sends it (raw, unparsed pages
    whose ``.keys`` name what each asked for) and ``count`` gives ``(entries, user_rows)`` of a
    raw page.
    """

    usage_kind: UsageKind
    query: dict[str, Any]
    details: dict[str, Any]
    keys: int | None
    pages: Callable[[DWDIHook], Iterable[Any]]
    count: Callable[[bytes], tuple[int, int]]
    excluded: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def describe(self) -> str:
        """``"storage usage for 6 path(s)"``: what is fetched, for the log."""
        noun = {UsageKind.COMPUTE: "account", UsageKind.STORAGE: "path", UsageKind.INFERENCE: "resource"}
        count = "all" if self.keys is None else str(self.keys)
        what = "cost" if self.usage_kind is UsageKind.INFERENCE else "usage"
        return f"{self.usage_kind.value} {what} for {count} {noun[self.usage_kind]}(s)"


def compute_request(month: str, accounts: list[str] | None, clusters: list[str] | None) -> KindRequest:
    """Compute usage of these accounts (None: all DWDI knows) on these clusters (None: all)."""
    return KindRequest(
        usage_kind=UsageKind.COMPUTE,
        query={"from": month, "to": month, "clusters": clusters},
        details={KIND_FIELD: UsageKind.COMPUTE.value},
        keys=None if accounts is None else len(accounts),
        pages=lambda hook: hook.iter_compute_usage(
            month, month, accounts=accounts, clusters=clusters, parse=False
        ),
        count=count_rows,
    )


def storage_request(month: str, accounts: list[str], settings: StorageSettings) -> KindRequest:
    """The storage level of each backend ID's path on the offering's filesystem and data type.

    :raises ConfigurationError: two backend IDs resolve to one path (both named).
    """
    paths = settings.paths_of(accounts)
    return KindRequest(
        usage_kind=UsageKind.STORAGE,
        query={"exact-month": month, "filesystem": settings.filesystem, "data_type": settings.data_type},
        details={KIND_FIELD: UsageKind.STORAGE.value, PATHS_FIELD: paths},
        keys=len(paths),
        pages=lambda hook: hook.iter_storage_usage(
            month, list(paths.values()), settings.filesystem, settings.data_type, parse=False
        ),
        count=lambda raw: (count_storage_entries(raw), 0),
    )


def inference_request(month: str, accounts: list[str], backend_ids: BackendIds) -> KindRequest:
    """The inference cost of each backend ID's single Waldur resource (by its UUID)."""
    resources, excluded = backend_ids.uuids_of(accounts)
    return KindRequest(
        usage_kind=UsageKind.INFERENCE,
        query={"from": month, "to": month},
        details={
            KIND_FIELD: UsageKind.INFERENCE.value,
            RESOURCES_FIELD: resources,
            EXCLUDED_FIELD: {backend_id: list(uuids) for backend_id, uuids in excluded.items()},
        },
        keys=len(resources),
        pages=lambda hook: hook.iter_inference_cost(month, month, list(resources), parse=False),
        count=lambda raw: (count_inference_entries(raw), 0),
        excluded=excluded,
    )


def build_request(
    usage_kind: UsageKind,
    month: str,
    accounts: list[str] | None,
    *,
    clusters: list[str] | None,
    storage: StorageSettings | None,
    backend_ids: BackendIds | None,
) -> KindRequest:
    """The request of ``usage_kind``; storage and inference need the backend IDs they bill.

    :raises ConfigurationError: what the kind needs is missing, or storage paths collide.
    """
    if usage_kind is UsageKind.COMPUTE:
        return compute_request(month, accounts, clusters)
    if accounts is None:
        raise ConfigurationError(
            f"{usage_kind.value} usage is fetched for the offering's backend IDs; got no account list"
        )
    if usage_kind is UsageKind.STORAGE:
        if storage is None:
            raise ConfigurationError("a storage offering needs its storage settings (filesystem, data_type)")
        return storage_request(month, accounts, storage)
    if backend_ids is None:
        raise ConfigurationError(
            "inference is keyed by Waldur resource UUID: the fetch needs the list_backend_ids result"
        )
    return inference_request(month, accounts, backend_ids)


def aggregator_for(
    header: Mapping[str, Any],
    components: Sequence[ComponentConfig],
    *,
    clusters: Collection[str] | None,
    policy: BadValuePolicy,
) -> Aggregator:
    """The aggregator of the header's kind, keyed by the header's own maps (the audit trail).

    :raises ConfigurationError: the header lacks the map its kind needs.
    """
    usage_kind = header_kind(header)
    if usage_kind is UsageKind.COMPUTE:
        return UsageAggregator(
            components, requested_accounts=header.get("accounts"), clusters=clusters, policy=policy
        )
    if usage_kind is UsageKind.STORAGE:
        return StorageAggregator(components, paths=_string_map(header, PATHS_FIELD), policy=policy)
    return InferenceAggregator(components, resources=_string_map(header, RESOURCES_FIELD), policy=policy)


def _string_map(header: Mapping[str, Any], name: str) -> dict[str, str]:
    value = header.get(name)
    if not isinstance(value, Mapping) or not all(
        isinstance(key, str) and isinstance(item, str) for key, item in value.items()
    ):
        raise ConfigurationError(
            f"archive header: {name}: expected an object of strings, got {type(value).__name__}"
        )
    return dict(value)


class _FromHeader(Enum):
    WINDOW = "the window the archive header records"


#: ``report_from_archive(window=HEADER_WINDOW)``: the report covers the days the header says.
HEADER_WINDOW = _FromHeader.WINDOW


class ArchiveChecksumError(ArchiveError):
    """The archive read is not the one whose sha256 was recorded when it was written."""


@dataclass(frozen=True)
class ArchivedReport:
    """A month's report rebuilt from an archive, and the archive's header (its audit trail)."""

    header: Mapping[str, Any]
    report: UsageReport


def report_from_archive(
    raw_file: IO[bytes],
    components: Sequence[ComponentConfig],
    *,
    month: str,
    clusters: Collection[str] | None,
    policy: BadValuePolicy,
    window: Mapping[str, str] | Literal[_FromHeader.WINDOW] | None = HEADER_WINDOW,
    expected_sha256: str | None = None,
    check_header: Callable[[Mapping[str, Any]], None] | None = None,
) -> ArchivedReport:
    """Sum an archive page by page (memory bounded by one page) into the report of ``month``.

    The aggregator is the one the header calls for (:func:`aggregator_for`), so the amounts are
    exactly those the aggregate task billed from it. ``window`` defaults to the header's;
    ``check_header`` may refuse the header before anything is summed.

    :raises ArchiveError: the archive cannot be read (``ArchiveChecksumError``: its sha256 is not
        ``expected_sha256``, checked before the report is built).
    :raises ConfigurationError: the header lacks what its kind needs (or ``check_header`` says so).
    :raises UsageDataError: the data cannot be billed under ``policy`` (``build_report``).
    """
    reader = ChecksumReader(raw_file)
    header, pages = read_archive(reader)
    if check_header is not None:
        check_header(header)
    aggregator = aggregator_for(header, components, clusters=clusters, policy=policy)
    for page in pages:
        aggregator.add_response(page["body"], source=f"page {page['page']}")
    reader.drain()
    if expected_sha256 is not None and reader.hexdigest() != expected_sha256:
        raise ArchiveChecksumError(f"sha256 {reader.hexdigest()} is not the recorded {expected_sha256}")
    if window is HEADER_WINDOW:
        window = header.get("window")
    report = build_report(aggregator.result(), month=month, window=window)
    return ArchivedReport(header=header, report=report)
