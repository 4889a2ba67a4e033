"""The view's read model and pages without Airflow: what each page derives from the documents."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.view import inputs, month_state, month_table, pages, summaries
from airflow_provider_cscs_dwdi.view.documents import MonthReport, PushRecord, RunRecord
from airflow_provider_cscs_dwdi.view.inputs import ViewInputError

T0 = datetime(2026, 11, 3, 6, tzinfo=UTC)


def report(month: str, totals: dict[str, str], window_to: str | None = None, issues: Any = ()) -> MonthReport:
    return MonthReport.from_xcom(
        {
            "month": month,
            "usage_kind": "compute",
            "window": {"from": f"{month}-01", "to": window_to or f"{month}-03"},
            "components": {"nodeHours": {"label": "Node Hours"}},
            "accounts": {
                account: {"total": {"nodeHours": amount}, "users": {"alice": {"nodeHours": amount}}}
                for account, amount in totals.items()
            },
            "issues": list(issues),
        }
    )


def run(run_id: str, at: datetime, *pushes: PushRecord, role: str = "usage") -> RunRecord:
    return RunRecord(f"cscs_dwdi_{role}_hpc", run_id, role, "success", at, tuple(pushes))


def pushed(month: str, totals: dict[str, str], **result: Any) -> PushRecord:
    doc = {
        "month": month,
        "dry_run": False,
        "written": 1,
        "unchanged": 0,
        "failed": 0,
        "issues": [],
        **result,
    }
    return PushRecord(month, report(month, totals, window_to=result.pop("window_to", None)), doc)


#: The view's rooms that read the documents and build the pages; only app/source/plugin meet Airflow.
PURE_VIEW_MODULES = ("documents", "inputs", "month_state", "month_table", "pages", "series", "summaries")


def test_every_view_module_is_either_pure_or_one_of_the_airflow_facing_three() -> None:
    found = {path.stem for path in Path(pages.__file__).parent.glob("*.py")} - {"__init__"}
    assert found == {*PURE_VIEW_MODULES, "app", "source", "plugin"}


def test_the_pure_view_modules_import_nothing_from_airflow() -> None:
    names = ", ".join(f"airflow_provider_cscs_dwdi.view.{name}" for name in PURE_VIEW_MODULES)
    code = (
        f"import sys; import {names}; "
        "sys.exit(any(name == 'airflow' or name.startswith('airflow.') for name in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "26-01", "2026-1", "../2026-01", "2026-01/.."])
def test_a_month_must_be_a_real_month(bad: str) -> None:
    with pytest.raises(ViewInputError, match="month"):
        inputs.check_month(bad)


@pytest.mark.parametrize("bad", ["..", "../etc", "HPC", "a/b", ""])
def test_an_offering_must_be_a_slug(bad: str) -> None:
    with pytest.raises(ViewInputError, match="offering"):
        inputs.check_slug(bad)


def test_waldur_after_a_push_with_a_failed_write_leaves_that_resource_out() -> None:
    runs = [
        run(
            "r1",
            T0,
            pushed(
                "2026-11",
                {"g1": "10.00", "g2": "5.50"},
                failed=1,
                failures=[{"backend_id": "g2", "reason": "500"}],
            ),
        )
    ]
    state = month_state.month_state(runs, "2026-11")
    assert state.billed == (Decimal("15.50"),)
    assert state.in_waldur == (Decimal("10.00"),)
    # Failures not all listed: what Waldur holds is not known, and the page says so.
    runs = [run("r1", T0, pushed("2026-11", {"g1": "10.00"}, failed=60, failures=[]))]
    page = summaries.offering_page(runs, "2026-11")
    assert page["rows"][0]["complete"] is False
    assert "incomplete" in pages.offering("", "HPC", "hpc", page)


def test_a_month_is_closed_by_the_closing_dag_or_a_push_of_the_whole_month() -> None:
    october = pushed("2026-10", {"g1": "1.00"}, window_to="2026-10-31")
    november = pushed("2026-11", {"g1": "2.00"})
    runs = [run("a", T0, october), run("b", T0, november)]
    assert month_state.month_state(runs, "2026-10").closed
    assert not month_state.month_state(runs, "2026-11").closed
    runs.append(run("c", T0 + timedelta(days=30), pushed("2026-11", {"g1": "2.00"}), role="close"))
    assert month_state.month_state(runs, "2026-11").closed


def test_an_unreachable_report_is_named_and_no_partial_table_is_shown() -> None:
    reason = "the aggregate_usage document cannot be read; set [core] xcom_backend on the api-server"
    runs = [run("r1", T0, PushRecord("2026-11", None, {"month": "2026-11", "dry_run": False}, None, reason))]
    state, rows = month_table.month_rows(runs, "2026-11")
    assert rows == []
    table = month_table.month_table(state, rows)
    html = pages.month("", "HPC", "hpc", table, {})
    assert "Data unreachable" in html
    assert "[core] xcom_backend" in html
    assert "<table id='resources'" not in html


def test_the_month_table_sorts_filters_and_pages_on_the_server() -> None:
    totals = {f"g{index:03d}": f"{index % 7}.00" for index in range(250)}
    runs = [
        run("old", T0 - timedelta(days=30), pushed("2026-10", {"g001": "3.00"}, window_to="2026-10-31")),
        run("new", T0, pushed("2026-11", totals, issues=[{"account": "g005", "message": "negative value"}])),
    ]
    state, rows = month_table.month_rows(runs, "2026-11")
    table = month_table.month_table(state, rows, sort="nodeHours", descending=True, page=2, page_size=100)
    assert table.total_rows == 250
    assert table.pages == 3
    assert [row["totals"][0] for row in table.rows] == sorted(
        (row["totals"][0] for row in table.rows), reverse=True
    )
    assert month_table.month_table(state, rows, search="G00").total_rows == 10
    assert [row["backend_id"] for row in month_table.month_table(state, rows, search="negative").rows] == [
        "g005"
    ]
    g001 = next(row for row in rows if row["backend_id"] == "g001")
    assert month_table.table_cells(table, g001)[3] == "-2.00"  # 1.00 now, 3.00 in October
    with pytest.raises(ViewInputError, match="sort"):
        month_table.month_table(state, rows, sort="__class__")
    with pytest.raises(ViewInputError, match="page_size"):
        month_table.month_table(state, rows, page_size=inputs.MAX_PAGE_SIZE + 1)


def test_the_history_shows_old_and_new_per_push_that_changed_something() -> None:
    runs = [
        run("d1", T0, pushed("2026-11", {"g1": "1.00"})),
        run("d2", T0 + timedelta(days=1), pushed("2026-11", {"g1": "1.00"})),
        run("d3", T0 + timedelta(days=2), pushed("2026-11", {"g1": "4.25"})),
    ]
    detail = summaries.resource_detail(runs, "2026-11", "g1")
    assert detail is not None
    assert [(h["run_id"], h["old"], h["new"]) for h in detail["history"]] == [
        ("d1", "", "1.00"),
        ("d3", "1.00", "4.25"),
    ]
    assert detail["users"] == [{"username": "alice", "amounts": ["4.25"]}]
    assert summaries.resource_detail(runs, "2026-11", "nobody") is None


def test_pages_escape_what_they_show() -> None:
    runs = [run("<script>", T0, pushed("2026-11", {"<b>x</b>": "1.00"}))]
    state, rows = month_table.month_rows(runs, "2026-11")
    html = pages.month("", "HPC", "hpc", month_table.month_table(state, rows), {})
    assert "<b>x</b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<script>" not in html.replace("<script src=", "").replace("<script type=", "")


def test_a_storage_path_without_data_is_marked_not_written() -> None:
    doc = {
        "month": "2026-11",
        "usage_kind": "storage",
        "components": {"space": {"label": "Space"}},
        "accounts": {"p1": {"total": {"space": "0.00"}, "users": {}}},
        "without_data": ["p1"],
    }
    push = PushRecord("2026-11", MonthReport.from_xcom(doc), {"month": "2026-11", "dry_run": False})
    _, rows = month_table.month_rows([run("r", T0, push)], "2026-11")
    assert rows[0]["issues"] == ["no storage data from DWDI: not written"]


def test_an_overview_without_readable_offerings_says_so() -> None:
    html = pages.overview("", [])
    assert "No offering you may read" in html
    assert "<table" not in html
