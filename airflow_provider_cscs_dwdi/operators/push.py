"""The ``push_to_waldur`` task (one per billing month, one at a time): write the report to Waldur.

:class:`PushToWaldurOperator` reads the ``aggregate_usage`` task's :class:`~core.xcom.UsageReport`
and returns a :class:`~core.xcom.PushResult`. It reads Waldur's state for the month with a fixed
number of listings, lets :mod:`core.waldur_plan` decide what differs, and writes only that.
Requests, in order:

1. the offering's components (also tells whether the server honours ``date``: Waldur 8.x);
2. the offering's resources in OK/Updating/Terminating (page by page);
3. the month's component usages of the whole offering (one listing);
4. the month's user usages (compute only, and only when the month already has component usages),
   in pages of 300;
5. ``set_usage`` per resource whose totals changed (``write_concurrency`` in parallel);
6. the offering users (only when some user usage is written, to link usernames);
7. the month's component usages once more (only when rows were created in step 5, for their uuids);
8. ``set_user_usages`` per changed (resource, component).

Every listing is checked against Waldur's ``X-Result-Count``. Where rows of equal sort key page
unstably (Waldur orders user usages and component usages by date and component type only), the
affected resources are read one by one; a resource whose user usages still cannot be read in full
has them written without comparing (idempotent upserts), with an ``unstable_listing`` issue in the
log and result. A resource or offering-user listing that falls short twice fails the read: a row
it skipped is never taken as absent.

A write that Waldur refuses (4xx) is recorded and the others go on; the task fails at the end
naming every resource that was not written. Re-running is safe: every write is an absolute value.
Storage and inference reports have no users: steps 4, 6, 7 and 8 never happen for them.

Before any request, a total above the Waldur connection's ``max_usage_amount`` fails the push
(docs/waldur-limits.md). Before each write of steps 5 and 8, the push asks the task SDK whether
Airflow still holds its task instance as running, so an orphaned try stops writing
(``operators/_fence.py``, docs/one-push-at-a-time.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from airflow_provider_cscs_dwdi.assets import billing_alias
from airflow_provider_cscs_dwdi.core import months
from airflow_provider_cscs_dwdi.core.billed_totals import billing_event_extra
from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.core.usage_date import past_month_refusal
from airflow_provider_cscs_dwdi.core.waldur_plan import (
    ResourcePlan,
    UnstorableAmountError,
    WritePlan,
    build_write_plan,
    describe_plan,
    refuse_unstorable_amounts,
    set_usage_items,
    user_usage_items,
)
from airflow_provider_cscs_dwdi.core.waldur_state import UserUsageListing
from airflow_provider_cscs_dwdi.core.xcom import PushResult, UsageReport, WriteFailure
from airflow_provider_cscs_dwdi.hooks._http import TransientHTTPError
from airflow_provider_cscs_dwdi.hooks.waldur import WaldurAPIError, WaldurAuthError, WaldurHook
from airflow_provider_cscs_dwdi.operators._clock import Clock, read_clock
from airflow_provider_cscs_dwdi.operators._fence import LiveTryFence, NotTheLiveTryError, task_instance_fence
from airflow_provider_cscs_dwdi.operators._lineage import (
    TaskLineage,
    is_count,
    operator_lineage,
    waldur_offering_dataset,
)
from airflow_provider_cscs_dwdi.operators._params import as_bool
from airflow_provider_cscs_dwdi.operators.list_backend_ids import ListWaldurBackendIdsOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

# ListWaldurBackendIdsOperator (the first task) lived in this module and stays importable from it.
__all__ = ["ListWaldurBackendIdsOperator", "PushToWaldurOperator"]

#: How many issues and failures the XCom result and the failure message list (the log has all).
LISTED_LIMIT = 50
BACKFILL_REFUSAL_MARKER = "backfilling past billing periods"
NOT_ATTEMPTED = "not attempted: an earlier write could not reach Waldur"


def _failure_reason(error: WaldurAPIError | TransientHTTPError) -> str:
    reason = str(error)
    if isinstance(error, WaldurAPIError) and error.status == 400 and BACKFILL_REFUSAL_MARKER in error.detail:
        reason += (
            " Waldur lets only staff backfill a past month of a usage component: use a staff "
            "token in the Waldur connection for this month."
        )
    return reason


class _PushRun:
    """One push of one month: reads Waldur's state, plans, writes, and keeps the tally."""

    def __init__(
        self, hook: WaldurHook, offering_uuid: str, offering: str, fence: LiveTryFence | None = None
    ) -> None:
        self.hook = hook
        self.offering_uuid = offering_uuid
        self.offering = offering  # how messages name the offering
        self.fence = fence  # None: not run by Airflow's task runner, no other try to fence from
        self.failures: dict[str, list[str]] = {}  # resource uuid -> reasons
        self.user_usages_written = 0
        self.resource_uuids: list[str] | None = None  # the resources read (None: not read yet)
        self._tally_lock = threading.Lock()

    def read_and_plan(
        self, report: UsageReport, *, reconcile: bool, check_month: Callable[[bool], None]
    ) -> tuple[WritePlan, bool]:
        """Read Waldur's state for the report's month and diff it; returns the plan and date support."""
        billing_period = f"{report.month}-01"
        components = self.hook.get_offering_components(self.offering_uuid)
        date_honoured = self.hook.usage_date_honoured(components=components)
        # Before any other read: a month this server would misfile is refused outright.
        check_month(date_honoured)
        resources = self.hook.list_resources(self.offering_uuid)
        self.resource_uuids = [str(resource["uuid"]) for resource in resources]
        component_usages = self.hook.list_component_usages(
            self.offering_uuid, billing_period, resource_uuids=self.resource_uuids
        )
        # A month without totals has no user usages either, and storage and inference never
        # touch them: skip the (largest) listing.
        has_users = UsageKind(report.usage_kind).has_users
        user_usages = (
            self.hook.read_user_usages(self.offering_uuid, billing_period, component_usages=component_usages)
            if component_usages and has_users
            else UserUsageListing()
        )
        plan = build_write_plan(
            report,
            resources=resources,
            offering_components=components,
            component_usages=component_usages,
            user_usages=user_usages.rows,
            reconcile=reconcile,
            max_usage_amount=self.hook.settings.max_usage_amount,
            offering=self.offering,
            incomplete_user_usages=user_usages.incomplete,
        )
        return plan, date_honoured

    def write(self, plan: WritePlan, *, usage_date: str | None) -> None:
        """Write the plan's totals, then its user usages; failures are collected per resource."""
        changed = plan.changed
        self._run_writes(
            [
                (
                    resource,
                    partial(
                        self.hook.set_usage,
                        resource.resource_uuid,
                        set_usage_items(resource),
                        usage_date=usage_date,
                    ),
                )
                for resource in changed
                if resource.total_changes
            ]
        )
        with_users = [r for r in changed if r.user_changes and r.resource_uuid not in self.failures]
        if not with_users:
            return
        offering_user_urls = self.hook.list_offering_users(self.offering_uuid)
        row_uuids = self._component_usage_uuids(with_users, f"{plan.month}-01")
        jobs = []
        for resource in with_users:
            for component_type, changes in resource.user_changes_by_component().items():
                row_uuid = row_uuids.get((resource.resource_uuid, component_type))
                if row_uuid is None:
                    self._record_failure(resource, f"no {component_type} usage row to attach user usages to")
                    continue
                items = user_usage_items(changes, offering_user_urls)
                jobs.append((resource, partial(self._write_user_usages, row_uuid, items)))
        self._run_writes(jobs)

    def _write_user_usages(self, row_uuid: str, items: Sequence[Mapping[str, str]]) -> None:
        self.hook.set_user_usages(row_uuid, items)
        with self._tally_lock:
            self.user_usages_written += len(items)

    def _component_usage_uuids(
        self, resources: Sequence[ResourcePlan], billing_period: str
    ) -> dict[tuple[str, str], str]:
        """uuids of the (resource, component) rows; listed once more only if some were just created."""
        known = {
            (resource.resource_uuid, component_type): row_uuid
            for resource in resources
            for component_type, row_uuid in resource.component_usage_uuids.items()
        }
        needed = {
            (resource.resource_uuid, change.component_type)
            for resource in resources
            for change in resource.user_changes
        }
        if needed <= known.keys():
            return known
        rows = self.hook.list_component_usages(
            self.offering_uuid, billing_period, resource_uuids=self.resource_uuids
        )
        return {**known, **{(str(row["resource_uuid"]), str(row["type"])): str(row["uuid"]) for row in rows}}

    def _record_failure(self, resource: ResourcePlan, reason: str) -> None:
        with self._tally_lock:
            self.failures.setdefault(resource.resource_uuid, []).append(reason)

    def _run_writes(self, jobs: Sequence[tuple[ResourcePlan, Callable[[], None]]]) -> None:
        """Run writes ``write_concurrency`` at a time; a 4xx is recorded and the others go on.

        When retries run out on a transient failure, Waldur is unreachable for now: the writes not
        yet started are recorded as not attempted instead of each waiting out its own retries. A
        401 stops everything at once (WaldurAuthError propagates), and so does a fence that finds
        this try is no longer the live one (NotTheLiveTryError propagates): the write is not sent.
        """
        unreachable = threading.Event()

        def run(resource: ResourcePlan, write: Callable[[], None]) -> None:
            if unreachable.is_set():
                self._record_failure(resource, NOT_ATTEMPTED)
                return
            try:
                if self.fence is not None:
                    self.fence.check()
                write()
            except TransientHTTPError as error:
                unreachable.set()
                self._record_failure(resource, _failure_reason(error))
            except (WaldurAuthError, NotTheLiveTryError):
                unreachable.set()
                raise
            except WaldurAPIError as error:
                self._record_failure(resource, _failure_reason(error))

        with ThreadPoolExecutor(max_workers=self.hook.settings.write_concurrency) as pool:
            futures = [pool.submit(run, resource, write) for resource, write in jobs]
            for future in as_completed(futures):
                future.result()


