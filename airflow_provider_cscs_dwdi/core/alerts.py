"""The text of the alerts an offering's notifiers send: subject and body, from counts alone.

Pure Python: ``notifications.py`` (the Airflow glue) picks the event and hands the message to
the notifier. A message names the offering, the month, the DAG run and the counts, and lists the
issues the push result carries. It never quotes a task log or an exception: those may hold what a
misconfigured request echoed back, and a mail leaves the deployment. Nothing here is a link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.core.notification_settings import AlertEvent
from airflow_provider_cscs_dwdi.core.report import UsageReport
from airflow_provider_cscs_dwdi.core.xcom import PushResult

if TYPE_CHECKING:
    from airflow_provider_cscs_dwdi.core.audit_result import AuditResult, Drift

#: Events an offerings-file notification can name (one vocabulary: core.notification_settings).
FAILURE = AlertEvent.FAILURE
ISSUES = AlertEvent.ISSUES
DRIFT = AlertEvent.DRIFT
MONTH_CLOSED = AlertEvent.MONTH_CLOSED
ANOMALY = AlertEvent.ANOMALY
#: Issues a message lists one by one; the push result itself keeps the first 50.
LISTED_ISSUES = 20


@dataclass(frozen=True)
class AlertMessage:
    """One notification: a one-line subject and a plain-text body."""

    subject: str
    body: str


@dataclass(frozen=True)
class RunLabel:
    """What identifies the run an alert is about: the offering and the DAG run."""

    offering_name: str
    offering_uuid: str
    dag_id: str
    run_id: str | None


def issue_count(result: PushResult) -> int:
    """Issues a push reports: records and resources left out, storage paths without data, failed writes.

    ``skipped`` counts the report's left-out records and the plan's skipped resources, whose issues
    are listed (the first 50); an issue of the plan that skips nothing is listed only: the larger
    of the two counts each at least once.
    """
    return max(len(result.issues), result.skipped) + result.without_data_count + result.failed


@dataclass(frozen=True)
class UnknownResources:
    """Inference cost DWDI priced for resource UUIDs the offering does not have (not billed)."""

    count: int = 0
    sample: tuple[str, ...] = ()


def unknown_resources(report: UsageReport) -> UnknownResources:
    """The resource UUIDs an inference report got cost for but does not bill (none for other kinds)."""
    if report.usage_kind != UsageKind.INFERENCE.value:
        return UnknownResources()
    return UnknownResources(report.counts.get("accounts_ignored", 0), tuple(report.ignored_accounts_sample))


def issues_message(
    run: RunLabel, result: PushResult, unknown: UnknownResources = UnknownResources()
) -> AlertMessage | None:
    """The ``issues`` alert of a successful push, or None when it reports no issue (nothing to send).

    :param unknown: the inference report's unknown resource UUIDs (their cost is not billed).
    """
    count = issue_count(result) + unknown.count
    if not count or result.dry_run:
        return None
    subject = f"[cscs-dwdi] {run.offering_name} {result.month}: pushed with {count} issue(s)"
    body = _body(run, result, "The push succeeded but did not bill everything as is.")
    if unknown.count:
        body += (
            f"\nDWDI priced {unknown.count} resource UUID(s) this offering does not have (not billed): "
            + ", ".join(unknown.sample)
            + ("" if len(unknown.sample) == unknown.count else ", ...")
            + "\n"
        )
    return AlertMessage(subject, body)


def month_closed_message(run: RunLabel, result: PushResult) -> AlertMessage:
    """The ``month_closed`` alert: the monthly close DAG billed its month."""
    count = issue_count(result)
    subject = (
        f"[cscs-dwdi] {run.offering_name} {result.month}: month closed "
        f"({result.written} written, {result.unchanged} unchanged, {count} issue(s))"
    )
    return AlertMessage(subject, _body(run, result, f"The month {result.month} is closed in Waldur."))


def failure_message(
    run: RunLabel, *, month: str | None, failed_task: str | None, reason: str | None
) -> AlertMessage:
    """The ``failure`` alert of a failed DAG run; the failed task's log says why."""
    shown_month = month or "from the run date"
    subject = f"[cscs-dwdi] {run.offering_name} {shown_month}: run failed"
    lines = [
        f"The DAG run failed{f' ({reason})' if reason else ''}.",
        "",
        *_header(run, shown_month),
        f"Failed task: {failed_task or 'not known'}",
        "",
        "Written, unchanged and issues: see the push_to_waldur task of the run (a failed push lists every",
        "resource it did not write in its log). Each write is absolute: re-running the month is safe.",
    ]
    return AlertMessage(subject, "\n".join(lines) + "\n")


def _header(run: RunLabel, month: str) -> list[str]:
    return [
        f"Offering: {run.offering_name} ({run.offering_uuid})",
        f"Month: {month}",
        f"DAG run: {run.dag_id} / {run.run_id or 'unknown run'}",
    ]


