"""The billing view's read model: pure Python, imports nothing from Airflow.

The view shows what the pipeline already keeps, read from Airflow's metadata by ``view.source``:
per DAG run, the documents of ``core/xcom.py`` (the aggregate task's report, the push result, the
fetch result, the backend IDs) and the audit result. This module turns those documents into the
rows of the three pages; it never calls DWDI or Waldur.

What Waldur holds after a push is derived, not read from Waldur: a push writes the report's
absolute totals for every resource that differs and leaves the unchanged ones (already equal), so
after a push without failures Waldur holds the report's totals. A resource whose write failed is
not counted and the month is marked incomplete.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_cscs_dwdi.core.months import month_bounds, previous_month

USAGE_DAG_PREFIX = "cscs_dwdi_usage_"
CLOSE_DAG_PREFIX = "cscs_dwdi_close_"
AUDIT_DAG_PREFIX = "cscs_dwdi_audit_"
ROLES = {"usage": USAGE_DAG_PREFIX, "close": CLOSE_DAG_PREFIX, "audit": AUDIT_DAG_PREFIX}

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_]{0,199}$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_BACKEND_ID = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")
ZERO = Decimal("0.00")
MAX_PAGE_SIZE = 1000


class ViewInputError(ValueError):
    """A request parameter the view refuses (answered with 400 or 404, naming the parameter)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def check_slug(text: str) -> str:
    """An offering slug as the DAG factory makes them (lower-case, digits, underscores)."""
    if not isinstance(text, str) or not _SLUG.match(text):
        raise ViewInputError(f"offering: {text[:40]!r} is not an offering slug (a-z, 0-9, _)")
    return text


def check_month(text: str) -> str:
    """A ``YYYY-MM`` month with a real month number (``2026-13`` is refused)."""
    if not isinstance(text, str) or not _MONTH.match(text):
        raise ViewInputError(f"month: {text[:40]!r} is not a month YYYY-MM with MM in 01..12")
    return text


def check_backend_id(text: str) -> str:
    if not isinstance(text, str) or not _BACKEND_ID.match(text) or text in {".", ".."}:
        raise ViewInputError(f"resource: {text[:40]!r} is not a backend ID")
    return text


def last_months(current: str, count: int) -> list[str]:
    """``count`` months ending with ``current``, oldest first."""
    months = [current]
    while len(months) < count:
        months.insert(0, previous_month(months[0]))
    return months


def month_end(month: str) -> date:
    return month_bounds(month)[1]


@contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """Build many small acyclic objects without the cyclic collector rescanning the cached reports.

    With a year of reports cached (millions of objects) each generation-2 collection walks all of
    them: building a 20,000-row table took 0.9 s with collections and 0.14 s without. Nothing
    built here has cycles, so reference counting frees it all the same.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _amount(raw: Any) -> Decimal:
    try:
        return Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return ZERO


def shown(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:.2f}"


@dataclass(frozen=True)
class MonthReport:
    """One aggregate report, compacted: totals per backend ID in component order, users as sent."""

    month: str
    usage_kind: str
    components: tuple[str, ...]
    labels: Mapping[str, str]
    window_to: str | None
    totals: Mapping[str, tuple[Decimal, ...]]
    users: Mapping[str, Mapping[str, Mapping[str, str]]]
    issues_by_account: Mapping[str, tuple[str, ...]]
    issues: tuple[str, ...]
    sums: tuple[Decimal, ...]

    @classmethod
    def from_xcom(cls, doc: Mapping[str, Any]) -> MonthReport:
        """Read an ``aggregate_usage`` document (``core.report.UsageReport.to_xcom()``)."""
        with _no_gc_pauses():
            return cls._read(doc)

    @classmethod
    def _read(cls, doc: Mapping[str, Any]) -> MonthReport:
        components_doc = doc.get("components") or {}
        components = tuple(components_doc)
        labels = {
            name: str((settings or {}).get("label") or name) for name, settings in components_doc.items()
        }
        totals: dict[str, tuple[Decimal, ...]] = {}
        users: dict[str, Mapping[str, Mapping[str, str]]] = {}
        sums = [Decimal(0)] * len(components)
        for backend_id, usage in (doc.get("accounts") or {}).items():
            total = usage.get("total") or {}
            row = tuple(_amount(total.get(name, "0")) for name in components)
            totals[backend_id] = row
            for index, value in enumerate(row):
                sums[index] += value
            if usage.get("users"):
                users[backend_id] = usage["users"]
        by_account: dict[str, list[str]] = {}
        messages: list[str] = []
        for backend_id in doc.get("without_data") or ():
            # Storage paths DWDI had no level for: the push writes nothing for them.
            by_account.setdefault(str(backend_id), []).append("no storage data from DWDI: not written")
        for issue in doc.get("issues") or ():
            message = str(issue.get("message") or issue.get("kind") or "issue")
            messages.append(message)
            account = issue.get("account") or issue.get("backend_id")
            if account:
                by_account.setdefault(str(account), []).append(message)
        window = doc.get("window") or {}
        return cls(
            month=str(doc.get("month")),
            usage_kind=str(doc.get("usage_kind") or "compute"),
            components=components,
            labels=labels,
            window_to=window.get("to") if isinstance(window, Mapping) else None,
            totals=totals,
            users=users,
            issues_by_account={key: tuple(value) for key, value in by_account.items()},
            issues=tuple(messages),
            sums=tuple(sums),
        )

    def total_of(self, backend_id: str, component: str) -> Decimal | None:
        row = self.totals.get(backend_id)
        if row is None or component not in self.components:
            return None
        return row[self.components.index(component)]


@dataclass(frozen=True)
class PushRecord:
    """One month pushed by one DAG run: its report, push result and fetch result (any may be missing).

    ``unreachable`` says why the report could not be read (then the month is shown as such).
    """

    month: str
    report: MonthReport | None
    result: Mapping[str, Any] | None
    fetch: Mapping[str, Any] | None = None
    unreachable: str | None = None

    @property
    def wrote(self) -> bool:
        """A real push (not a dry run) that produced its result."""
        return self.result is not None and not self.result.get("dry_run", False)

    @property
    def failed_ids(self) -> frozenset[str]:
        failures = (self.result or {}).get("failures") or ()
        return frozenset(str(item.get("backend_id")) for item in failures if item.get("backend_id"))

    @property
    def all_failures_known(self) -> bool:
        result = self.result or {}
        return int(result.get("failed", 0)) <= len(result.get("failures") or ())


@dataclass(frozen=True)
class RunRecord:
    """One DAG run of an offering's three DAGs and the documents it left in XCom."""

    dag_id: str
    run_id: str
    role: str  # usage | close | audit
    state: str
    at: datetime
    pushes: tuple[PushRecord, ...] = ()
    audit: Mapping[str, Any] | None = None
    resource_uuids: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Offering:
    slug: str
    name: str
    dag_ids: Mapping[str, str]  # role -> dag_id, for the DAGs that exist


def role_of(dag_id: str) -> tuple[str, str] | None:
    """``(role, slug)`` of one of the factory's DAG IDs, or None."""
    for role, prefix in ROLES.items():
        if dag_id.startswith(prefix) and len(dag_id) > len(prefix):
            return role, dag_id[len(prefix) :]
    return None


def offering_name(description: str | None, slug: str) -> str:
    """The offering's name from the usage DAG's description ("Report CSCS-DWDI usage of 'X' to Waldur")."""
    match = re.search(r"'(.+)'", description or "")
    return match.group(1) if match else slug


# ---------------------------------------------------------------------------------- month state


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


