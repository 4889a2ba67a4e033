"""What one month looks like after the pushes of an offering's runs: billed, in Waldur, closed, audited.

Pure Python, imports nothing from Airflow. What Waldur holds after a push is derived, not read
from Waldur: a push writes the report's absolute totals for every resource that differs and leaves
the unchanged ones (already equal), so after a push without failures Waldur holds the report's
totals. A resource whose write failed is not counted and the month is marked incomplete. A value
the anomaly guard held is not in Waldur until an approval wrote it: until then Waldur keeps what it
had before the push (the held document's ``waldur_now``), and the month is not closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from airflow_provider_cscs_dwdi.core.months import month_bounds, previous_month
from airflow_provider_cscs_dwdi.view.documents import MonthReport, PushRecord, RunRecord


def last_months(current: str, count: int) -> list[str]:
    """``count`` months ending with ``current``, oldest first."""
    months = [current]
    while len(months) < count:
        months.insert(0, previous_month(months[0]))
    return months


def month_end(month: str) -> date:
    return month_bounds(month)[1]


@dataclass(frozen=True)
class MonthState:
    month: str
    components: tuple[str, ...]
    labels: Mapping[str, str]
    billed: tuple[Decimal, ...] | None  # DWDI totals of the last push's report
    in_waldur: tuple[Decimal, ...] | None  # None: not known (failed writes not listed)
    written_at: datetime | None
    run_id: str | None
    closed: bool
    audit: str  # "not audited" | "clean" | "N drift(s)"
    failed: int
    unreachable: str | None
    last_push: PushRecord | None
    held: int = 0  # values of the last push held for approval and not written (pairs)
    approval: str | None = None  # what became of them (HeldRecord.state), None: nothing held


def pushes_of(runs: Iterable[RunRecord], month: str) -> list[tuple[RunRecord, PushRecord]]:
    """Every real push of ``month`` by the usage and closing DAGs, oldest first."""
    found = [
        (run, push)
        for run in runs
        if run.role in ("usage", "close")
        for push in run.pushes
        if push.month == month and (push.wrote or push.unreachable)
    ]
    return sorted(found, key=lambda item: item[0].at)


def _audit_of(runs: Sequence[RunRecord], month: str) -> str:
    for run in sorted((r for r in runs if r.role == "audit" and r.audit), key=lambda r: r.at, reverse=True):
        for entry in (run.audit or {}).get("months") or ():
            if entry.get("month") == month:
                drifts = int(entry.get("drifts") or 0)
                return "clean" if drifts == 0 else f"{drifts} drift(s)"
    return "not audited"


def month_state(runs: Sequence[RunRecord], month: str) -> MonthState:
    pushes = pushes_of(runs, month)
    audit = _audit_of(runs, month)
    if not pushes:
        return MonthState(month, (), {}, None, None, None, None, False, audit, 0, None, None)
    run, push = pushes[-1]
    closed = any(
        p.wrote
        and int((p.result or {}).get("failed", 0)) == 0
        and not p.unwritten_held
        and not p.held_unknown
        and (
            r.role == "close" or (p.report is not None and p.report.window_to == month_end(month).isoformat())
        )
        for r, p in pushes
    )
    if push.report is None:
        return MonthState(
            month, (), {}, None, None, run.at, run.run_id, closed, audit, 0, push.unreachable, push
        )
    report = push.report
    failed = int((push.result or {}).get("failed", 0))
    in_waldur = _in_waldur(push, report) if push.all_failures_known and not push.held_unknown else None
    return MonthState(
        month,
        report.components,
        report.labels,
        report.sums,
        in_waldur,
        run.at,
        run.run_id,
        closed,
        audit,
        failed,
        None,
        push,
        len(push.unwritten_held),
        push.held.state() if push.held is not None and push.held_count else None,
    )


def _in_waldur(push: PushRecord, report: MonthReport) -> tuple[Decimal, ...]:
    """The report's sums, less the resources whose write failed, with Waldur's own value where a
    held value was not written."""
    sums = list(report.sums)
    failed = push.failed_ids
    for backend_id in failed:
        for index, value in enumerate(report.totals.get(backend_id, ())):
            sums[index] -= value
    held = push.held
    for backend_id, component in push.unwritten_held:
        if backend_id in failed or component not in report.components or held is None:
            continue
        index = report.components.index(component)
        row = report.totals.get(backend_id)
        if row is not None:
            sums[index] -= row[index]
        sums[index] += held.waldur_now.get((backend_id, component)) or Decimal(0)
    return tuple(sums)