def _body(run: RunLabel, result: PushResult, summary: str) -> str:
    lines = [
        summary,
        "",
        *_header(run, result.month),
        f"Written: {result.written} resource(s), {result.user_usages_written} user usage(s)",
        f"Unchanged: {result.unchanged} resource(s)",
        f"Issues: {issue_count(result)} (skipped records: {result.skipped}, "
        f"storage paths without data: {result.without_data_count}, refused writes: {result.failed})",
    ]
    listed = result.issues[:LISTED_ISSUES]
    if listed:
        lines += ["", "Issues:"] + [f"  - {issue.message}" for issue in listed]
        more = len(result.issues) - len(listed)
        if more > 0:
            lines.append(f"  ... and {more} more in the push result (XCom) and the task log")
    if result.without_data:
        lines += ["", "No storage data from DWDI (not written): " + ", ".join(result.without_data)]
    return "\n".join(lines) + "\n"


#: How many drift rows the ``drift`` alert lists (the task log and XCom have more).
ALERT_ROWS = 20
_TABLE_HEADER = ("month", "resource", "component", "user", "DWDI", "Waldur", "delta", "likely cause")


def drift_table(drifts: Sequence[Drift]) -> list[str]:
    """The drift rows as an aligned text table (header first), one line per row."""
    rows = [_TABLE_HEADER, *(drift.cells() for drift in drifts)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_TABLE_HEADER))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def drift_message(run: RunLabel, result: AuditResult) -> AlertMessage | None:
    """The ``drift`` alert of an audit run, or None when it found no difference (nothing to send).

    Counts and the first rows of the table: backend IDs, usernames and amounts, never a secret.
    """
    if result.clean:
        return None
    drifted = [str(month["month"]) for month in result.months if month.get("drifts")]
    subject = (
        f"[cscs-dwdi] {run.offering_name} {', '.join(drifted) or 'audit'}: "
        f"drift found ({result.drift_count} difference(s))"
    )
    lines = [
        "The drift audit found values in Waldur that differ from what DWDI says now.",
        "",
        f"Offering: {run.offering_name} ({run.offering_uuid})",
        f"DAG run: {run.dag_id} / {run.run_id or 'unknown run'}",
        *(
            f"{month['month']}: {month['resources']} resource(s) compared, {month['unchanged']} identical, "
            f"{month['drifts']} difference(s)"
            for month in result.months
        ),
    ]
    if result.repair_month:
        lines.append(
            f"Repair of {result.repair_month} in this run: {'dry run' if (result.repair or {}).get('dry_run') else 'written'}"
        )
    listed = result.drifts[:ALERT_ROWS]
    lines += ["", *drift_table(listed)]
    if result.drift_count > len(listed):
        lines.append(
            f"... and {result.drift_count - len(listed)} more in the audit_waldur task's log and XCom"
        )
    lines += [
        "",
        "To write the corrections of one month, trigger the audit DAG with repair_month (dry_run first).",
    ]
    return AlertMessage(subject, "\n".join(lines) + "\n")


def anomaly_message(run: RunLabel, result: PushResult, approval_url: str | None) -> AlertMessage | None:
    """The ``anomaly`` alert of a push whose guard found anomalies (None: none, or a dry run).

    Counts, the first anomalies (backend ID, component, why) and the link to the approval.
    """
    if not result.anomalies or result.dry_run:
        return None
    subject = (
        f"[cscs-dwdi] {run.offering_name} {result.month}: {len(result.anomalies)} anomaly(ies), "
        f"{result.held} value(s) held for approval"
    )
    lines = [
        "The anomaly guard found values that look wrong before writing them to Waldur.",
        "",
        *_header(run, result.month),
        f"Anomalies: {len(result.anomalies)}; held for approval: {result.held} value(s); "
        f"written: {result.written} resource(s)",
        "",
        *(f"  - {_anomaly_line(anomaly)}" for anomaly in result.anomalies[:LISTED_ISSUES]),
    ]
    if result.held:
        lines += [
            "",
            f"Approve or reject the held values: {approval_url or 'the approve_held_values task of the run'}",
        ]
    return AlertMessage(subject, "\n".join(lines) + "\n")


def approval_timeout_message(run: RunLabel, month: str, held: int, approval_url: str | None) -> AlertMessage:
    """The ``anomaly`` alert of an approval nobody answered in time: nothing held was written."""
    subject = f"[cscs-dwdi] {run.offering_name} {month}: approval timed out, {held} held value(s) not written"
    lines = [
        "Nobody approved or rejected the held values in time: none of them was written.",
        "The next run of the DAG evaluates the month again (and asks again while they look wrong).",
        "",
        *_header(run, month),
        f"Approval: {approval_url or 'the approve_held_values task of the run'}",
    ]
    return AlertMessage(subject, "\n".join(lines) + "\n")


def _anomaly_line(anomaly: Mapping[str, Any]) -> str:
    where = " ".join(str(anomaly[key]) for key in ("backend_id", "component", "username") if anomaly.get(key))
    return f"{anomaly.get('check')} ({anomaly.get('policy')}){' ' + where if where else ''}: {anomaly.get('why')}"
