"""The drift audit DAG's own tasks: ``audit_months`` and ``audit_waldur``.

The audit DAG is ``list_backend_ids`` -> ``audit_months`` (:class:`PlanAuditOperator`) ->
``fetch_usage`` and ``aggregate_usage`` (the usage DAG's operators, one per month) ->
``audit_waldur`` (:class:`AuditWaldurOperator`). The comparison itself is :mod:`core.audit`;
the read is the push's own (:class:`._waldur_writer.WaldurWriter`), and the repair is the
provider's one write path (:func:`._waldur_writer.push_report`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_cscs_dwdi.core.alerts import drift_table
from airflow_provider_cscs_dwdi.core.amounts import UnstorableAmountError, refuse_unstorable_amounts
from airflow_provider_cscs_dwdi.core.archive import ArchiveError, read_archive
from airflow_provider_cscs_dwdi.core.audit import MonthAudit, PushedMonth, audit_month, unstorable_month
from airflow_provider_cscs_dwdi.core.audit_result import AuditResult
from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError
from airflow_provider_cscs_dwdi.core.held import HELD_KEY
from airflow_provider_cscs_dwdi.core.months import audited_months
from airflow_provider_cscs_dwdi.core.task_settings import Aggregation
from airflow_provider_cscs_dwdi.core.xcom import BackendIds, BillingPlan, PushResult, UsageReport
from airflow_provider_cscs_dwdi.hooks._http import TransientHTTPError
from airflow_provider_cscs_dwdi.hooks.waldur import WaldurAPIError, WaldurAuthError, WaldurHook
from airflow_provider_cscs_dwdi.operators._base import WaldurBaseOperator
from airflow_provider_cscs_dwdi.operators._clock import Clock
from airflow_provider_cscs_dwdi.operators._guard import guard_of
from airflow_provider_cscs_dwdi.operators._kinds import report_from_archive
from airflow_provider_cscs_dwdi.operators._lineage import operator_lineage
from airflow_provider_cscs_dwdi.operators._params import (
    as_bool,
    blank_to_none,
    check_arguments,
    read_arguments,
)
from airflow_provider_cscs_dwdi.operators._waldur_writer import WaldurWriter

if TYPE_CHECKING:
    from airflow.sdk import Context


class PlanAuditOperator(BaseOperator):
    """Plan one audit run: the closed months to recompute and every backend ID of the offering.

    Returns the months (the fetch task is expanded over them) and pushes the accounts under
    ``BillingPlan.ACCOUNTS_KEY``, as ``PlanBillingRunOperator`` does for the usage DAG.

    :param backend_ids: the XCom of ``ListWaldurBackendIdsOperator``.
    :param billing_timezone: IANA time zone in which months begin and end.
    :param months: how many closed months to audit (the offering's ``audit.months``).
    :param repair_month: ``YYYY-MM`` to repair; any closed month, added when older than the others.
    """

    template_fields: Sequence[str] = ("backend_ids", "repair_month")
    ui_color = "#f3e8fd"

    def __init__(
        self,
        *,
        backend_ids: Mapping[str, Any] | Any,
        billing_timezone: str,
        months: int,
        repair_month: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.backend_ids = backend_ids
        self.billing_timezone = billing_timezone
        self.months = months
        self.repair_month = repair_month

    def execute(self, context: Context) -> list[str]:
        repair_month = blank_to_none(self.repair_month)
        try:
            months = audited_months(
                self.months,
                self.billing_timezone,
                repair_month=None if repair_month is None else str(repair_month),
            )
            backend_ids = BackendIds.from_xcom(self.backend_ids)
        except CscsDwdiError as error:
            # Deterministic: a retry would be refused the same way.
            raise AirflowFailException(f"Nothing audited: {error}") from error
        plan = BillingPlan(months=tuple(months), accounts=backend_ids.backend_ids)
        context["ti"].xcom_push(key=BillingPlan.ACCOUNTS_KEY, value=plan.accounts_to_xcom())
        self.log.info(
            "Auditing %s for %d backend ID(s)%s",
            ", ".join(plan.months),
            len(plan.accounts),
            f"; repairing {repair_month}" if repair_month else "",
        )
        return plan.to_xcom()


class AuditWaldurOperator(WaldurBaseOperator):
    """Compare the recomputed DWDI months with what Waldur holds; repair one month on request.

    Read-only unless ``repair_month`` is given: for each audited month it reads Waldur's state
    exactly as the push does and lets the push's write plan (with ``reconcile``) say what differs,
    per resource, component and user (``core.audit``). The archive of the month's last push
    (the newest under ``pushed_archive_roots``/<month>/) tells the likely cause.

    With ``repair_month`` the corrections of that month are written through the push's own write
    path (``_waldur_writer.push_report``, reconcile on: the same refusal of past months
    by a Waldur server that ignores the usage ``date``, the same dry-run rule: plan and log, write
    nothing); then the month is read back from Waldur and audited again.

    Returns ``core.audit.AuditResult``. Any difference left fails the task, after the table
    is logged and the result pushed to XCom, so Airflow's own alerting sees it.

    :param reports: the ``aggregate_usage`` XComs (``UsageReport`` documents), one per month.
    :param offering_uuid: the Waldur offering, as for the push.
    :param waldur_conn_id: the Waldur connection, as for the push.
    :param billing_timezone: IANA time zone of the billing months, as for the push.
    :param repair_month: ``YYYY-MM`` of one closed month to repair (``PlanAuditOperator`` adds it
        to the audited months when it is older); empty: none.
    :param dry_run: a repair plans and logs what it would write, and writes nothing.
    :param pushed_archive_roots: archive folders of the offering's usage and closing DAGs.
    :param backend_components: the offering's components, to rebuild the pushed report from an
        archive exactly as ``aggregate_usage`` did.
    :param bad_value_policy: the offering's, for the same rebuild.
    :param clusters: the offering's cluster filter, for the same rebuild. These three are the
        offering's ``core.task_settings.Aggregation``, as for ``aggregate_usage``.
    :param clock: the current time, which tells the current month and the usage ``date`` of a
        repair (default: the operators' clock, see :mod:`._clock`).
    :param anomaly_guard: the offering's ``anomaly_guard`` (plain data): a repair holds anomalous
        corrections under ``held_values`` for the audit DAG's ``approve_held_values``.
    """

    template_fields: Sequence[str] = ("reports", "repair_month", "repair_dry_run")
    ui_color = "#f3e8fd"
    #: How refusals name what this task writes.
    write_action = "repair"

    def __init__(
        self,
        *,
        reports: Sequence[Mapping[str, Any]] | Any,
        offering_uuid: str,
        waldur_conn_id: str = WaldurHook.default_conn_name,
        billing_timezone: str = "UTC",
        repair_month: str | None = None,
        dry_run: bool | str = False,
        pushed_archive_roots: Sequence[str] = (),
        backend_components: Mapping[str, Mapping[str, Any]] | None = None,
        bad_value_policy: str = "fail",
        clusters: Sequence[str] | None = None,
        clock: Clock | None = None,
        anomaly_guard: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        # As the push: two runs repairing the same offering at once could interleave their writes.
        kwargs.setdefault("max_active_tis_per_dag", 1)
        super().__init__(
            waldur_conn_id=waldur_conn_id,
            offering_uuid=offering_uuid,
            billing_timezone=billing_timezone,
            clock=clock,
            **kwargs,
        )
        # Its own name: ``dry_run`` is BaseOperator's method.
        self.repair_dry_run = dry_run
        self.reports = reports
        self.repair_month = repair_month
        self.pushed_archive_roots = list(pushed_archive_roots)
        self.backend_components = backend_components or {}
        self.bad_value_policy = bad_value_policy
        self.clusters = clusters
        # The repair's guard (operators/_guard.py) compares totals only: no fetch archive.
        self.anomaly_guard, self.fetch_task_id = anomaly_guard, None
        # Read here too, so a wrong component configuration breaks the DAG import, not a run.
        check_arguments(self, Aggregation)

    @property
    def aggregation(self) -> Aggregation:
        """How ``aggregate_usage`` built the pushed reports, read back from this task's arguments."""
        return read_arguments(self, Aggregation)

    def execute(self, context: Context) -> dict[str, Any]:
        repair_month = blank_to_none(self.repair_month)
        reports = self._read_reports(repair_month)
        audits = [self._audit(report) for report in reports]
        repair = self._repair(reports, audits, repair_month, context) if repair_month is not None else None
        result = AuditResult.of(
            audits, repair_month=repair_month, repair=None if repair is None else repair.to_xcom()
        )
        self._log_audit(audits, heading="Audit")
        return self._finish(result, audits, repair, context)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """What the repair wrote, for the OpenLineage listener (docs/lineage.md); None without one."""
        return operator_lineage(self._lineage)

    def _read_reports(self, repair_month: str | None) -> list[UsageReport]:
        try:
            # By index: iterating Airflow's lazy XCom sequence asks for one item past its end,
            # which the task log shows as an error.
            reports = [UsageReport.from_xcom(self.reports[index]) for index in range(len(self.reports))]
        except CscsDwdiError as error:
            raise AirflowException(f"The recomputed DWDI months cannot be read: {error}") from error
        months = [report.month for report in reports]
        if repair_month is not None and repair_month not in months:
            raise AirflowFailException(
                f"repair_month {repair_month} is not among the audited months {months}"
            )
        return reports

    def _audit(self, report: UsageReport, *, heading: str | None = None) -> MonthAudit:
        """Read Waldur's state for the report's month (the push's listings) and compare, writing nothing.

        :param heading: log the month's audit under this heading at once (the re-audit).
        """
        try:
            # Before any request: such a month cannot be written, so there is nothing to compare.
            refuse_unstorable_amounts(
                report, max_usage_amount=self.hook.settings.max_usage_amount, offering=self.offering
            )
            plan, _ = WaldurWriter(self.hook, str(self.target.offering_uuid), self.offering).read_and_plan(
                report, reconcile=True, check_month=lambda _honoured: None
            )
        except UnstorableAmountError as error:
            self.log.warning("%s is not comparable: %s", report.month, error)
            audit = unstorable_month(report, error)
        except WaldurAuthError as error:
            raise AirflowException(str(error)) from error
        except (WaldurAPIError, TransientHTTPError) as error:
            raise AirflowException(f"Reading Waldur's state for {report.month} failed: {error}") from error
        else:
            audit = audit_month(report, plan, pushed=self._pushed_month(report.month))
        if heading is not None:
            self._log_audit([audit], heading=heading)
        return audit

    def _repair(
        self, reports: list[UsageReport], audits: list[MonthAudit], repair_month: str, context: Context
    ) -> PushResult:
        """Write the month's corrections through the push's write path, then audit it again.

        Refused writes are in the result; a repair refused before writing (e.g. a past month on
        Waldur 7.x) still leaves the audit in XCom before the task fails.
        """
        dry_run = as_bool(self.repair_dry_run, "dry_run")
        position = [report.month for report in reports].index(repair_month)
        report = reports[position]
        self._log_audit(audits, heading="Before the repair")
        self.log.info(
            "%s %s through the push's write path",
            "Dry run of the repair of" if dry_run else "Repairing",
            report.month,
        )
        guard = guard_of(self, context)
        if guard is not None and not dry_run:
            guard.hold_all = True  # the person approves the whole repair, in this run
        try:
            # A repair leaves no user usage behind that DWDI does not report: the audit counts it.
            result = self.push_report(
                report, dry_run=dry_run, reconcile=True, task_instance=context.get("ti"), guard=guard
            )
            if guard is not None and guard.held is not None and guard.held.rows and not dry_run:
                context["ti"].xcom_push(key=HELD_KEY, value=guard.held.to_xcom())
        except AirflowException:
            context["ti"].xcom_push(
                key="return_value", value=AuditResult.of(audits, repair_month=repair_month).to_xcom()
            )
            raise
        self.log.info("Repair of %s: %s", report.month, result.counts())
        if result.held:
            self.log.warning("The repair of %s waits for approval (task approve_held_values).", report.month)
        elif not dry_run:
            audits[position] = self._audit(report, heading="Re-audit after the repair")
        return result

    def _finish(
        self, result: AuditResult, audits: list[MonthAudit], repair: PushResult | None, context: Context
    ) -> dict[str, Any]:
        """The result, or a failed task naming the failed writes and the drift once it is in XCom.

        A repair held for approval is no drift left: its month's differences wait for the answer.
        """
        waiting = repair.month if repair is not None and repair.held else None
        if all(audit.clean or audit.month == waiting for audit in audits) and not (repair and repair.failed):
            return result.to_xcom()
        context["ti"].xcom_push(key="return_value", value=result.to_xcom())
        problems = []
        if repair and repair.failed:
            problems.append(
                f"Repair of {repair.month}: {repair.failed} resource(s) not written ({repair.written} written):\n"
                + "\n".join(f"  {failure.backend_id}: {failure.reason}" for failure in repair.failures)
            )
        if not result.clean:
            drifted = [audit.month for audit in audits if not audit.clean]
            problems.append(
                f"Drift: Waldur differs from DWDI in {result.drift_count} value(s) of {', '.join(drifted)} "
                "(table above; trigger the audit with repair_month to write the corrections of one month)."
            )
        raise AirflowException("\n".join(problems))

    def _pushed_month(self, month: str) -> PushedMonth | None:
        """The month's last push, rebuilt from the newest archive of the usage or closing DAG."""
        newest: tuple[str, ObjectStoragePath] | None = None
        for root in self.pushed_archive_roots:
            folder = ObjectStoragePath(root) / month
            try:
                candidates = [path for path in folder.iterdir() if path.name.endswith(".jsonl.gz")]
            except (FileNotFoundError, NotADirectoryError):
                continue
            for path in candidates:
                created = str(self._header(path).get("created", ""))
                if newest is None or created > newest[0]:
                    newest = (created, path)
        if newest is None:
            self.log.warning(
                "No archive of a push of %s: the likely causes of its differences stay unknown.", month
            )
            return None
        archive = newest[1]
        aggregation = self.aggregation
        try:
            with archive.open("rb") as raw_file:
                archived = report_from_archive(
                    raw_file,
                    aggregation.components,
                    month=month,
                    clusters=aggregation.clusters,
                    policy=aggregation.bad_value_policy,
                )
        except (CscsDwdiError, OSError, EOFError) as error:
            self.log.warning(
                "The archive %s of %s's last push cannot be read (%s): causes stay unknown.",
                archive,
                month,
                error,
            )
            return None
        header, report = archived.header, archived.report
        accounts = header.get("accounts")
        self.log.info("Causes of %s read against its last push's archive %s", month, archive)
        return PushedMonth(
            accounts=frozenset(accounts if isinstance(accounts, list) else report.accounts),
            report=report,
            archive=str(archive),
        )

    @staticmethod
    def _header(path: ObjectStoragePath) -> dict[str, Any]:
        try:
            with path.open("rb") as raw_file:
                header, _ = read_archive(raw_file)
        except (ArchiveError, OSError, EOFError):
            return {}
        return header

    def _log_audit(self, audits: Sequence[MonthAudit], *, heading: str) -> None:
        for audit in audits:
            for issue in audit.issues:
                self.log.warning("%s: %s", audit.month, issue.message)
            if audit.plan.without_data:
                # As in the push: without a DWDI level there is nothing to compare Waldur's with.
                self.log.warning(
                    "%s: no storage data from DWDI for %s: not compared",
                    audit.month,
                    ", ".join(audit.plan.without_data),
                )
            self.log.info(
                "%s of %s: %d resource(s) compared, %d identical, %d difference(s)",
                heading,
                audit.month,
                audit.resources,
                audit.unchanged,
                len(audit.drifts),
            )
        drifts = [drift for audit in audits for drift in audit.drifts]
        if not drifts:
            self.log.info("%s: Waldur holds exactly what DWDI says for every audited month.", heading)
            return
        self.log.warning("%s: %d difference(s) between DWDI and Waldur:", heading, len(drifts))
        for line in drift_table(drifts):
            self.log.warning("  %s", line)