class PushToWaldurOperator(BaseOperator):
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
    #: What the last ``execute`` read, wrote and counted, for ``get_openlineage_facets_on_complete``.
    _lineage: TaskLineage | None = None
    #: How refusals name what this task writes (the audit's repair says "repair").
    write_action = "push"

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
        super().__init__(**kwargs)
        self.report = report
        self.offering_uuid = offering_uuid
        self.waldur_conn_id = waldur_conn_id
        self.dry_run_setting = dry_run
        self.reconcile = reconcile
        self.billing_timezone = billing_timezone
        self.clock = clock
        self.billing_asset = billing_asset
        self.closes_month = closes_month

    def execute(self, context: Context) -> dict[str, Any]:
        dry_run = as_bool(self.dry_run_setting, "dry_run")
        reconcile = as_bool(self.reconcile, "reconcile")
        try:
            report = UsageReport.from_xcom(self.report)
        except CscsDwdiError as error:
            raise AirflowException(f"The report cannot be pushed: {error}") from error
        result = self.push_report(
            report, dry_run=dry_run, reconcile=reconcile, task_instance=context.get("ti")
        )
        self._finish(result, context)
        if self.billing_asset is not None and not dry_run:
            extra = billing_event_extra(
                report, result, offering_uuid=str(self.offering_uuid), closed=self.closes_month
            )
            context["outlet_events"][billing_alias(self.billing_asset)].add(self.billing_asset, extra=extra)
            self.log.info("Asset event on %s: %s", self.billing_asset.uri, extra)
        return result.to_xcom()

    def push_report(
        self, report: UsageReport, *, dry_run: bool, reconcile: bool, task_instance: Any = None
    ) -> PushResult:
        """Read Waldur's state for the report's month, log the plan and (unless ``dry_run``) write it.

        The one write path of the provider: the drift audit's repair goes through it too.
        Failed writes are in the result; the caller decides how the task ends. ``task_instance``
        (the running task's) fences the writes: a try Airflow no longer holds as running stops
        before its next write (docs/one-push-at-a-time.md).
        """
        self._log_report_issues(report)
        hook = WaldurHook(self.waldur_conn_id)
        offering = f"offering {self.offering_uuid} (DAG {self.dag_id})"
        run = _PushRun(hook, str(self.offering_uuid), offering, task_instance_fence(task_instance))
        try:
            # Before any request, whatever the bad value policy: a total Waldur cannot store
            # would fail on a 500 halfway through the writes.
            refuse_unstorable_amounts(
                report, max_usage_amount=hook.settings.max_usage_amount, offering=offering
            )
            plan, date_honoured = run.read_and_plan(
                report,
                reconcile=reconcile,
                check_month=lambda honoured: self._check_month(report.month, honoured, dry_run=dry_run),
            )
            self._log_plan(plan, dry_run=dry_run)
            if not dry_run:
                run.write(plan, usage_date=self._usage_date(plan.month, date_honoured))
        except UnstorableAmountError as error:
            raise AirflowException(str(error)) from error
        except WaldurAuthError as error:
            raise AirflowException(str(error)) from error
        except NotTheLiveTryError as error:
            raise AirflowException(
                f"Push of {report.month} stopped before its next write: {error}. Writes sent before "
                "the stop are absolute totals of this month's report; the live try (or the next "
                "run) writes whatever differs. See docs/one-push-at-a-time.md."
            ) from error
        except (WaldurAPIError, TransientHTTPError) as error:
            raise AirflowException(f"Reading Waldur's state failed, nothing was written: {error}") from error
        finally:
            hook.close()
        result = self._result(plan, run, report, dry_run=dry_run)
        self._lineage = TaskLineage(
            month=result.month,
            usage_kind=report.usage_kind,
            outputs=[
                waldur_offering_dataset(
                    hook.settings.api_url, str(self.offering_uuid), written=result.written
                )
            ],
            counts={name: value for name, value in result.counts().items() if is_count(value)},
        )
        return result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """What this task read and wrote, for the OpenLineage listener (docs/lineage.md).

        The Waldur offering out, the push's counts. The OpenLineage provider is imported only here, so the
        operator runs without it.
        """
        return operator_lineage(self._lineage)

    def _usage_date(self, month: str, date_honoured: bool) -> str | None:
        """The ``date`` to send, or a skipped task when ``month`` cannot be dated safely yet.

        Mid-month, not the 1st at 00:00 UTC: that instant is still the previous month on a server
        west of UTC. In the first hours (UTC) of a month no date is safe; nothing is written and
        the next run writes the month (a failure here would only repeat until then).
        """
        if not date_honoured:
            return None
        try:
            return months.usage_date(month, read_clock(self.clock))
        except CscsDwdiError as error:
            self.log.warning("Nothing written for %s: %s", month, error)
            raise AirflowSkipException(f"Nothing written for {month}: {error}") from error

    def _check_month(self, month: str, date_honoured: bool, *, dry_run: bool = False) -> None:
        """Refuse a month the server would write into the wrong billing period (a dry run only warns)."""
        current = months.current_month(self.billing_timezone, read_clock(self.clock))
        if month > current:
            raise AirflowException(f"Month {month} is in the future ({current} in {self.billing_timezone}).")
        if month < current and not date_honoured:
            if dry_run:  # nothing is written: show the plan, and what a real run would do
                self.log.warning(
                    "DRY RUN, a real run would stop here: %s",
                    past_month_refusal(month, current, self.billing_timezone, action=self.write_action),
                )
                return
            raise AirflowException(
                past_month_refusal(month, current, self.billing_timezone, action=self.write_action)
            )

    def _log_report_issues(self, report: UsageReport) -> None:
        if report.issues:
            self.log.warning("The report left out %d bad DWDI record(s):", len(report.issues))
            for issue in report.issues[:LISTED_LIMIT]:
                self.log.warning("  %s", issue.message)

    def _log_plan(self, plan: WritePlan, *, dry_run: bool) -> None:
        for issue in plan.issues:
            self.log.warning("Issue: %s", issue.message)
        prefix = "DRY RUN, would write: " if dry_run else "Writing: "
        for line in describe_plan(plan):
            self.log.info("%s%s", prefix, line)
        self.log.info(
            "%s %s: %d resource(s) to write, %d unchanged, %d refused, %d skipped, %d without storage data.",
            "Dry run of" if dry_run else "Plan for",
            plan.month,
            len(plan.changed),
            len(plan.unchanged),
            len(plan.refused),
            len(plan.skipped),
            len(plan.without_data),
        )

    @staticmethod
    def _result(plan: WritePlan, run: _PushRun, report: UsageReport, *, dry_run: bool) -> PushResult:
        backend_ids = {resource.resource_uuid: resource.backend_id for resource in plan.resources}
        failures = [
            WriteFailure(refusal.backend_id, refusal.resource_uuid, refusal.reason)
            for refusal in plan.refused
        ] + [
            WriteFailure(backend_ids.get(resource_uuid), resource_uuid, "; ".join(reasons))
            for resource_uuid, reasons in sorted(
                run.failures.items(), key=lambda item: backend_ids.get(item[0], "")
            )
        ]
        issues = plan.issues + report.issues
        return PushResult(
            month=plan.month,
            dry_run=dry_run,
            changed=len(plan.changed),
            written=0 if dry_run else len([r for r in plan.changed if r.resource_uuid not in run.failures]),
            unchanged=len(plan.unchanged),
            skipped=len(plan.skipped) + len(report.issues),
            failed=len(failures),
            user_usages_written=run.user_usages_written,
            issues=issues[:LISTED_LIMIT],
            failures=tuple(failures[:LISTED_LIMIT]),
            without_data_count=len(plan.without_data),
            without_data=plan.without_data[:LISTED_LIMIT],
        )

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
