"""The ``approve_held_values`` task: a person approves or rejects the values the guard held.

:class:`ApproveHeldValuesOperator` is the standard provider's ``HITLOperator`` (Airflow's
"Required actions"): one mapped instance per month after ``push_to_waldur``. When the push held
nothing (or was a dry run) it skips without asking. Otherwise it shows the held values as a
Markdown table (resource, component, user, Waldur now, DWDI new, why) with ``Approve`` and
``Reject``, and the task waits (Airflow 3.3: in the ``awaiting_input`` state, answered from the
UI or the REST API). Approve writes exactly the held (resource, component) pairs, from the same
report, through the push's own write path (:func:`._waldur_writer.push_report`: ceiling, fence,
refusal of past months by Waldur 7.x, dry run); Reject writes nothing. Who decided and when goes
to XCom (``decision``, :class:`~core.held.Decision`) and the log. Unanswered within
``response_timeout``, the task fails with nothing written (the DAG's ``anomaly`` alert says so),
and the next run of the DAG evaluates the month again.

One open request per offering and month: a DAG runs one run at a time (``max_active_runs=1``),
so the next daily run, which would ask again, starts only once this one is answered or timed out;
across the offering's DAGs (the daily run and the close of the same month, an audit repair) the
request is recorded before it is asked, and a task that finds another one open for its month
skips, its values held (:mod:`._open_requests`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError
from airflow_provider_cscs_dwdi.core.held import DECISION_KEY, HELD_KEY, Decision, HeldValues
from airflow_provider_cscs_dwdi.core.xcom import PushResult, UsageReport
from airflow_provider_cscs_dwdi.operators._base import GuardedWriteOperator
from airflow_provider_cscs_dwdi.operators._clock import read_clock
from airflow_provider_cscs_dwdi.operators._guard import guard_of
from airflow_provider_cscs_dwdi.operators._open_requests import Requester, claim_request, release_request
from airflow_provider_cscs_dwdi.operators._params import as_bool

if TYPE_CHECKING:
    from airflow.sdk import Context

APPROVE = "Approve"
REJECT = "Reject"


class ApproveHeldValuesOperator(GuardedWriteOperator, HITLOperator):
    """Ask a person to approve the values the push held; write them on Approve.

    :param push_result: the push's XCom of the same month (``PushResult``); only its ``held``
        count and ``dry_run`` are read, the values come from XCom ``held_values``. None (the
        audit's repair): asked when ``push_task_id`` left held values.
    :param offering_name: how the request names the offering.
    :param offering_uuid: the Waldur offering, as for the push.
    :param waldur_conn_id: the ``waldur`` connection, as for the push.
    :param dry_run: an approval plans and logs, and writes nothing (as the push).
    :param reconcile: as the push.
    :param billing_timezone: as the push (the current month, the usage ``date``).
    :param clock: as the push (default: the operators' clock).
    :param push_task_id: the task that held the values (its ``held_values`` XCom, same map index).
    :param report_task_id: the task whose report (same map index; unmapped: the report of the
        held month among all of them) the held values come from.
    :param write_action: how refusals name the write (``push``; the audit's ``repair``).
    :param anomaly_guard: as the push: an approved write records the month's last push.
    :param pushed_archive_roots: as the push.
    :param fetch_task_id: as the push.
    :param billing_asset: as the push: an approval that writes adds the billing event.
    :param closes_month: the monthly close DAG: the approval's event closes the month.
    :param response_timeout: how long the request waits for an answer.
    """

    template_fields: Sequence[str] = ("push_result", "offering_uuid", "dry_run_setting", "reconcile")
    ui_color = "#fdf3e8"

    def __init__(
        self,
        *,
        push_result: Mapping[str, Any] | Any = None,
        offering_name: str,
        push_task_id: str = "push_to_waldur",
        report_task_id: str = "aggregate_usage",
        response_timeout: timedelta | None = timedelta(hours=24),
        write_action: str = "push",
        **kwargs: Any,
    ) -> None:
        # The write's own arguments (offering, connection, dry_run, guard, asset...) are the
        # push's: GuardedWriteOperator and WaldurBaseOperator take them.
        super().__init__(
            subject=f"{offering_name}: approve the values the anomaly guard held",
            options=[APPROVE, REJECT],
            multiple=False,
            response_timeout=response_timeout,
            **kwargs,
        )
        self.push_result = push_result
        self.offering_name = offering_name
        self.push_task_id = push_task_id
        self.report_task_id = report_task_id
        self.write_action = write_action

    def execute(self, context: Context) -> Any:
        if self.push_result is not None:
            pushed = PushResult.from_xcom(self.push_result)
            if not pushed.held:
                raise AirflowSkipException(f"Nothing held in {pushed.month}: no approval to ask for.")
            if pushed.dry_run:
                raise AirflowSkipException(
                    f"Dry run of {pushed.month}: nothing held is written, nothing asked."
                )
        elif context["ti"].xcom_pull(task_ids=self.push_task_id, key=HELD_KEY) is None:
            self._nothing_held(context)
        held = self._held(context)
        self.subject = f"{self.offering_name} {held.month}: approve {len(held.rows)} held value(s)?"
        self.body = (
            f"The anomaly guard held these values of **{self.offering_name}**, month **{held.month}**: "
            "the push wrote every other value. **Approve** writes exactly the DWDI values below "
            "through the push's write path; **Reject** writes nothing (the next run asks again while "
            "they stay anomalous).\n\n" + held.table()
        )
        self._claim(context, held)
        self.log.info("Asking for approval of %d held value(s) of %s", len(held.rows), held.month)
        return super().execute(context)

    @property
    def _requests_root(self) -> str | None:
        # The usage DAG's archive folder: every DAG of the offering lists it first.
        return self.pushed_archive_roots[0] if self.pushed_archive_roots else None

    def _claim(self, context: Context, held: HeldValues) -> None:
        """Record this request for the month, or skip when another task instance's is open."""
        root = self._requests_root
        if root is None:
            return
        now = read_clock(self.clock)
        timeout = self.response_timeout or timedelta(hours=self._timeout_hours())
        requester = Requester.of(context["ti"])
        other = claim_request(root, held.month, requester, now=now, until=now + timeout)
        if other is not None:
            raise AirflowSkipException(
                f"An approval of {held.month} is already open ({other}): this run asks nothing, "
                f"its {len(held.rows)} held value(s) stay unwritten, and a later run evaluates "
                "the month again once that request is answered."
            )

    def _timeout_hours(self) -> int:
        guard = self.anomaly_guard or {}
        return int(guard.get("approval_timeout_hours", 24))

    def _release(self, context: Context, month: str) -> None:
        root = self._requests_root
        if root is not None:
            release_request(root, month, Requester.of(context["ti"]))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        held: HeldValues | None = None
        try:
            held = self._held(context)
            if event.get("error_type") == "timeout":
                self._decide(context, held, "timed out", None, datetime.now().astimezone(), 0)
                raise AirflowFailException(
                    f"No answer to the approval of {len(held.rows)} held value(s) of {held.month} "
                    "within its timeout: nothing held was written. The next run evaluates the month again."
                )
            answer = super().execute_complete(context, event)
            by = answer["responded_by_user"] or {}
            who = str(by.get("name") or by.get("id") or "unknown user")
            if answer["chosen_options"] != [APPROVE]:
                self._decide(context, held, "rejected", who, answer["responded_at"], 0)
                return None
            result = self._write(context, held)
            self._decide(context, held, "approved", who, answer["responded_at"], result.written)
            return result.to_xcom()
        finally:
            if held is not None:
                self._release(context, held.month)
            self.close_hook()

    def _nothing_held(self, context: Context) -> None:
        """Skip; but after a failed audit (this task runs whatever it ended as) fail, so the run
        still shows the audit's failure."""
        audit = context["ti"].xcom_pull(task_ids=self.push_task_id, key="return_value")
        repair = audit.get("repair") if isinstance(audit, Mapping) else None
        if not isinstance(audit, Mapping) or not audit.get("clean") or (repair or {}).get("failed"):
            raise AirflowFailException(f"Nothing held to approve: {self.push_task_id} failed (see its log).")
        raise AirflowSkipException(f"Nothing held by {self.push_task_id}: no approval to ask for.")

    def _write(self, context: Context, held: HeldValues) -> PushResult:
        dry_run = as_bool(self.dry_run_setting, "dry_run")
        ti = context["ti"]
        if ti.map_index is not None and ti.map_index >= 0:
            document = ti.xcom_pull(
                task_ids=self.report_task_id, map_indexes=ti.map_index, key="return_value"
            )
        else:  # the audit: one report per audited month
            documents = ti.xcom_pull(task_ids=self.report_task_id, key="return_value") or []
            documents = [documents] if isinstance(documents, Mapping) else documents
            document = next(
                (d for d in documents if isinstance(d, Mapping) and d.get("month") == held.month), None
            )
        try:
            report = UsageReport.from_xcom(document)
        except CscsDwdiError as error:
            raise AirflowException(f"The held values cannot be written: {error}") from error
        self.log.info("Approved: writing the %d held pair(s) of %s", len(held.pairs), held.month)
        result = self.push_report(
            report,
            dry_run=dry_run,
            reconcile=as_bool(self.reconcile, "reconcile"),
            task_instance=ti,
            only=[(backend_id, component) for backend_id, component in held.pairs],
        )
        if result.failed:
            context["ti"].xcom_push(key="return_value", value=result.to_xcom())
            raise AirflowException(
                f"Approval of {held.month}: {result.failed} resource(s) not written ({result.written} written): "
                + "; ".join(f"{failure.backend_id}: {failure.reason}" for failure in result.failures)
            )
        if dry_run:
            return result
        guard = guard_of(self, context)
        if guard is not None:
            guard.record_push(held.month, self.log)
        self.add_billing_event(context, report, result, closed=self.closes_month)
        return result

    def _held(self, context: Context) -> HeldValues:
        ti = context["ti"]
        document = ti.xcom_pull(task_ids=self.push_task_id, map_indexes=ti.map_index, key=HELD_KEY)
        try:
            return HeldValues.from_xcom(document)
        except CscsDwdiError as error:
            raise AirflowFailException(f"The held values cannot be read: {error}") from error

    def _decide(
        self, context: Context, held: HeldValues, decision: str, by: str | None, at: Any, written: int
    ) -> None:
        """Record the decision in XCom and the log."""
        when = at.isoformat() if hasattr(at, "isoformat") else str(at)
        record = Decision.model_validate(
            {"month": held.month, "decision": decision, "by": by, "at": when, "written": written}
        )
        context["ti"].xcom_push(key=DECISION_KEY, value=record.model_dump(mode="json"))
        self.log.warning(
            "Held values of %s %s by %s at %s: %d resource(s) written.",
            held.month,
            decision,
            by or "nobody (timeout)",
            when,
            written,
        )
