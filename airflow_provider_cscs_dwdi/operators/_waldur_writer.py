"""The one write path to Waldur: plan, refuse, write, fence and tally one month of a report.

:func:`push_report` is what the ``push_to_waldur`` task (usage and closing DAGs) and the drift
audit's repair call; :class:`WaldurWriter` reads Waldur's state and plans (alone: the audit's
read-only comparison), writes and keeps the tally. It lets :mod:`core.waldur_plan` decide what
differs and writes only that. Requests, in order:

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
from dataclasses import replace
from functools import partial
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from airflow_provider_cscs_dwdi.core import months
from airflow_provider_cscs_dwdi.core.amounts import UnstorableAmountError, refuse_unstorable_amounts
from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError
from airflow_provider_cscs_dwdi.core.held import only_pairs
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.core.logs import Log
from airflow_provider_cscs_dwdi.core.months import Month
from airflow_provider_cscs_dwdi.core.plan_types import ResourcePlan, WritePlan
from airflow_provider_cscs_dwdi.core.waldur_plan import build_write_plan
from airflow_provider_cscs_dwdi.core.waldur_state import UserUsageListing
from airflow_provider_cscs_dwdi.core.xcom import PushResult, UsageReport, WriteFailure
from airflow_provider_cscs_dwdi.hooks._http import TransientHTTPError
from airflow_provider_cscs_dwdi.hooks.waldur import WaldurAPIError, WaldurAuthError, WaldurHook
from airflow_provider_cscs_dwdi.hooks.waldur.bodies import set_usage_items, user_usage_items
from airflow_provider_cscs_dwdi.operators._clock import Clock, read_clock
from airflow_provider_cscs_dwdi.operators._fence import LiveTryFence, NotTheLiveTryError, task_instance_fence
from airflow_provider_cscs_dwdi.operators._guard import AnomalyGuard
from airflow_provider_cscs_dwdi.operators._write_checks import LISTED_LIMIT, log_plan, log_report_issues
from airflow_provider_cscs_dwdi.operators._write_checks import check_month as _checked_month

BACKFILL_REFUSAL_MARKER = "backfilling past billing periods"
NOT_ATTEMPTED = "not attempted: an earlier write could not reach Waldur"


def _billing_period(month: str) -> str:
    """Waldur's ``billing_period`` of a month: its first day, ``YYYY-MM-01``."""
    return Month.parse(month).first_day.isoformat()


def _failure_reason(error: WaldurAPIError | TransientHTTPError) -> str:
    reason = str(error)
    if isinstance(error, WaldurAPIError) and error.status == 400 and BACKFILL_REFUSAL_MARKER in error.detail:
        reason += (
            " Waldur lets only staff backfill a past month of a usage component: use a staff "
            "token in the Waldur connection for this month."
        )
    return reason


class WaldurWriter:
    """One write of one month to one offering: reads Waldur's state, plans, writes, keeps the tally.

    :meth:`read_and_plan` alone is the audit's read-only comparison; :func:`push_report` runs the
    whole sequence (the push, the close and the audit's repair).
    """

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
        self.state: tuple[Sequence[Mapping[str, Any]], Mapping[str, str]] = ((), {})
        self._tally_lock = threading.Lock()

    def read_and_plan(
        self, report: UsageReport, *, reconcile: bool, check_month: Callable[[bool], None]
    ) -> tuple[WritePlan, bool]:
        """Read Waldur's state for the report's month and diff it; returns the plan and date support."""
        billing_period = _billing_period(report.month)
        components = self.hook.get_offering_components(self.offering_uuid)
        date_honoured = self.hook.usage_date_honoured(components=components)
        # Before any other read: a month this server would misfile is refused outright.
        check_month(date_honoured)
        resources = self.hook.list_resources(self.offering_uuid)
        self.resource_uuids = [str(resource["uuid"]) for resource in resources]
        component_usages = self.hook.list_component_usages(
            self.offering_uuid, billing_period, resource_uuids=self.resource_uuids
        )
        # What the anomaly guard compares with: the month's rows, and whose resource each is.
        self.state = (component_usages, {str(r["uuid"]): str(r.get("backend_id") or "") for r in resources})
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
        row_uuids = self._component_usage_uuids(with_users, _billing_period(plan.month))
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

    def result(self, plan: WritePlan, report: UsageReport, *, dry_run: bool) -> PushResult:
        """The XCom result of this write: counts, the first issues and every failure's reason."""
        backend_ids = {resource.resource_uuid: resource.backend_id for resource in plan.resources}
        failures = [
            WriteFailure(refusal.backend_id, refusal.resource_uuid, refusal.reason)
            for refusal in plan.refused
        ] + [
            WriteFailure(backend_ids.get(resource_uuid), resource_uuid, "; ".join(reasons))
            for resource_uuid, reasons in sorted(
                self.failures.items(), key=lambda item: backend_ids.get(item[0], "")
            )
        ]
        issues = plan.issues + report.issues
        return PushResult(
            month=plan.month,
            dry_run=dry_run,
            changed=len(plan.changed),
            written=0 if dry_run else len([r for r in plan.changed if r.resource_uuid not in self.failures]),
            unchanged=len(plan.unchanged),
            skipped=len(plan.skipped) + len(report.issues),
            failed=len(failures),
            user_usages_written=self.user_usages_written,
            issues=issues[:LISTED_LIMIT],
            failures=tuple(failures[:LISTED_LIMIT]),
            without_data_count=len(plan.without_data),
            without_data=plan.without_data[:LISTED_LIMIT],
        )


