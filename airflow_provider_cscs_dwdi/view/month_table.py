"""The month table: one row per resource of the month's last push, filtered, sorted and paged.

Pure Python, imports nothing from Airflow. The page and the CSV download show the same cells
(``table_header``/``table_cells``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_cscs_dwdi.core.months import previous_month
from airflow_provider_cscs_dwdi.view.documents import PushRecord, RunRecord, no_gc_pauses, shown
from airflow_provider_cscs_dwdi.view.inputs import MAX_PAGE_SIZE, ViewInputError
from airflow_provider_cscs_dwdi.view.month_state import MonthState, month_state

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
    held: int = 0  # values held for approval and not written
    approval: str | None = None

    @property
    def pages(self) -> int:
        return max(1, -(-self.total_rows // self.page_size))


def month_rows(runs: Sequence[RunRecord], month: str) -> tuple[MonthState, list[dict[str, Any]]]:
    """Every resource of the month's last push, unsorted (the cacheable part of the month table)."""
    with no_gc_pauses():
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
    held_notes = _held_notes(push, report.labels)
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
        messages += held_notes.get(backend_id, ())
        rows.append(
            {
                "backend_id": backend_id,
                "resource": ", ".join(uuids.get(backend_id, ())),
                "totals": totals,
                "changes": tuple(changes),
                "issues": messages,
            }
        )
    # Listed with blank totals, so the table shows every resource of the month and why it has none.
    blank = tuple(None for _ in report.components)
    for backend_id in report.without_data:
        if backend_id not in report.totals:
            rows.append(
                {
                    "backend_id": backend_id,
                    "resource": ", ".join(uuids.get(backend_id, ())),
                    "totals": blank,
                    "changes": blank,
                    "issues": list(report.issues_by_account.get(backend_id, ())),
                }
            )
    return state, rows


def _held_notes(push: PushRecord, labels: Mapping[str, str]) -> dict[str, list[str]]:
    """Per backend ID, what the anomaly guard held of it: the totals shown are DWDI's, and a held
    value is in Waldur only once approved and written."""
    held = push.held
    notes: dict[str, list[str]] = {}
    if held is None:
        return notes
    state = held.state()
    for backend_id, component in sorted(held.pairs):
        label = labels.get(component, component)
        if (backend_id, component) in push.unwritten_held:
            before = held.waldur_now.get((backend_id, component))
            kept = "nothing" if before is None else shown(before)
            text = f"{label} held for approval ({state}): not in Waldur, which holds {kept}"
        else:
            text = f"{label} held for approval, {state}"
        notes.setdefault(backend_id, []).append(text)
    return notes


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
        selected.sort(
            key=lambda row: (row["totals"][index] is not None, row["totals"][index] or 0, row["backend_id"]),
            reverse=descending,
        )
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
        held=state.held,
        approval=state.approval,
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
