"""The ``fetch_usage`` task (one per billing month): ask DWDI and archive exactly what it said.

:class:`FetchMonthlyUsageOperator` gets one month of the ``billing_months`` task's
:class:`~core.xcom.BillingPlan` and its accounts, and returns a :class:`~core.xcom.FetchResult`
pointing at the archive, read by the ``aggregate_usage`` task. What it asks per usage kind
(compute, storage, inference) is in :mod:`._kinds`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_cscs_dwdi.core.archive import ArchiveWriter
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError, ReportError
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.core.months import Month, billing_month, month_window
from airflow_provider_cscs_dwdi.core.task_settings import DwdiSource
from airflow_provider_cscs_dwdi.core.xcom import BackendIds, FetchResult
from airflow_provider_cscs_dwdi.hooks.dwdi import DWDIAPIError, DWDIHook
from airflow_provider_cscs_dwdi.operators._base import HookOwningOperator
from airflow_provider_cscs_dwdi.operators._clock import Clock, read_clock
from airflow_provider_cscs_dwdi.operators._kinds import KindRequest, build_request
from airflow_provider_cscs_dwdi.operators._lineage import (
    TaskLineage,
    archive_dataset,
    dwdi_dataset,
    operator_lineage,
)
from airflow_provider_cscs_dwdi.operators._params import (
    blank_to_none,
    check_arguments,
    normalise_accounts,
    read_arguments,
    run_instant,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


def default_archive_root() -> str:
    """``$AIRFLOW_HOME/cscs_dwdi_archive`` as a ``file://`` URL."""
    airflow_home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return f"file://{os.path.abspath(airflow_home)}/cscs_dwdi_archive"