def _pushes_of(runs: Iterable[RunRecord], month: str) -> list[tuple[RunRecord, PushRecord]]:
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
    pushes = _pushes_of(runs, month)
    audit = _audit_of(runs, month)
    if not pushes:
        return MonthState(month, (), {}, None, None, None, None, False, audit, 0, None, None)
    run, push = pushes[-1]
    closed = any(
        p.wrote
        and int((p.result or {}).get("failed", 0)) == 0
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
    in_waldur: tuple[Decimal, ...] | None = report.sums
    if failed:
        if push.all_failures_known:
            sums = list(report.sums)
            for backend_id in push.failed_ids:
                for index, value in enumerate(report.totals.get(backend_id, ())):
                    sums[index] -= value
            in_waldur = tuple(sums)
        else:
            in_waldur = None
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
    )


# ---------------------------------------------------------------------------------- pages


def overview_row(
    offering: Offering, runs: Sequence[RunRecord], current: str, months: int = 3
) -> dict[str, Any]:
    """The overview's line of one offering: last daily push, recent months, open issues."""
    usage_runs = sorted((r for r in runs if r.role == "usage"), key=lambda r: r.at)
    last: dict[str, Any] | None = None
    issues: list[str] = []
    kind = "unknown"
    for run in reversed(usage_runs):
        for push in run.pushes:
            if push.result is None and push.unreachable is None:
                continue
            result = push.result or {}
            last = {
                "at": run.at.isoformat(timespec="seconds"),
                "run_id": run.run_id,
                "state": run.state,
                "month": push.month,
                "written": result.get("written"),
                "unchanged": result.get("unchanged"),
                "issues": len(result.get("issues") or ()) + int(result.get("failed") or 0),
                "dry_run": bool(result.get("dry_run", False)),
            }
            issues = [str(item.get("message")) for item in result.get("issues") or ()]
            issues += [f"{f.get('backend_id')}: {f.get('reason')}" for f in result.get("failures") or ()]
            break
        if last:
            break
    for run in reversed(sorted(runs, key=lambda r: r.at)):
        kinds = [p.report.usage_kind for p in run.pushes if p.report is not None]
        if kinds:
            kind = kinds[0]
            break
    states = [month_state(runs, month) for month in last_months(current, months)]
    return {
        "slug": offering.slug,
        "name": offering.name,
        "usage_kind": kind,
        "dag_ids": dict(offering.dag_ids),
        "last_push": last,
        "months": [
            {
                "month": state.month,
                "state": "closed" if state.closed else ("open" if state.last_push else "no push"),
                "audit": state.audit,
                "unreachable": state.unreachable,
            }
            for state in states
        ],
        "open_issues": issues[:20],
    }


def offering_page(runs: Sequence[RunRecord], current: str, months: int = 12) -> dict[str, Any]:
    """One row per month (newest first), the monthly totals per component, the month-to-date curve."""
    states = [month_state(runs, month) for month in last_months(current, months)]
    components: list[str] = []
    labels: dict[str, str] = {}
    for state in states:
        for name in state.components:
            if name not in components:
                components.append(name)
        labels.update(state.labels)
    rows = []
    for state in reversed(states):
        cells = []
        for name in components:
            index = state.components.index(name) if name in state.components else None
            billed = state.billed[index] if state.billed is not None and index is not None else None
            held = state.in_waldur[index] if state.in_waldur is not None and index is not None else None
            cells.append({"component": name, "billed": shown(billed), "in_waldur": shown(held)})
        rows.append(
            {
                "month": state.month,
                "cells": cells,
                "written_at": state.written_at.isoformat(timespec="seconds") if state.written_at else None,
                "run_id": state.run_id,
                "closed": state.closed,
                "audit": state.audit,
                "failed": state.failed,
                "unreachable": state.unreachable,
                "complete": state.in_waldur is not None or state.billed is None,
            }
        )
    monthly = {
        "labels": [state.month for state in states],
        "datasets": [
            {
                "name": labels.get(name, name),
                "values": [
                    float(state.billed[state.components.index(name)])
                    if state.billed is not None and name in state.components
                    else 0.0
                    for state in states
                ],
            }
            for name in components
        ],
    }
    daily = [
        (run, push)
        for run, push in _pushes_of(runs, current)
        if run.role == "usage" and push.report is not None
    ]
    to_date = {
        "labels": [run.at.strftime("%Y-%m-%d %H:%M") for run, _ in daily],
        "datasets": [
            {
                "name": labels.get(name, name),
                "values": [
                    float(push.report.sums[push.report.components.index(name)])
                    if push.report and name in push.report.components
                    else 0.0
                    for _, push in daily
                ],
            }
            for name in components
        ],
    }
    return {
        "components": [{"type": name, "label": labels.get(name, name)} for name in components],
        "rows": rows,
        "monthly": monthly,
        "month_to_date": to_date,
        "current_month": current,
    }


