"""Benchmark PushToWaldurOperator against the Waldur sandbox with 5 ms latency per request.

An offering of 1,000 resources x 20 users (20,000 offering users, one component):
  (a) the first push of a month: every total and every user usage is new, so everything is written;
  (b) the same report again: everything is unchanged, so nothing may be written.
Prints the requests by kind, the wall time of each push and the CPU seconds spent by the operator's
process and by the sandbox's, and exits 1 when a target is missed: (a) <= 2,300 requests and < 4 s;
(b) <= 250 requests, none of them a write, and < 3 s.

Run from the repository root: ``python -m benchmarks.bench_push``. ``BENCH_WRITE_CONCURRENCY=12``
overrides the connection's ``write_concurrency`` (default: the hook's default);
``BENCH_SCHEMA_CHECKS=0`` turns the sandbox's OpenAPI checks off, to show what they cost (figures
taken that way must say so). ``BENCH_WALDUR_VERSION=7`` runs the sandbox as Waldur 7.x (default 8:
every resource of the month is written with one date, so all of them tie in the usage listings,
which page tied rows in a new order per request as the real server does: the reads fall back to
one request per resource).

Measured 2026-11-26 on 2 shared cores, load average 1.7-1.8, median of 5 runs (min-max), checks
on, default concurrency 8: (a) 5.6 s (5.0-6.0), CPU operator 4.1 s + sandbox 3.2 s, target
missed; (b) 0.9 s (0.8-1.0), target met. (a) is bound by the operator's CPU (``requests`` and
``urllib3`` per request) plus what the sandbox takes of the second core; see docs/benchmarks.md.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing.connection import Connection as Connection_
from typing import Any

from airflow.sdk import Connection
from airflow.sdk.log import configure_logging

from airflow_provider_cscs_dwdi.core.components import parse_backend_components
from airflow_provider_cscs_dwdi.core.xcom import UsageReport
from airflow_provider_cscs_dwdi.hooks.waldur import DEFAULT_WRITE_CONCURRENCY
from airflow_provider_cscs_dwdi.operators.push import PushToWaldurOperator
from sandbox.waldur import RecordedRequest, WaldurSandbox

RESOURCES = 1_000
USERS_PER_RESOURCE = 20
LATENCY_SECONDS = 0.005
CONN_ID = "waldur_bench"
COMPONENTS = parse_backend_components({"nodeHours": {"measured_unit": "node-hours", "label": "Node Hours"}})


@dataclass(frozen=True)
class Target:
    """What a scenario must achieve."""

    max_requests: int
    max_seconds: float
    writes_allowed: bool


TARGETS = {
    "(a) first push of the month": Target(max_requests=2_300, max_seconds=4.0, writes_allowed=True),
    "(b) same month again": Target(max_requests=250, max_seconds=3.0, writes_allowed=False),
}


def request_kind(request: RecordedRequest) -> str:
    """``"GET marketplace-component-usages"``, ``"POST set_usage"``, ...: the endpoint, without uuids."""
    segments = [segment for segment in request.path.split("/") if segment and segment != "api"]
    return f"{request.method} {segments[-1] if request.method == 'POST' else segments[0]}"


def build_report(
    month: str, resources: int = RESOURCES, users_per_resource: int = USERS_PER_RESOURCE
) -> dict[str, Any]:
    """A report whose totals are the exact sums of distinct users per account (20 by default)."""
    accounts = {}
    for account in range(resources):
        users = {
            f"u{account:04d}_{user:02d}": Decimal(account * 7 + user * 13) / 4 + Decimal("0.25")
            for user in range(users_per_resource)
        }
        accounts[f"a{account:04d}"] = {
            "total": {"nodeHours": f"{sum(users.values()):.2f}"},
            "users": {name: {"nodeHours": f"{amount:.2f}"} for name, amount in users.items()},
        }
    return UsageReport(
        month=month,
        window={"from": f"{month}-01", "to": f"{month}-28"},
        policy="fail",
        components={component.type: component.to_json() for component in COMPONENTS},
        accounts=accounts,
        issues=(),
        counts={
            "pages": 1,
            "entries": resources,
            "user_rows": resources * users_per_resource,
            "accounts_reported": resources,
            "accounts_without_data": 0,
            "accounts_ignored": 0,
            "rows_skipped": 0,
            "issues": 0,
        },
    ).to_xcom()


def seed(
    sandbox: WaldurSandbox, resources: int = RESOURCES, users_per_resource: int = USERS_PER_RESOURCE
) -> str:
    """Create the offering, its resources and offering users; returns the offering uuid."""
    offering = sandbox.add_offering(
        "Benchmark HPC", [{"type": "nodeHours", "billing_type": "usage", "measured_unit": "node-hours"}]
    )
    for account in range(resources):
        sandbox.add_resource(offering, f"a{account:04d}")
        for user in range(users_per_resource):
            sandbox.add_offering_user(offering, f"u{account:04d}_{user:02d}")
    return offering


def serve_sandbox(channel: Connection_, schema_checks: bool = True, version: str = "8") -> None:
    """Child process: the seeded Waldur sandbox, answering ``reset`` / ``stats`` / ``stop``.

    The server runs in its own process so that its work (schema checks of every request, the
    in-memory store) does not compete with the operator for the GIL: the figures are the client's.
    """
    with WaldurSandbox(latency_seconds=LATENCY_SECONDS, validate=schema_checks, version=version) as sandbox:
        offering = seed(sandbox)
        cpu_at_reset = time.process_time()
        channel.send(
            {
                "url": sandbox.url,
                "token": sandbox.staff_token,
                "offering": offering,
                "month": f"{sandbox.today:%Y-%m}",
            }
        )
        while (command := channel.recv()) != "stop":
            if command == "reset":
                sandbox.reset_requests()
                cpu_at_reset = time.process_time()
                channel.send(None)
            elif command == "stats":
                channel.send(
                    {
                        "kinds": Counter(request_kind(request) for request in sandbox.requests),
                        "violations": list(sandbox.schema_violations),
                        "cpu_seconds": time.process_time() - cpu_at_reset,
                    }
                )


def run_scenario(channel: Connection_, name: str, operator: PushToWaldurOperator) -> bool:
    """Push once, print the figures, and say whether the scenario met its target."""
    channel.send("reset")
    channel.recv()
    started, cpu_started = time.perf_counter(), time.process_time()
    result = operator.execute({})
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    channel.send("stats")
    stats = channel.recv()
    kinds: Counter[str] = stats["kinds"]
    requests = sum(kinds.values())
    writes = sum(count for kind, count in kinds.items() if kind.startswith("POST"))
    target = TARGETS[name]
    met = (
        requests <= target.max_requests
        and elapsed < target.max_seconds
        and (target.writes_allowed or writes == 0)
        and not stats["violations"]
        and result["failed"] == 0
    )
    print(f"{name}: {requests} requests ({writes} writes), {elapsed:.2f} s -> {'OK' if met else 'MISSED'}")
    # Both processes share the machine's cores: CPU seconds show which side the wall time waits on.
    print(f"    CPU: operator {cpu:.2f} s, sandbox {stats['cpu_seconds']:.2f} s")
    for kind, count in sorted(kinds.items()):
        print(f"    {count:6d}  {kind}")
    print(f"    result: { {k: v for k, v in result.items() if k not in ('issues', 'failures')} }")
    return met


def main() -> int:
    """Run both scenarios; exit status 1 when a target is missed."""
    configure_logging(log_level="WARNING")  # 21,000 plan lines would drown the figures
    write_concurrency = int(os.environ.get("BENCH_WRITE_CONCURRENCY", DEFAULT_WRITE_CONCURRENCY))
    schema_checks = os.environ.get("BENCH_SCHEMA_CHECKS", "1") != "0"
    version = os.environ.get("BENCH_WALDUR_VERSION", "8")
    channel, child_channel = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=serve_sandbox, args=(child_channel, schema_checks, version), daemon=True
    )
    server.start()
    try:
        sandbox = channel.recv()
        connection = Connection(
            conn_id=CONN_ID,
            conn_type="waldur",
            host=sandbox["url"],
            password=sandbox["token"],
            extra=json.dumps({"write_concurrency": write_concurrency}),
        )
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = connection.as_json()
        operator = PushToWaldurOperator(
            task_id="bench_push",
            report=build_report(sandbox["month"]),
            offering_uuid=sandbox["offering"],
            waldur_conn_id=CONN_ID,
        )
        print(
            f"Offering of {RESOURCES} resources x {USERS_PER_RESOURCE} users, {LATENCY_SECONDS * 1000:.0f} ms "
            f"latency per request, write_concurrency {write_concurrency}, page_size 100; the Waldur {version}.x "
            f"sandbox runs in its own process, schema checks {'on' if schema_checks else 'OFF'}."
        )
        results = [run_scenario(channel, name, operator) for name in TARGETS]
    finally:
        channel.send("stop")
        server.join(timeout=10)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
