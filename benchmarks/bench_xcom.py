"""Benchmark: writing and reading back the XCom documents of 10,000 resources (``core.xcom``).

What the tasks do with their documents, on this machine, without Airflow or HTTP: the producing
task's ``to_xcom()``, then the consuming task's ``from_xcom()`` of the JSON, for

- the backend IDs of 10,000 resources (with their Waldur resource UUIDs);
- the compute report of 10,000 accounts x 20 users (``UsageReport``, checked when read);
- the storage report of 10,000 paths (no users);
- a push result with 50 issues and 50 failures.

Each is timed ``--repeat`` times; the medians are printed. Compare two versions by running the
script against each, e.g. with ``PYTHONPATH`` pointing at another checkout's package.

    .venv/bin/python -m benchmarks.bench_xcom [--resources 10000 --users 20 --repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from airflow_provider_cscs_dwdi.core.issues import Issue
from airflow_provider_cscs_dwdi.core.xcom import BackendIds, PushResult, UsageReport, WriteFailure


def backend_ids(resources: int) -> BackendIds:
    ids = tuple(f"g{index:05d}" for index in range(resources))
    return BackendIds(
        backend_ids=ids,
        issues=(),
        resource_uuids={backend_id: (f"{index:032x}",) for index, backend_id in enumerate(ids)},
    )


def compute_report(accounts: int, users: int) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "month": "2026-11",
        "usage_kind": "compute",
        "window": {"from": "2026-11-01", "to": "2026-11-30"},
        "policy": "fail",
        "components": {
            "nodeHours": {
                "measured_unit": "node-hours",
                "label": "Node Hours",
                "unit_factor": "1",
                "accounting_type": "usage",
                "dwdi_field": "nodeHours",
            }
        },
        "accounts": {
            f"g{account:05d}": {
                "total": {"nodeHours": f"{account * users}.25"},
                "users": {f"user{user:02d}": {"nodeHours": f"{account}.01"} for user in range(users)},
            }
            for account in range(accounts)
        },
        "issues": [],
        "counts": {"pages": 19, "entries": accounts, "user_rows": accounts * users, "issues": 0},
        "ignored_accounts_sample": [],
        "without_data": [],
    }


def storage_report(paths: int) -> dict[str, Any]:
    report = compute_report(paths, 0)
    report["usage_kind"] = "storage"
    return report


def push_result() -> PushResult:
    issue = Issue(kind="no_waldur_resource", message="g1: no Waldur resource", account="g1")
    return PushResult(
        month="2026-11",
        dry_run=False,
        changed=10_000,
        written=9_900,
        unchanged=0,
        skipped=50,
        failed=50,
        user_usages_written=198_000,
        issues=(issue,) * 50,
        failures=tuple(WriteFailure(f"g{index}", None, "refused") for index in range(50)),
    )


def median_seconds(action: Callable[[], Any], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return round(statistics.median(timings), 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    args = parser.parse_args(argv)

    ids = backend_ids(args.resources)
    ids_doc = json.loads(json.dumps(ids.to_xcom()))
    compute_doc = compute_report(args.resources, args.users)
    storage_doc = storage_report(args.resources)
    compute = UsageReport.from_xcom(compute_doc)
    push = push_result()
    push_doc = json.loads(json.dumps(push.to_xcom()))
    figures = {
        "backend_ids_to_xcom": median_seconds(ids.to_xcom, args.repeat),
        "backend_ids_from_xcom": median_seconds(lambda: BackendIds.from_xcom(ids_doc), args.repeat),
        "compute_report_to_xcom": median_seconds(compute.to_xcom, args.repeat),
        "compute_report_from_xcom": median_seconds(lambda: UsageReport.from_xcom(compute_doc), args.repeat),
        "storage_report_from_xcom": median_seconds(lambda: UsageReport.from_xcom(storage_doc), args.repeat),
        "push_result_from_xcom": median_seconds(lambda: PushResult.from_xcom(push_doc), args.repeat),
    }
    if args.json:
        print(json.dumps({"resources": args.resources, "users": args.users, "median_seconds": figures}))
    else:
        print(
            f"XCom documents of {args.resources:,} resources ({args.users} users each in the compute report)"
        )
        for name, seconds in figures.items():
            print(f"  {name:<28} {seconds * 1000:9.1f} ms (median of {args.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
