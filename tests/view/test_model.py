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
from airflow_provider_cscs_dwdi.view.documents import HeldRecord, MonthReport, Offering, PushRecord, RunRecord
from airflow_provider_cscs_dwdi.view.inputs import ViewInputError

T0 = datetime(2026, 11, 3, 6, tzinfo=UTC)
OFFERING = Offering("hpc", "HPC", {"usage": "cscs_dwdi_usage_hpc"})


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


def test_a_storage_path_without_data_is_listed_blank_and_marked_not_written() -> None:
    # As core.report writes it: an account without data is never among the accounts.
    doc = {
        "month": "2026-11",
        "usage_kind": "storage",
        "components": {"space": {"label": "Space"}},
        "accounts": {"p1": {"total": {"space": "3.00"}, "users": {}}},
        "without_data": ["p2"],
    }
    push = PushRecord("2026-11", MonthReport.from_xcom(doc), {"month": "2026-11", "dry_run": False})
    runs = [run("r", T0, push)]
    state, rows = month_table.month_rows(runs, "2026-11")
    table = month_table.month_table(state, rows, sort="space", descending=True)
    assert [month_table.table_cells(table, row) for row in table.rows] == [
        ["p1", "", "3.00", "", ""],
        ["p2", "", "", "", "no storage data from DWDI: not written"],
    ]
    assert month_state.month_state(runs, "2026-11").in_waldur == (Decimal("3.00"),)
    detail = summaries.resource_detail(runs, "2026-11", "p2")
    assert detail is not None
    assert [entry["note"] for entry in detail["history"]] == ["no storage data from DWDI: not written"]


def test_an_overview_without_readable_offerings_says_so() -> None:
    html = pages.overview("", [])
    assert "No offering you may read" in html
    assert "<table" not in html


def held_push(
    month: str,
    totals: dict[str, str],
    held: dict[str, str | None],
    decision: str | None = None,
    approval: dict[str, Any] | None = None,
    role_close: bool = False,
) -> PushRecord:
    """A push whose guard held nodeHours of the accounts in ``held`` ({account: Waldur's value})."""
    document = {
        "month": month,
        "offering": "HPC",
        "rows": [
            {
                "resource": account,
                "component": "nodeHours",
                "user": None,
                "waldur_now": before,
                "dwdi_new": totals[account],
                "why": "cluster daint missing",
            }
            for account, before in held.items()
        ],
        "pairs": [[account, "nodeHours"] for account in held],
    }
    decided = {"month": month, "decision": decision, "by": "rev", "at": "2026-11-03T07:00:00"}
    record = HeldRecord.from_xcom(document, decided if decision else None, approval)
    base = pushed(month, totals, held=len(held), written=len(totals) - len(held))
    return PushRecord(month, base.report, base.result, None, None, record)


@pytest.mark.parametrize("decision", [None, "rejected", "timed out"])
def test_a_held_value_not_approved_is_not_in_waldur(decision: str | None) -> None:
    # g2 fell from 8.00 to 2.00 (late data): held; Waldur keeps 8.00 until someone approves.
    runs = [run("d1", T0, held_push("2026-11", {"g1": "10.00", "g2": "2.00"}, {"g2": "8.00"}, decision))]
    state = month_state.month_state(runs, "2026-11")
    assert state.billed == (Decimal("12.00"),)
    assert state.in_waldur == (Decimal("18.00"),)
    assert state.held == 1
    page = summaries.offering_page(runs, "2026-11")
    assert page["rows"][0]["cells"][0] == {"component": "nodeHours", "billed": "12.00", "in_waldur": "18.00"}
    assert page["rows"][0]["held"] == 1
    assert "not in Waldur" in pages.offering("", "HPC", "hpc", page)

    _, rows = month_table.month_rows(runs, "2026-11")
    issues = {row["backend_id"]: row["issues"] for row in rows}
    assert issues["g1"] == []
    [note] = issues["g2"]
    assert "held for approval" in note
    assert "not in Waldur, which holds 8.00" in note
    state, rows = month_table.month_rows(runs, "2026-11")
    assert "1 value(s) held for approval" in pages.month(
        "", "HPC", "hpc", month_table.month_table(state, rows), {}
    )

    overview = summaries.overview_row(OFFERING, runs, "2026-11")
    assert overview["last_push"]["held"] == 1
    assert overview["last_push"]["written"] == 1
    assert any("g2 nodeHours: held for approval" in line for line in overview["open_issues"])
    assert overview["months"][-1]["held"] == 1
    assert "held for approval" in pages.overview("", [overview])

    detail = summaries.resource_detail(runs, "2026-11", "g2")
    assert detail is not None
    [entry] = detail["history"]
    assert (entry["old"], entry["new"]) == ("8.00", "2.00")
    assert entry["note"].endswith("not written")


def test_an_approved_held_value_is_in_waldur() -> None:
    approval = {"month": "2026-11", "dry_run": False, "written": 1, "failed": 0, "failures": []}
    runs = [
        run(
            "d1",
            T0,
            held_push("2026-11", {"g1": "10.00", "g2": "2.00"}, {"g2": "8.00"}, "approved", approval),
        )
    ]
    state = month_state.month_state(runs, "2026-11")
    assert state.in_waldur == state.billed == (Decimal("12.00"),)
    assert state.held == 0
    assert state.approval is not None
    assert state.approval.startswith("approved by rev")
    _, rows = month_table.month_rows(runs, "2026-11")
    [note] = next(row["issues"] for row in rows if row["backend_id"] == "g2")
    assert "not in Waldur" not in note
    assert "approved by rev" in note
    overview = summaries.overview_row(OFFERING, runs, "2026-11")
    assert overview["open_issues"] == []


def test_a_failed_approved_write_and_a_lost_held_document_are_not_counted_as_written() -> None:
    failed = {
        "month": "2026-11",
        "dry_run": False,
        "written": 0,
        "failed": 1,
        "failures": [{"backend_id": "g2", "reason": "500"}],
    }
    # The approval's write failed: the task failed before recording a decision.
    runs = [run("d1", T0, held_push("2026-11", {"g1": "10.00", "g2": "2.00"}, {"g2": None}, None, failed))]
    state = month_state.month_state(runs, "2026-11")
    assert state.in_waldur == (Decimal("10.00"),)
    assert state.approval is not None
    assert "write failed" in state.approval
    # Values were held but the held_values document is gone: what Waldur holds is not known.
    gone = pushed("2026-11", {"g1": "10.00", "g2": "2.00"}, held=1)
    page = summaries.offering_page([run("d1", T0, gone)], "2026-11")
    assert page["rows"][0]["complete"] is False
    assert page["rows"][0]["cells"][0]["in_waldur"] == ""


def test_a_close_with_values_held_and_not_written_does_not_close_the_month() -> None:
    whole = {"g1": "10.00", "g2": "2.00"}
    held = held_push("2026-10", whole, {"g2": "8.00"}, "rejected")
    assert not month_state.month_state([run("c1", T0, held, role="close")], "2026-10").closed
    approval = {"month": "2026-10", "dry_run": False, "written": 1, "failed": 0, "failures": []}
    approved = held_push("2026-10", whole, {"g2": "8.00"}, "approved", approval)
    assert month_state.month_state([run("c1", T0, approved, role="close")], "2026-10").closed