SORT_KEYS = ("backend_id", "resource", "issues")


@dataclass(frozen=True)
class MonthTable:
    month: str
    components: tuple[str, ...]
    labels: Mapping[str, str]
    rows: list[dict[str, Any]]
    total_rows: int
    page: int
    page_size: int
    unreachable: str | None
    run_id: str | None
    written_at: datetime | None

    @property
    def pages(self) -> int:
        return max(1, -(-self.total_rows // self.page_size))


def month_rows(runs: Sequence[RunRecord], month: str) -> tuple[MonthState, list[dict[str, Any]]]:
    """Every resource of the month's last push, unsorted (the cacheable part of the month table)."""
    with _no_gc_pauses():
        return _month_rows(runs, month)


def _month_rows(runs: Sequence[RunRecord], month: str) -> tuple[MonthState, list[dict[str, Any]]]:
    state = month_state(runs, month)
    push = state.last_push
    if push is None or push.report is None:
        return state, []
    report = push.report
    previous = month_state(runs, previous_month(month)).last_push
    before = previous.report if previous is not None else None
    uuids: Mapping[str, Sequence[str]] = {}
    for run in runs:
        if run.run_id == state.run_id and run.resource_uuids:
            uuids = run.resource_uuids
    failed = push.failed_ids
    push_issues: dict[str, list[str]] = {}
    for issue in (push.result or {}).get("issues") or ():
        account = issue.get("account") or issue.get("backend_id")
        if account:
            push_issues.setdefault(str(account), []).append(str(issue.get("message")))
    rows = []
    for backend_id, totals in report.totals.items():
        earlier = before.totals.get(backend_id) if before is not None else None
        changes = []
        for index, name in enumerate(report.components):
            old = None
            if earlier is not None and before is not None and name in before.components:
                old = earlier[before.components.index(name)]
            changes.append(None if old is None else totals[index] - old)
        messages = list(report.issues_by_account.get(backend_id, ())) + [
            message
            for message in push_issues.get(backend_id, ())
            if message not in report.issues_by_account.get(backend_id, ())
        ]
        if backend_id in failed:
            messages.append("write failed: not in Waldur")
        rows.append(
            {
                "backend_id": backend_id,
                "resource": ", ".join(uuids.get(backend_id, ())),
                "totals": totals,
                "changes": tuple(changes),
                "issues": messages,
            }
        )
    return state, rows


def month_table(
    state: MonthState,
    rows: Sequence[dict[str, Any]],
    *,
    sort: str = "backend_id",
    descending: bool = False,
    search: str = "",
    page: int = 1,
    page_size: int | None = 100,
) -> MonthTable:
    """Filter (substring of backend ID, resource or issue), sort and cut one page of the month's rows."""
    components = state.last_push.report.components if state.last_push and state.last_push.report else ()
    if page < 1:
        raise ViewInputError("page: must be 1 or more")
    if page_size is not None and not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ViewInputError(f"page_size: must be between 1 and {MAX_PAGE_SIZE}")
    needle = search.strip().lower()
    selected = (
        [
            row
            for row in rows
            if needle in row["backend_id"].lower()
            or needle in row["resource"].lower()
            or any(needle in message.lower() for message in row["issues"])
        ]
        if needle
        else list(rows)
    )
    if sort in SORT_KEYS:
        if sort == "issues":
            selected.sort(key=lambda row: (len(row["issues"]), row["backend_id"]), reverse=descending)
        else:
            selected.sort(key=lambda row: row[sort], reverse=descending)
    elif sort in components:
        index = components.index(sort)
        selected.sort(key=lambda row: (row["totals"][index], row["backend_id"]), reverse=descending)
    elif sort.startswith("change:") and sort[7:] in components:
        index = components.index(sort[7:])
        selected.sort(
            key=lambda row: (
                row["changes"][index] is not None,
                row["changes"][index] or 0,
                row["backend_id"],
            ),
            reverse=descending,
        )
    else:
        raise ViewInputError(f"sort: {sort[:40]!r} is not a column of this table")
    # None: every row (the CSV download).
    size = len(selected) or 1 if page_size is None else page_size
    start = (page - 1) * size
    labels = state.last_push.report.labels if state.last_push and state.last_push.report else {}
    return MonthTable(
        month=state.month,
        components=components,
        labels=labels,
        rows=selected[start : start + size],
        total_rows=len(selected),
        page=page,
        page_size=size,
        unreachable=state.unreachable,
        run_id=state.run_id,
        written_at=state.written_at,
    )


def table_cells(table: MonthTable, row: Mapping[str, Any]) -> list[str]:
    """One row as the page and the CSV show it (the same strings in both)."""
    cells = [row["backend_id"], row["resource"]]
    cells += [shown(value) for value in row["totals"]]
    cells += ["" if change is None else f"{change:+.2f}" for change in row["changes"]]
    cells.append("; ".join(row["issues"]))
    return cells


def table_header(table: MonthTable) -> list[str]:
    return (
        ["backend ID", "Waldur resource"]
        + [table.labels.get(name, name) for name in table.components]
        + [f"change {table.labels.get(name, name)}" for name in table.components]
        + ["issues"]
    )


def resource_detail(runs: Sequence[RunRecord], month: str, backend_id: str) -> dict[str, Any] | None:
    """Users (compute) of the last push and the history of what each push of the month wrote."""
    pushes = [(run, push) for run, push in _pushes_of(runs, month) if push.report is not None]
    if not pushes or all(backend_id not in push.report.totals for _, push in pushes if push.report):
        return None
    _, last = pushes[-1]
    assert last.report is not None
    users = last.report.users.get(backend_id, {})
    history: list[dict[str, Any]] = []
    held: dict[str, Decimal | None] = {}
    for run, push in pushes:
        report = push.report
        assert report is not None
        if backend_id not in report.totals:
            continue
        if backend_id in push.failed_ids:
            history.append(
                {
                    "run_id": run.run_id,
                    "at": run.at.isoformat(timespec="seconds"),
                    "component": "",
                    "old": "",
                    "new": "",
                    "note": "write failed",
                }
            )
            continue
        for index, name in enumerate(report.components):
            new = report.totals[backend_id][index]
            old = held.get(name)
            if old != new:
                history.append(
                    {
                        "run_id": run.run_id,
                        "at": run.at.isoformat(timespec="seconds"),
                        "component": report.labels.get(name, name),
                        "old": shown(old),
                        "new": shown(new),
                        "note": "",
                    }
                )
            held[name] = new
    return {
        "backend_id": backend_id,
        "month": month,
        "components": [last.report.labels.get(name, name) for name in last.report.components],
        "users": [
            {"username": username, "amounts": [str(amounts.get(name, "")) for name in last.report.components]}
            for username, amounts in sorted(users.items())
        ],
        "history": history,
    }
