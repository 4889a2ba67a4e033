"""The ``fetch_usage`` task (one per billing month): ask DWDI and archive exactly what it said.

:class:`FetchMonthlyUsageOperator` gets one month of the ``billing_months`` task's
:class:`~core.xcom.BillingPlan` and its accounts, and returns a :class:`~core.xcom.FetchResult`
pointing at the archive, read by the ``aggregate_usage`` task.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_provider_cscs_dwdi.core.archive import ArchiveWriter
from airflow_provider_cscs_dwdi.core.months import billing_month, month_window, parse_month
from airflow_provider_cscs_dwdi.core.xcom import FetchResult
from airflow_provider_cscs_dwdi.hooks.dwdi import DWDIHook, count_rows
from airflow_provider_cscs_dwdi.operators._params import blank_to_none, normalise_accounts, run_instant

if TYPE_CHECKING:
    from airflow.sdk import Context


def default_archive_root() -> str:
    """``$AIRFLOW_HOME/cscs_dwdi_archive`` as a ``file://`` URL."""
    airflow_home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return f"file://{os.path.abspath(airflow_home)}/cscs_dwdi_archive"


class FetchMonthlyUsageOperator(BaseOperator):
    """Fetch one billing month of compute usage from DWDI and archive the raw responses.

    The month is ``month`` (``YYYY-MM``) when given, else the month of the run's
    ``data_interval_end`` (or ``run_after``) minus one microsecond in ``billing_timezone``, so the
    daily run reports month-to-date and the run at 00:00 on the 1st closes the previous month.

    DWDI's responses are written unchanged (gzip JSON lines, see ``core.archive``) under
    ``archive_path``/<dag_id>/<month>/<run_id>.jsonl.gz: the audit trail of what DWDI said. The
    XCom result is a small document pointing at that archive (:class:`~core.xcom.FetchResult`),
    whatever the number of accounts.

    :param dwdi_conn_id: Airflow connection of type ``cscs_dwdi``.
    :param accounts: DWDI accounts to ask for (the Waldur offering's backend IDs); ``None`` asks for
        all accounts, an empty list asks for none.
    :param clusters: optional cluster filter (lower-case names).
    :param month: billing month ``YYYY-MM``; empty means "from the run date".
    :param billing_timezone: IANA time zone in which months begin and end.
    :param archive_path: ObjectStoragePath URL of the archive root (default under $AIRFLOW_HOME).
    """

    template_fields: Sequence[str] = ("accounts", "clusters", "month", "archive_path")
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        dwdi_conn_id: str = DWDIHook.default_conn_name,
        accounts: Sequence[str] | str | None = None,
        clusters: Sequence[str] | None = None,
        month: str | None = None,
        billing_timezone: str = "UTC",
        archive_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dwdi_conn_id = dwdi_conn_id
        self.accounts = accounts
        self.clusters = clusters
        self.month = month
        self.billing_timezone = billing_timezone
        self.archive_path = archive_path

    def resolve_month(self, context: Context) -> str:
        if blank_to_none(self.month) is not None:
            return parse_month(str(self.month).strip())
        return billing_month(run_instant(context), self.billing_timezone)

    def archive_location(self, context: Context, month: str) -> ObjectStoragePath:
        root = ObjectStoragePath(self.archive_path or default_archive_root())
        run_id = re.sub(r"[^A-Za-z0-9_.-]+", "_", context["run_id"])
        return root / self.dag_id / month / f"{run_id}.jsonl.gz"

    def execute(self, context: Context) -> dict[str, Any]:
        month = self.resolve_month(context)
        accounts = normalise_accounts(self.accounts)
        clusters = sorted({c.strip().lower() for c in self.clusters}) if self.clusters else None
        today = datetime.now(ZoneInfo(self.billing_timezone)).date()
        window = month_window(month, today)
        query = {"from": month, "to": month, "clusters": clusters}
        target = self.archive_location(context, month)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.log.info(
            "Fetching DWDI usage for %s (window %s..%s) for %s account(s)%s into %s",
            month,
            window["from"],
            window["to"],
            "all" if accounts is None else len(accounts),
            f", clusters {clusters}" if clusters else "",
            target,
        )

        pages = entries = user_rows = 0
        hook = DWDIHook(dwdi_conn_id=self.dwdi_conn_id)
        with target.open("wb") as raw_file, ArchiveWriter(raw_file) as archive:
            archive.write_header(month=month, window=window, query=query, accounts=accounts)
            if accounts != []:
                # Parsed once, by the aggregate task, from the archive: parsing is the costly part.
                for page in hook.iter_compute_usage(
                    month, month, accounts=accounts, clusters=clusters, parse=False
                ):
                    archive.write_page(page.index, page.status, page.accounts, page.raw)
                    page_entries, page_user_rows = count_rows(page.raw)
                    pages += 1
                    entries += page_entries
                    user_rows += page_user_rows
        self.log.info(
            "Archived %d DWDI page(s): %d account entries, %d user rows, %d bytes (sha256 %s)",
            pages,
            entries,
            user_rows,
            archive.bytes_written,
            archive.sha256,
        )
        return FetchResult(
            month=month,
            window=window,
            query=query,
            accounts_requested=None if accounts is None else len(accounts),
            accounts_sha256=hashlib.sha256(json.dumps(accounts).encode()).hexdigest(),
            archive=str(target),
            archive_sha256=archive.sha256,
            archive_bytes=archive.bytes_written,
            pages=pages,
            entries=entries,
            user_rows=user_rows,
            host=socket.gethostname(),
        ).to_xcom()
