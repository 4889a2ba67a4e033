"""Benchmark: the billing view's pages for 20,000 resources x 12 months (docs/benchmarks.md).

The view's own FastAPI app (routing, read model, HTML/JSON/CSV rendering) is called in-process
through Starlette's TestClient; its data source hands over the runs of one offering: one push per
closed month and one per day of the current month (``--daily``), each with a compute report of
``--resources`` accounts x ``--users`` users, parsed once by ``MonthReport.from_xcom`` as the
api-server's cache does per stored document. The last daily push held ``--held`` resources' node
hours for an approval not given yet, so the current month's table shows Waldur's values for them.
Sign-in is replaced by a fixed user (the auth manager's check is one call per DAG, not what scales).

Timed: the parse of one report document (a cache miss, once per stored document), then each
page's first request (which builds the month's rows) and its median over ``--repeat`` requests.

    .venv/bin/python -m benchmarks.bench_view [--resources 20000 --months 12 --daily 5 --users 2 --held 1000
                                              --repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from airflow_provider_cscs_dwdi.view.app import URL_PREFIX, _Data, create_app
from airflow_provider_cscs_dwdi.view.documents import HeldRecord, MonthReport, Offering, PushRecord, RunRecord
from airflow_provider_cscs_dwdi.view.month_state import last_months

SLUG = "bench"


def report_doc(month: str, resources: int, users: int, shift: int) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "month": month,
        "usage_kind": "compute",
        "window": {"from": f"{month}-01", "to": f"{month}-28"},
        "components": {
            "nodeHours": {"label": "Node Hours", "unit_factor": "1"},
            "gpuHours": {"label": "GPU Hours", "unit_factor": "1"},
        },
        "accounts": {
            f"g{index:05d}": {
                "total": {"nodeHours": f"{(index * 7 + shift) % 9973}.25", "gpuHours": f"{index % 97}.50"},
                "users": {f"u{user}": {"nodeHours": f"{index % 13}.10"} for user in range(users)},
            }
            for index in range(resources)
        },
        "issues": [],
        "counts": {},
    }


class BenchData(_Data):
    def __init__(self, runs: list[RunRecord]) -> None:
        self._runs = runs
        self._offering = Offering(SLUG, "Bench HPC", {"usage": "cscs_dwdi_usage_bench"})

    def offerings(self) -> dict[str, Offering]:
        return {SLUG: self._offering}

    def runs(self, offering: Offering) -> list[RunRecord]:
        return self._runs


def held_doc(resources: int) -> dict[str, Any]:
    """The anomaly guard's held-values document for the node hours of the first ``resources``."""
    backend_ids = [f"g{index:05d}" for index in range(resources)]
    return {
        "pairs": [[backend_id, "nodeHours"] for backend_id in backend_ids],
        "rows": [
            {
                "resource": backend_id,
                "component": "nodeHours",
                "user": None,
                "waldur_now": "1.00",
                "why": "bench",
            }
            for backend_id in backend_ids
        ],
    }


def build_runs(
    resources: int, months: int, daily: int, users: int, held: int = 0
) -> tuple[list[RunRecord], float, str]:
    now = datetime.now(UTC)
    current = f"{now.year:04d}-{now.month:02d}"
    uuids = {f"g{index:05d}": (f"{index:032x}",) for index in range(resources)}
    runs: list[RunRecord] = []
    parse_times: list[float] = []

    def push(month: str, shift: int, at: datetime, held_values: int = 0) -> None:
        doc = json.loads(json.dumps(report_doc(month, resources, users, shift)))
        started = time.perf_counter()
        report = MonthReport.from_xcom(doc)
        parse_times.append(time.perf_counter() - started)
        result = {
            "month": month,
            "dry_run": False,
            "written": resources - held_values,
            "unchanged": 0,
            "failed": 0,
            "held": held_values,
        }
        held_record = HeldRecord.from_xcom(held_doc(held_values), None, None) if held_values else None
        runs.append(
            RunRecord(
                "cscs_dwdi_usage_bench",
                f"run_{month}_{shift}",
                "usage",
                "success",
                at,
                (PushRecord(month, report, result, held=held_record),),
                None,
                uuids,
            )
        )

    for offset, month in enumerate(last_months(current, months)[:-1]):
        push(month, offset, now - timedelta(days=400 - offset * 31))
    for day in range(daily):
        push(current, 100 + day, now - timedelta(days=daily - day), held if day == daily - 1 else 0)
    return runs, statistics.median(parse_times), current


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resources", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--daily", type=int, default=5)
    parser.add_argument("--users", type=int, default=2)
    parser.add_argument("--held", type=int, default=1000, help="resources held in the last daily push")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    runs, parse, current = build_runs(args.resources, args.months, args.daily, args.users, args.held)
    # Mounted under its prefix as the api-server mounts it.
    api_server = FastAPI()
    api_server.mount(
        URL_PREFIX, create_app(BenchData(runs), user_dependency=lambda: "bench", authorize=lambda u, o: True)
    )
    client = TestClient(api_server)
    base = f"{URL_PREFIX}/offerings/{SLUG}"
    closed = last_months(current, 2)[0]
    pages = {
        "offering page (HTML)": f"{base}",
        "offering (JSON)": f"/api/offerings/{SLUG}",
        "month table, page 1 of 100 rows (HTML)": f"{base}/{closed}",
        "month table sorted by a component, descending": f"{base}/{closed}?sort=nodeHours&order=desc",
        "month table filtered (substring of backend ID)": f"{base}/{closed}?q=g19",
        "month table, last page (JSON)": f"/api/offerings/{SLUG}/{closed}?page=200",
        f"CSV of the whole month ({args.resources:,} rows)": f"{base}/{closed}.csv",
        "resource detail (users, history)": f"{base}/{current}/resources/g{args.resources // 2:05d}",
        f"current month with {args.held} held values, page 1 (HTML)": f"{base}/{current}",
    }
    figures: dict[str, Any] = {
        "resources": args.resources,
        "months": args.months,
        "daily_pushes": args.daily,
        "held": args.held,
        "report_parse_s": round(parse, 4),
        "pages": {},
    }
    for label, path in pages.items():
        url = path if path.startswith(URL_PREFIX) else URL_PREFIX + path
        started = time.perf_counter()
        reply = client.get(url)
        first = time.perf_counter() - started
        if reply.status_code != 200:
            print(f"{label}: HTTP {reply.status_code} {reply.text[:200]}", file=sys.stderr)
            return 1
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            client.get(url)
            times.append(time.perf_counter() - started)
        figures["pages"][label] = {"first_s": round(first, 4), "median_s": round(statistics.median(times), 4)}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"{args.resources} resources x {args.months} months ({args.daily} daily pushes this month): "
        f"one report parsed (cache miss) in {parse:.3f} s"
    )
    print(f"  {'page':<50} {'first (s)':>10} {'median (s)':>11}")
    for label, times in figures["pages"].items():
        print(f"  {label:<50} {times['first_s']:>10.3f} {times['median_s']:>11.3f}")
    slow = [label for label, times in figures["pages"].items() if times["median_s"] >= 1.0]
    if slow:
        print(f"SLOWER THAN 1 s: {', '.join(slow)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
