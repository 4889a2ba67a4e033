"""The overview's line of an offering, the offering's page of months, and one resource's history.

Pure Python, imports nothing from Airflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from airflow_provider_cscs_dwdi.view.documents import Offering, PushRecord, RunRecord, shown
from airflow_provider_cscs_dwdi.view.month_state import last_months, month_state, pushes_of
from airflow_provider_cscs_dwdi.view.series import month_to_date_series, monthly_series


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
                # Held values are not in the written count: they wait for approve_held_values.
                "held": push.held_count,
                "approval": _approval(push),
            }
            issues = [str(item.get("message")) for item in result.get("issues") or ()]
            issues += [f"{f.get('backend_id')}: {f.get('reason')}" for f in result.get("failures") or ()]
            issues += _held_issues(push)
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
                "held": state.held,
                "approval": state.approval,
            }
            for state in states
        ],
        "open_issues": issues[:20],
    }


def _approval(push: PushRecord) -> str | None:
    if not push.held_count:
        return None
    return push.held.state() if push.held is not None else "held values' document gone: not known"


def _held_issues(push: PushRecord) -> list[str]:
    """The open issue of values held and not written: one line per (resource, component)."""
    held = push.held
    if held is None:
        return (
            [f"{push.held_count} value(s) held for approval; their document is gone"]
            if push.held_count
            else []
        )
    state = held.state()
    return [
        f"{backend_id} {component}: held for approval ({state}), not in Waldur: {held.why.get((backend_id, component), '')}"
        for backend_id, component in sorted(push.unwritten_held)
    ]


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
                "held": state.held,
                "approval": state.approval,
                "complete": state.in_waldur is not None or state.billed is None,
            }
        )
    monthly = monthly_series(states, components, labels)
    to_date = month_to_date_series(runs, current, components, labels)
    return {
        "components": [{"type": name, "label": labels.get(name, name)} for name in components],
        "rows": rows,
        "monthly": monthly,
        "month_to_date": to_date,
        "current_month": current,
    }


def resource_detail(runs: Sequence[RunRecord], month: str, backend_id: str) -> dict[str, Any] | None:
    """Users (compute) of the last push and the history of what each push of the month wrote."""
    pushes = [(run, push) for run, push in pushes_of(runs, month) if push.report is not None]
    if not pushes or all(
        backend_id not in push.report.totals and backend_id not in push.report.without_data
        for _, push in pushes
        if push.report
    ):
        return None
    _, last = pushes[-1]
    assert last.report is not None
    users = last.report.users.get(backend_id, {})
    history: list[dict[str, Any]] = []
    # What Waldur holds per component after each push: a held value not written leaves it as it was.
    in_waldur: dict[str, Decimal | None] = {}
    for run, push in pushes:
        report = push.report
        assert report is not None
        if backend_id not in report.totals:
            if backend_id in report.without_data:
                history.append(_entry(run, note="no storage data from DWDI: not written"))
            continue
        if backend_id in push.failed_ids:
            history.append(_entry(run, note="write failed"))
            continue
        for index, name in enumerate(report.components):
            new = report.totals[backend_id][index]
            old = in_waldur.get(name)
            note = ""
            unwritten = (backend_id, name) in push.unwritten_held
            if push.held is not None and (backend_id, name) in push.held.pairs:
                note = f"held for approval: {push.held.state()}" + (", not written" if unwritten else "")
                if unwritten:
                    old = push.held.waldur_now.get((backend_id, name), old)
            if old != new or note:
                history.append(_entry(run, report.labels.get(name, name), shown(old), shown(new), note))
            in_waldur[name] = old if unwritten else new
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


def _entry(
    run: RunRecord, component: str = "", old: str = "", new: str = "", note: str = ""
) -> dict[str, str]:
    """One line of a resource's history: what one push did to one component."""
    return {
        "run_id": run.run_id,
        "at": run.at.isoformat(timespec="seconds"),
        "component": component,
        "old": old,
        "new": new,
        "note": note,
    }