class FetchMonthlyUsageOperator(HookOwningOperator):
    """Fetch one billing month of DWDI usage (compute, storage or inference) and archive it raw.

    The month is ``month`` (``YYYY-MM``) when given, else the month of the run's
    ``data_interval_end`` (or ``run_after``) minus one microsecond in ``billing_timezone``, so the
    daily run reports month-to-date and the run at 00:00 on the 1st closes the previous month.

    DWDI's responses are written unchanged (gzip JSON lines, see ``core.archive``) under
    ``archive_path``/<dag_id>/<month>/<run_id>.jsonl.gz: the audit trail of what DWDI said. The
    header records the usage kind and, for storage and inference, which path or resource UUID
    belongs to which backend ID. The XCom result is a small document pointing at that archive
    (:class:`~core.xcom.FetchResult`), whatever the number of accounts.

    :param dwdi_conn_id: Airflow connection of type ``cscs_dwdi``.
    :param accounts: the backend IDs to report (compute: the DWDI accounts; ``None`` asks for all
        accounts, an empty list asks for none); storage and inference need the list.
    :param clusters: optional cluster filter (lower-case names; compute only).
    :param month: billing month ``YYYY-MM``; empty means "from the run date".
    :param billing_timezone: IANA time zone in which months begin and end.
    :param archive_path: ObjectStoragePath URL of the archive root (default under $AIRFLOW_HOME).
    :param usage_kind: ``"compute"`` (default), ``"storage"`` or ``"inference"``.
    :param storage: a storage offering's ``storage`` settings (``filesystem``, ``data_type``,
        ``path_mapping``, ``path_template``): each backend ID's path comes from them.
    :param backend_ids: the ``list_backend_ids`` XCom (a ``BackendIds`` document): inference is
        keyed by the resources' Waldur UUIDs, which it carries.
    :param clock: the current time, which ends the window of the current month (default: the
        operators' clock, see :mod:`._clock`).

    ``dwdi_conn_id``, ``usage_kind``, ``clusters``, ``billing_timezone``, ``archive_path`` and
    ``storage`` are the offering's ``core.task_settings.DwdiSource`` (the DAG factory passes
    ``DwdiSource.of(offering).arguments()``); ``execute`` reads them back, rendered, as
    ``source``.
    """

    template_fields: Sequence[str] = ("accounts", "clusters", "month", "archive_path", "backend_ids")
    ui_color = "#e8f4fd"
    #: What the last ``execute`` read, wrote and counted, for ``get_openlineage_facets_on_complete``.
    _lineage: TaskLineage | None = None

    def __init__(
        self,
        *,
        dwdi_conn_id: str = DWDIHook.default_conn_name,
        accounts: Sequence[str] | str | None = None,
        clusters: Sequence[str] | None = None,
        month: str | None = None,
        billing_timezone: str = "UTC",
        archive_path: str | None = None,
        usage_kind: str = UsageKind.COMPUTE.value,
        storage: Mapping[str, Any] | None = None,
        backend_ids: Mapping[str, Any] | Any = None,
        clock: Clock | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dwdi_conn_id = dwdi_conn_id
        self.accounts = accounts
        self.clusters = clusters
        self.month = month
        self.billing_timezone = billing_timezone
        self.archive_path = archive_path
        self.usage_kind = usage_kind
        self.storage = storage
        self.backend_ids = backend_ids
        self.clock = clock
        # Read here too, so a wrong kind or storage block breaks the DAG import, not a run.
        check_arguments(self, DwdiSource)

    @property
    def source(self) -> DwdiSource:
        """The rendered DWDI arguments, read back with ``core.task_settings.DwdiSource``."""
        return read_arguments(self, DwdiSource)

    @cached_property
    def hook(self) -> DWDIHook:
        """The task's DWDI hook (one token and one pooled session for every page of the month)."""
        return DWDIHook(dwdi_conn_id=self.source.dwdi_conn_id)

    def resolve_month(self, context: Context) -> str:
        if blank_to_none(self.month) is not None:
            return str(Month.parse(str(self.month)))
        return billing_month(run_instant(context), self.source.billing_timezone)

    def archive_location(self, context: Context, month: str) -> ObjectStoragePath:
        root = ObjectStoragePath(self.source.archive_path or default_archive_root())
        run_id = re.sub(r"[^A-Za-z0-9_.-]+", "_", context["run_id"])
        return root / self.dag_id / month / f"{run_id}.jsonl.gz"

    def build_request(self, month: str, accounts: list[str] | None) -> KindRequest:
        """What to ask DWDI for this month; a configuration problem fails the task, naming it."""
        source = self.source
        clusters = list(source.clusters) if source.clusters else None
        try:
            backend_ids = None if self.backend_ids is None else BackendIds.from_xcom(self.backend_ids)
            return build_request(
                source.usage_kind,
                month,
                accounts,
                clusters=clusters,
                storage=source.storage,
                backend_ids=backend_ids,
            )
        except (ConfigurationError, ReportError) as error:
            raise AirflowFailException(f"Cannot fetch {source.usage_kind.value} usage: {error}") from error

    def execute(self, context: Context) -> dict[str, Any]:
        month = self.resolve_month(context)
        accounts = normalise_accounts(self.accounts)
        request = self.build_request(month, accounts)
        today = read_clock(self.clock).astimezone(ZoneInfo(self.source.billing_timezone)).date()
        window = month_window(month, today)
        target = self.archive_location(context, month)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.log.info(
            "Fetching DWDI %s for %s (window %s..%s), query %s, into %s",
            request.describe(),
            month,
            window["from"],
            window["to"],
            request.query,
            target,
        )
        for backend_id, uuids in sorted(request.excluded.items()):
            self.log.warning(
                "Not fetched: backend ID %s is %d Waldur resources (%s), not one; its inference cost "
                "cannot be given to one of them (see the duplicate_backend_id issue).",
                backend_id,
                len(uuids),
                ", ".join(uuids) or "none",
            )

        pages = entries = user_rows = 0
        hook = self.hook
        with target.open("wb") as raw_file, ArchiveWriter(raw_file) as archive:
            archive.write_header(
                month=month, window=window, query=request.query, accounts=accounts, details=request.details
            )
            if accounts != []:
                # Parsed once, by the aggregate task, from the archive: parsing is the costly part.
                for page in _pages(request, hook):
                    archive.write_page(page.index, page.status, page.keys, page.raw)
                    page_entries, page_user_rows = request.count(page.raw)
                    pages += 1
                    entries += page_entries
                    user_rows += page_user_rows
        self.log.info(
            "Archived %d DWDI page(s): %d %s entries, %d user rows, %d bytes (sha256 %s)",
            pages,
            entries,
            request.usage_kind.value,
            user_rows,
            archive.bytes_written,
            archive.sha256,
        )
        self._lineage = TaskLineage(
            month=month,
            usage_kind=request.usage_kind.value,
            inputs=[dwdi_dataset(hook.settings.api_url, _endpoint_path(hook, request.usage_kind), month)],
            outputs=[archive_dataset(str(target), entries=entries, size_bytes=archive.bytes_written)],
            counts={"pages": pages, "entries": entries, "user_rows": user_rows},
        )
        return FetchResult(
            month=month,
            window=window,
            query=request.query,
            accounts_requested=None if accounts is None else len(accounts),
            accounts_sha256=hashlib.sha256(json.dumps(accounts).encode()).hexdigest(),
            archive=str(target),
            archive_sha256=archive.sha256,
            archive_bytes=archive.bytes_written,
            pages=pages,
            entries=entries,
            user_rows=user_rows,
            host=socket.gethostname(),
            usage_kind=request.usage_kind.value,
        ).to_xcom()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """What this task read and wrote, for the OpenLineage listener (docs/lineage.md).

        The DWDI endpoint and month in, the archive out, page and entry counts. The OpenLineage provider is imported only here, so the
        operator runs without it.
        """
        return operator_lineage(self._lineage)


def _endpoint_path(hook: DWDIHook, usage_kind: UsageKind) -> str:
    """The DWDI path the request of ``usage_kind`` asked (the connection may change it)."""
    settings = hook.settings
    return {
        UsageKind.COMPUTE: settings.compute_usage_path,
        UsageKind.STORAGE: settings.storage_usage_path,
        UsageKind.INFERENCE: settings.inference_cost_path,
    }[usage_kind]


def _pages(request: KindRequest, hook: DWDIHook) -> Iterator[Any]:
    """The request's pages; a 404 fails the task without retries (the endpoint is not there)."""
    try:
        yield from request.pages(hook)
    except DWDIAPIError as error:
        if error.status == 404:
            # The hook's message names the path and the connection extra to set.
            raise AirflowFailException(str(error)) from error
        raise
