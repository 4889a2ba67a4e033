"""benchmarks/bench_view.py at a small size: it runs, and the held values it adds reach the table."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from airflow_provider_cscs_dwdi.view.app import URL_PREFIX, create_app
from benchmarks import bench_view


def test_the_benchmark_runs_at_a_small_size_and_times_the_held_page(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--resources", "60", "--months", "3", "--daily", "2", "--held", "6", "--repeat", "1", "--json"]
    assert bench_view.main(argv) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["held"] == 6
    assert "current month with 6 held values, page 1 (HTML)" in figures["pages"]
    assert len(figures["pages"]) == 9


def test_the_held_values_show_in_the_current_months_table_with_waldurs_value() -> None:
    runs, _, current = bench_view.build_runs(60, 3, 2, 1, held=6)
    api_server = FastAPI()
    api_server.mount(
        URL_PREFIX,
        create_app(bench_view.BenchData(runs), user_dependency=lambda: "t", authorize=lambda u, o: True),
    )
    rows = (
        TestClient(api_server).get(f"{URL_PREFIX}/api/offerings/{bench_view.SLUG}/{current}").json()["rows"]
    )
    # A row: backend ID, Waldur resource, the components' totals and changes, then its issues.
    held = {row[0]: row[-1] for row in rows if "held for approval" in row[-1]}
    assert sorted(held) == [f"g{index:05d}" for index in range(6)]
    assert all(issue.endswith("not in Waldur, which holds 1.00") for issue in held.values()), held
