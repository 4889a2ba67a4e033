"""The ``push_to_waldur`` task (one per billing month, one at a time): write the report to Waldur.

:class:`PushToWaldurOperator` reads the ``aggregate_usage`` task's :class:`~core.xcom.UsageReport`
and returns a :class:`~core.xcom.PushResult`. What it reads and writes, in which order, and how
failures and a stale try are handled is the one write path :func:`._waldur_writer.push_report`
(shared with the close and the audit's repair); this module reads the task's arguments, fails
the task naming every resource not written, and records the billing asset event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowException

from airflow_provider_cscs_dwdi.assets import billing_alias
from airflow_provider_cscs_dwdi.core.billed_totals import billing_event_extra
from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError
from airflow_provider_cscs_dwdi.core.xcom import PushResult, UsageReport
from airflow_provider_cscs_dwdi.hooks.waldur import WaldurHook
from airflow_provider_cscs_dwdi.operators._base import WaldurBaseOperator
from airflow_provider_cscs_dwdi.operators._clock import Clock
from airflow_provider_cscs_dwdi.operators._lineage import operator_lineage
from airflow_provider_cscs_dwdi.operators._params import as_bool

if TYPE_CHECKING:
    from airflow.sdk import Context


class PushToWaldurOperator(WaldurBaseOperator):
    """Write one month of the aggregated report to a Waldur offering: totals and per-user usage.

    Only what differs from Waldur is written (absolute totals, 2 decimals), so re-running a month
    sends nothing. Past months are written only to a server that honours the usage ``date``
    (Waldur 8.x); a server that ignores it (7.x) would overwrite the current month, so the push is
    refused before anything is written.

    :param report: the XCom of AggregateUsageOperator (a ``UsageReport`` document).
    :param offering_uuid: the Waldur offering whose resources carry the accounts as backend_id.
    :param waldur_conn_id: the ``waldur`` connection.
    :param dry_run: compute and log the full plan (old -> new) but write nothing. Templated; kept
        as ``dry_run_setting`` (``dry_run`` is ``BaseOperator``'s method).
    :param reconcile: also write 0 for users Waldur holds for the month that DWDI no longer reports.
    :param billing_timezone: the time zone whose calendar defines the current month.
    :param clock: the current time, which tells the current month and the usage ``date`` (default:
        the operators' clock, see :mod:`._clock`).
    :param billing_asset: the offering's Asset (``assets.billing_asset``): a successful push that is
        not a dry run adds an event to it, through the alias ``assets.billing_alias`` that the task
        declares as outlet, with the extra of ``core.billed_totals.billing_event_extra``.
    :param closes_month: the push closes its month (the monthly close DAG): ``closed`` in the extra.

    Storage and inference reports carry resource totals only: their user usages are never listed
    nor written (reconcile included). A storage resource DWDI returned no level for is not written
    and is listed as "no storage data".

    Returns ``{"month", "dry_run", "changed", "written", "unchanged", "skipped", "failed",
    "user_usages_written", "without_data_count", "issues", "failures", "without_data"}``
    (:class:`~core.xcom.PushResult`): resource counts (``skipped`` also counts the report's own
    skipped rows), the first issues, failures and backend IDs without storage data.
    The task fails at the end when any resource was not written; the result is pushed to XCom
    before that.
    """

    template_fields: Sequence[str] = (
        "report",
        "offering_uuid",
        "dry_run_setting",
        "reconcile",
        "billing_timezone",
    )
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        report: Mapping[str, Any] | Any,
        offering_uuid: str,
        waldur_conn_id: str = WaldurHook.default_conn_name,
        dry_run: bool | str = False,
        reconcile: bool | str = False,
        billing_timezone: str = "UTC",
        clock: Clock | None = None,
        billing_asset: Asset | None = None,
        closes_month: bool = False,
        **kwargs: Any,
    ) -> None:
        # Two runs writing the same offering at once could interleave old and new values.
        kwargs.setdefault("max_active_tis_per_dag", 1)
        if billing_asset is not None:
            alias = billing_alias(billing_asset)
            outlets = list(kwargs.get("outlets") or [])
            kwargs["outlets"] = outlets if alias in outlets else [*outlets, alias]
        super().__init__(
            waldur_conn_id=waldur_conn_id,
            offering_uuid=offering_uuid,
            billing_timezone=billing_timezone,
            clock=clock,
            **kwargs,
        )
        self.report = report
        self.dry_run_setting = dry_run
        self.reconcile = reconcile
        self.billing_asset = billing_asset
        self.closes_month = closes_month

    def execute(self, context: Context) -> dict[str, Any]:
        dry_run = as_bool(self.dry_run_setting, "dry_run")
        try:
            report = UsageReport.from_xcom(self.report)
        except CscsDwdiError as error:
            raise AirflowException(f"The report cannot be pushed: {error}") from error
        result = self.push_report(
            report,
            dry_run=dry_run,
            reconcile=as_bool(self.reconcile, "reconcile"),
            task_instance=context.get("ti"),
        )
        self._finish(result, context)
        if self.billing_asset is not None and not dry_run:
            extra = billing_event_extra(
                report, result, offering_uuid=str(self.target.offering_uuid), closed=self.closes_month
            )
            context["outlet_events"][billing_alias(self.billing_asset)].add(self.billing_asset, extra=extra)
            self.log.info("Asset event on %s: %s", self.billing_asset.uri, extra)
        return result.to_xcom()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """What this task read and wrote, for the OpenLineage listener (docs/lineage.md).

        The Waldur offering out, the push's counts. The OpenLineage provider is imported only here, so the
        operator runs without it.
        """
        return operator_lineage(self._lineage)

    def _finish(self, result: PushResult, context: Context) -> None:
        """Fail the task, naming every resource that was not written, once the result is in XCom."""
        if result.without_data:
            more = result.without_data_count - len(result.without_data)
            self.log.warning(
                "No storage data from DWDI for %d resource(s), not written: %s%s",
                result.without_data_count,
                ", ".join(result.without_data),
                f" and {more} more" if more > 0 else "",
            )
        if not result.failed:
            self.log.info("Push of %s done: %s", result.month, result.counts())
            return
        context["ti"].xcom_push(key="return_value", value=result.to_xcom())
        lines = [
            f"  {failure.backend_id} ({failure.resource_uuid or 'no resource'}): {failure.reason}"
            for failure in result.failures
        ]
        more = result.failed - len(result.failures)
        raise AirflowException(
            f"Push of {result.month}: {result.failed} resource(s) not written "
            f"({result.written} written, {result.unchanged} unchanged):\n"
            + "\n".join(lines)
            + (f"\n  ... and {more} more (see the log)" if more > 0 else "")
        )
