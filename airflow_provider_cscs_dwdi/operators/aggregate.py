"""The ``aggregate_usage`` task (one per billing month): the exact report that will be billed.

:class:`AggregateUsageOperator` reads the ``fetch_usage`` task's :class:`~core.xcom.FetchResult`,
sums the archive it points at (``core.usage``, ``core.storage`` or ``core.inference``, as the
archive header says), builds the report (``core.report``) and returns it as a
:class:`~core.xcom.UsageReport`, read by the ``push_to_waldur`` task.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath
from airflow.sdk.exceptions import AirflowException

from airflow_provider_cscs_dwdi.core.archive import ArchiveError, missing_archive_message
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError, ReportError
from airflow_provider_cscs_dwdi.core.issues import UsageDataError
from airflow_provider_cscs_dwdi.core.kinds import EXCLUDED_FIELD, header_kind
from airflow_provider_cscs_dwdi.core.task_settings import Aggregation
from airflow_provider_cscs_dwdi.core.xcom import FetchResult, UsageReport
from airflow_provider_cscs_dwdi.operators._kinds import ArchiveChecksumError, report_from_archive
from airflow_provider_cscs_dwdi.operators._lineage import (
    TaskLineage,
    archive_dataset,
    is_count,
    operator_lineage,
)
from airflow_provider_cscs_dwdi.operators._params import check_arguments, read_arguments

if TYPE_CHECKING:
    from airflow.sdk import Context

ISSUES_LOGGED = 50


class AggregateUsageOperator(BaseOperator):
    """Aggregate a fetched DWDI month into per-account (and, for compute, per-user) totals for Waldur.

    Reads the archive written by :class:`FetchMonthlyUsageOperator` page by page (memory stays
    bounded by one page), sums every component exactly (Decimal, multiplied by ``unit_factor`` and
    rounded half up to 2 decimals once) and returns the versioned report described in
    ``docs/architecture.md``. The archive header says the usage kind and maps DWDI's paths
    (storage) or resource UUIDs (inference) back to backend IDs. Only the accounts the fetch asked
    for are reported; compute accounts and inference resources with no data get explicit zero
    totals, storage paths DWDI did not return get no total at all ("no storage data").

    Bad values (null, negative, NaN, strings, nameless rows) never become zero: with
    ``bad_value_policy="fail"`` the task fails listing every one of them and nothing reaches Waldur;
    with ``"skip"`` the bad rows are left out and listed in the report and in the log.

    :param fetch_result: the XCom of the fetch task (a ``FetchResult`` document).
    :param backend_components: the seed's ``backend_components`` mapping (validated at DAG parse).
    :param bad_value_policy: ``"fail"`` (default) or ``"skip"``.
    :param clusters: optional cluster filter applied to DWDI entries.
    """

    template_fields: Sequence[str] = ("fetch_result", "bad_value_policy", "clusters")
    ui_color = "#fdf6e3"
    #: What the last ``execute`` read, wrote and counted, for ``get_openlineage_facets_on_complete``.
    _lineage: TaskLineage | None = None

    def __init__(
        self,
        *,
        fetch_result: Mapping[str, Any] | Any,
        backend_components: Mapping[str, Mapping[str, Any]],
        bad_value_policy: str = "fail",
        clusters: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fetch_result = fetch_result
        self.backend_components = backend_components
        self.bad_value_policy = bad_value_policy
        self.clusters = clusters
        # Read here too, so a wrong component configuration breaks the DAG import, not a run.
        check_arguments(self, Aggregation)

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            fetch = FetchResult.from_xcom(self.fetch_result)
        except ReportError as error:
            raise AirflowException(
                f"The result of fetch_usage cannot be read; nothing was pushed: {error}"
            ) from error
        aggregation = read_arguments(self, Aggregation)
        policy = aggregation.bad_value_policy
        archive = ObjectStoragePath(fetch.archive)
        self.log.info("Aggregating %s (%d page(s)) with policy %s", archive, fetch.pages, policy.value)

        try:
            with archive.open("rb") as raw_file:
                report = report_from_archive(
                    raw_file,
                    aggregation.components,
                    month=fetch.month,
                    window=fetch.window,
                    clusters=aggregation.clusters,
                    policy=policy,
                    expected_sha256=fetch.archive_sha256,
                    check_header=partial(self._check_header, fetch),
                ).report
        except FileNotFoundError as error:
            # Another worker's local disk, most likely: say so, it is easy to miss when scaling out.
            raise AirflowException(
                missing_archive_message(fetch.archive, written_on=fetch.host, read_on=socket.gethostname())
            ) from error
        except ArchiveChecksumError as error:
            raise AirflowException(
                f"Archive {archive} does not match the checksum the fetch task recorded; refusing to bill from it."
            ) from error
        except (ArchiveError, OSError, EOFError) as error:
            # A truncated DWDI answer surfaces here: the fetch task archives without parsing.
            raise AirflowException(
                f"Cannot read the archive of DWDI's answers {archive}; nothing was pushed: {error}"
            ) from error
        except ConfigurationError as error:
            raise AirflowException(f"Refusing to bill from {fetch.archive}: {error}") from error
        except UsageDataError as error:
            raise AirflowException(
                f"DWDI data for {fetch.month} cannot be billed ({len(error.issues)} issue(s)); nothing was "
                f"pushed. Fix the data or re-run with bad_value_policy='skip'.\n{error}"
            ) from None

        self._log_summary(report)
        self._lineage = TaskLineage(
            month=report.month,
            usage_kind=report.usage_kind,
            inputs=[archive_dataset(fetch.archive, entries=fetch.entries, size_bytes=fetch.archive_bytes)],
            counts={name: count for name, count in report.counts.items() if is_count(count)},
        )
        return report.to_xcom()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """What this task read and wrote, for the OpenLineage listener (docs/lineage.md).

        The archive in, the report's counts. The OpenLineage provider is imported only here, so the
        operator runs without it.
        """
        return operator_lineage(self._lineage)

    def _check_header(self, fetch: FetchResult, header: Mapping[str, Any]) -> None:
        """Refuse an archive of another kind than the fetch's; log the backend IDs it left out."""
        kind = header_kind(header)
        if kind.value != fetch.usage_kind:
            raise ConfigurationError(
                f"the archive holds {kind.value} usage but the fetch result says {fetch.usage_kind}"
            )
        for backend_id, uuids in sorted((header.get(EXCLUDED_FIELD) or {}).items()):
            self.log.warning(
                "Not reported: backend ID %s is %d Waldur resources (%s), not one.",
                backend_id,
                len(uuids),
                ", ".join(uuids) or "none",
            )

    def _log_summary(self, report: UsageReport) -> None:
        counts = report.counts
        noun = {"compute": "account", "storage": "path", "inference": "resource"}[report.usage_kind]
        self.log.info(
            "Report %s (%s): %s %s(s) reported (%s without data), %s ignored (not requested), "
            "%s user row(s), %s skipped, %s issue(s)",
            report.month,
            report.usage_kind,
            counts.get("accounts_reported"),
            noun,
            counts.get("accounts_without_data"),
            counts.get("accounts_ignored"),
            counts.get("user_rows"),
            counts.get("rows_skipped"),
            counts.get("issues"),
        )
        if report.without_data:
            self.log.warning(
                "No storage data from DWDI for %d backend ID(s), not written: %s",
                len(report.without_data),
                ", ".join(report.without_data[:ISSUES_LOGGED]),
            )
        if report.ignored_accounts_sample:
            self.log.warning(
                "DWDI answered %s %s(s) nobody requested, never billed, e.g. %s",
                counts.get("accounts_ignored"),
                noun,
                ", ".join(report.ignored_accounts_sample),
            )
        for issue in report.issues[:ISSUES_LOGGED]:
            self.log.warning("Skipped: %s", issue.message)
        if len(report.issues) > ISSUES_LOGGED:
            self.log.warning(
                "... and %d more issue(s), all listed in the report", len(report.issues) - ISSUES_LOGGED
            )
