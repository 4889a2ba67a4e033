"""HTML of the billing view's pages (pure Python: the read model's rows in, a document out).

Every value is escaped; the plots are drawn by the vendored Frappe Charts from a JSON data island,
so this module contains no plotting code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from airflow_provider_cscs_dwdi.view.month_table import MonthTable, table_cells, table_header


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def document(title: str, base: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title>"
        f"<link rel='stylesheet' href='{_e(base)}/static/view.css'>"
        f"<script src='{_e(base)}/static/vendor/frappe-charts.min.umd.js'></script>"
        f"<script src='{_e(base)}/static/view.js' defer></script>"
        f"</head><body><nav class='crumbs'><a href='{_e(base)}/'>Billing</a></nav>"
        f"<h1>{_e(title)}</h1>{body}</body></html>"
    )


def unreachable_note(reason: str) -> str:
    return f"<p class='unreachable' role='alert'><strong>Data unreachable:</strong> {_e(reason)}</p>"


def overview(base: str, rows: Sequence[Mapping[str, Any]], airflow_base: str = "") -> str:
    if not rows:
        return document(
            "Billing",
            base,
            "<p class='empty'>No offering you may read. The view lists the offerings whose DAGs "
            "you may read in Airflow.</p>",
        )
    parts = [
        "<table id='offerings' class='data'><thead><tr><th>offering</th><th>usage kind</th>"
        "<th>DAGs</th><th>last daily push</th><th>recent months</th><th>open issues</th></tr></thead><tbody>"
    ]
    for row in rows:
        dags = " ".join(
            f"<a href='{_e(airflow_base)}/dags/{quote(dag_id)}' target='_top'>{_e(role)}</a>"
            for role, dag_id in row["dag_ids"].items()
        )
        last = row["last_push"]
        last_cell = (
            "none yet"
            if not last
            else f"{_e(last['at'])} ({_e(last['month'])}{', dry run' if last['dry_run'] else ''}): "
            f"{_e(last['written'])} written, {_e(last['unchanged'])} unchanged, {_e(last['issues'])} issue(s)"
            + (
                f", <span class='held'>{_e(last['held'])} value(s) held for approval: {_e(last['approval'])}</span>"
                if last.get("held")
                else ""
            )
        )
        months = "<br>".join(
            f"{_e(m['month'])}: {_e(m['state'])}, {_e(m['audit'])}"
            + (f", <span class='held'>{_e(m['held'])} held, not in Waldur</span>" if m.get("held") else "")
            + (" <span class='unreachable'>data unreachable</span>" if m["unreachable"] else "")
            for m in row["months"]
        )
        issues = "<br>".join(_e(message) for message in row["open_issues"]) or "none"
        parts.append(
            f"<tr data-offering='{_e(row['slug'])}'><td><a class='offering' href='{_e(base)}/offerings/"
            f"{quote(row['slug'])}'>{_e(row['name'])}</a></td><td>{_e(row['usage_kind'])}</td>"
            f"<td>{dags}</td><td>{last_cell}</td><td>{months}</td><td>{issues}</td></tr>"
        )
    parts.append("</tbody></table>")
    return document("Billing", base, "".join(parts))


def _chart(element_id: str, title: str, data: Mapping[str, Any], kind: str) -> str:
    payload = json.dumps({"title": title, "type": kind, "data": data}).replace("</", "<\\/")
    return (
        f"<figure class='chart' id='{element_id}' data-points='{len(data.get('labels', []))}'>"
        f"<figcaption>{_e(title)}</figcaption><div class='plot'></div>"
        f"<script type='application/json' class='chart-data'>{payload}</script></figure>"
    )


def offering(base: str, name: str, slug: str, page: Mapping[str, Any]) -> str:
    components = page["components"]
    head = "".join(
        f"<th>{_e(c['label'])} billed (DWDI)</th><th>{_e(c['label'])} in Waldur</th>" for c in components
    )
    parts = [
        _chart("monthly-chart", "Monthly totals per component (last 12 months)", page["monthly"], "bar"),
        _chart(
            "to-date-chart",
            f"{page['current_month']} month to date: one point per daily push",
            page["month_to_date"],
            "line",
        ),
        f"<table id='months' class='data'><thead><tr><th>month</th>{head}<th>written at</th>"
        "<th>closed</th><th>audit</th><th>held for approval</th></tr></thead><tbody>",
    ]
    for row in page["rows"]:
        link = f"<a href='{_e(base)}/offerings/{quote(slug)}/{quote(row['month'])}'>{_e(row['month'])}</a>"
        if row["unreachable"]:
            parts.append(
                f"<tr><td>{link}</td><td colspan='{2 * len(components) + 4}'>{unreachable_note(row['unreachable'])}</td></tr>"
            )
            continue
        cells = "".join(
            f"<td class='num'>{_e(c['billed'])}</td><td class='num'>{_e(c['in_waldur'])}</td>"
            for c in row["cells"]
        )
        if not row["complete"]:
            cells += (
                "<td colspan='0' class='unreachable'>incomplete: failed or held writes not all listed</td>"
            )
        parts.append(
            f"<tr data-month='{_e(row['month'])}'><td>{link}</td>{cells}<td>{_e(row['written_at'] or '')}</td>"
            f"<td>{'yes' if row['closed'] else 'no'}</td><td>{_e(row['audit'])}</td>"
            f"<td class='held'>{_held_cell(row)}</td></tr>"
        )
    parts.append("</tbody></table>")
    return document(f"{name}: months", base, "".join(parts))


def _held_cell(row: Mapping[str, Any]) -> str:
    if row.get("held"):
        return f"{_e(row['held'])} value(s), not in Waldur ({_e(row['approval'])})"
    return _e(row.get("approval") or "")


def month(base: str, name: str, slug: str, table: MonthTable, query: Mapping[str, str]) -> str:
    path = f"{base}/offerings/{quote(slug)}/{quote(table.month)}"
    if table.unreachable:
        return document(f"{name}, {table.month}", base, unreachable_note(table.unreachable))
    if table.run_id is None:
        return document(f"{name}, {table.month}", base, "<p class='empty'>No push of this month yet.</p>")

    def link(**changes: Any) -> str:
        merged = {**query, **{key: str(value) for key, value in changes.items()}}
        return _e(f"{path}?{urlencode(merged)}")

    sort_keys = (
        ["backend_id", "resource"]
        + list(table.components)
        + [f"change:{c}" for c in table.components]
        + ["issues"]
    )
    current = query.get("sort", "backend_id")
    descending = query.get("order") == "desc"
    header = "".join(
        f"<th><a class='sort' data-sort='{_e(key)}' href='"
        + link(
            sort=key,
            order="asc" if key == current and descending else ("desc" if key == current else "asc"),
            page=1,
        )
        + f"'>{_e(label)}{' ▼' if key == current and descending else (' ▲' if key == current else '')}</a></th>"
        for key, label in zip(sort_keys, table_header(table), strict=True)
    )
    body = []
    for row in table.rows:
        cells = table_cells(table, row)
        resource_link = f"{path}/resources/{quote(row['backend_id'], safe='')}"
        first = f"<td><a href='{_e(resource_link)}'>{_e(cells[0])}</a></td>"
        body.append(
            f"<tr data-backend-id='{_e(row['backend_id'])}'>{first}"
            + "".join(f"<td>{_e(cell)}</td>" for cell in cells[1:])
            + "</tr>"
        )
    csv_link = _e(f"{path}.csv?{urlencode({k: v for k, v in query.items() if k in ('sort', 'order', 'q')})}")
    pager = (
        f"<p class='pager'>{table.total_rows} resource(s), page {table.page} of {table.pages} "
        + (f"<a rel='prev' href='{link(page=table.page - 1)}'>previous</a> " if table.page > 1 else "")
        + (f"<a rel='next' href='{link(page=table.page + 1)}'>next</a>" if table.page < table.pages else "")
        + "</p>"
    )
    form = (
        f"<form class='filter' method='get' action='{_e(path)}'>"
        f"<input type='search' name='q' value='{_e(query.get('q', ''))}' placeholder='filter: backend ID, resource, issue'>"
        f"<input type='hidden' name='sort' value='{_e(current)}'><input type='hidden' name='order' value='{'desc' if descending else 'asc'}'>"
        f"<input type='hidden' name='page_size' value='{table.page_size}'>"
        "<button type='submit'>Filter</button></form>"
    )
    written = table.written_at.isoformat(timespec="seconds") if table.written_at else ""
    return document(
        f"{name}, {table.month}",
        base,
        f"<p>From the report of run {_e(table.run_id)} ({_e(written)}), the month's last push.</p>"
        + (
            f"<p class='held' role='status'><strong>{table.held} value(s) held for approval</strong> "
            f"({_e(table.approval)}): the totals below are DWDI's; a held value is not in Waldur "
            "(see the issues column).</p>"
            if table.held
            else ""
        )
        + form
        + f"<p><a id='csv' href='{csv_link}' download>Download CSV</a> (every filtered row, all pages)</p>"
        + pager
        + f"<table id='resources' class='data'><thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>",
    )


def resource(base: str, name: str, slug: str, detail: Mapping[str, Any]) -> str:
    heads = "".join(f"<th>{_e(label)}</th>" for label in detail["components"])
    users = (
        "".join(
            f"<tr><td>{_e(user['username'])}</td>"
            + "".join(f"<td>{_e(a)}</td>" for a in user["amounts"])
            + "</tr>"
            for user in detail["users"]
        )
        or f"<tr><td colspan='{len(detail['components']) + 1}'>no users (storage and inference bill resources only)</td></tr>"
    )
    history = "".join(
        f"<tr><td>{_e(h['at'])}</td><td>{_e(h['run_id'])}</td><td>{_e(h['component'])}</td>"
        f"<td>{_e(h['old'])}</td><td>{_e(h['new'])}</td><td>{_e(h['note'])}</td></tr>"
        for h in detail["history"]
    )
    back = f"{base}/offerings/{quote(slug)}/{quote(detail['month'])}"
    return document(
        f"{name}, {detail['month']}, {detail['backend_id']}",
        base,
        f"<p><a href='{_e(back)}'>back to the month</a></p><h2>Users</h2>"
        f"<table id='users' class='data'><thead><tr><th>user</th>{heads}</tr></thead><tbody>{users}</tbody></table>"
        "<h2>What each push wrote</h2><table id='history' class='data'><thead><tr><th>time</th><th>run</th>"
        f"<th>component</th><th>old</th><th>new</th><th>note</th></tr></thead><tbody>{history}</tbody></table>",
    )


def error(base: str, status: int, message: str) -> str:
    return document(f"Billing: {status}", base, f"<p class='error' role='alert'>{_e(message)}</p>")