def push_report(
    hook: WaldurHook,
    report: UsageReport,
    *,
    offering_uuid: str,
    offering: str,
    billing_timezone: str,
    log: Log,
    dry_run: bool,
    reconcile: bool,
    clock: Clock | None = None,
    action: str = "push",
    task_instance: Any = None,
    guard: AnomalyGuard | None = None,
    only: Sequence[tuple[str, str]] | None = None,
) -> PushResult:
    """Read Waldur's state for the report's month, log the plan and (unless ``dry_run``) write it.

    The one write path of the provider: the push, the close and the drift audit's repair.
    Failed writes are in the result; the caller decides how the task ends. ``task_instance``
    (the running task's) fences the writes: a try Airflow no longer holds as running stops
    before its next write (docs/one-push-at-a-time.md). ``offering`` names the offering in
    messages, ``action`` the write in refusals ("push", "repair"); ``clock`` tells the current
    month and the usage ``date`` (default: the operators' clock). ``guard`` holds anomalous
    values back between plan and write (``operators/_guard.py``); ``only`` writes just these
    (backend ID, component) pairs: an approval of held values.

    :raises AirflowException: nothing was written (refused, unreadable state, bad token), or a
        fenced try stopped before its next write.
    :raises AirflowSkipException: no usage ``date`` is safe yet in the first hours of a month.
    """
    log_report_issues(report, log)
    writer = WaldurWriter(hook, offering_uuid, offering, task_instance_fence(task_instance))

    def check_month(date_honoured: bool) -> None:
        _checked_month(
            report.month,
            date_honoured,
            billing_timezone,
            read_clock(clock),
            log,
            dry_run=dry_run,
            action=action,
        )

    try:
        # Before any request, whatever the bad value policy: a total Waldur cannot store
        # would fail on a 500 halfway through the writes.
        refuse_unstorable_amounts(report, max_usage_amount=hook.settings.max_usage_amount, offering=offering)
        plan, date_honoured = writer.read_and_plan(report, reconcile=reconcile, check_month=check_month)
        if only is not None:
            plan = only_pairs(plan, only)
        elif guard is not None:
            plan = guard.apply(
                plan,
                report,
                hook=hook,
                offering_uuid=offering_uuid,
                offering=offering,
                state=writer.state,
                log=log,
            )
        log_plan(plan, log, dry_run=dry_run)
        if not dry_run:
            writer.write(plan, usage_date=usage_date_to_send(plan.month, date_honoured, clock, log))
    except (UnstorableAmountError, WaldurAuthError) as error:
        raise AirflowException(str(error)) from error
    except NotTheLiveTryError as error:
        raise AirflowException(
            f"Push of {report.month} stopped before its next write: {error}. Writes sent before "
            "the stop are absolute totals of this month's report; the live try (or the next "
            "run) writes whatever differs. See docs/one-push-at-a-time.md."
        ) from error
    except (WaldurAPIError, TransientHTTPError) as error:
        raise AirflowException(f"Reading Waldur's state failed, nothing was written: {error}") from error
    result = writer.result(plan, report, dry_run=dry_run)
    if guard is None or not (guard.anomalies or guard.held):
        return result
    held = len(guard.held.rows) if guard.held else 0
    return replace(
        result, held=held, anomalies=tuple(a.model_dump(mode="json") for a in guard.anomalies[:LISTED_LIMIT])
    )


def usage_date_to_send(month: str, date_honoured: bool, clock: Clock | None, log: Log) -> str | None:
    """The ``date`` to send, or a skipped task when ``month`` cannot be dated safely yet.

    Mid-month, not the 1st at 00:00 UTC: that instant is still the previous month on a server
    west of UTC. In the first hours (UTC) of a month no date is safe; nothing is written and
    the next run writes the month (a failure here would only repeat until then).
    """
    if not date_honoured:
        return None
    try:
        return months.usage_date(month, read_clock(clock))
    except CscsDwdiError as error:
        log.warning("Nothing written for %s: %s", month, error)
        raise AirflowSkipException(f"Nothing written for {month}: {error}") from error
