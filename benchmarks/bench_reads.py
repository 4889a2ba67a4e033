"""Count the requests a push and an audit read from Waldur, at 1,000 user usages per month.

An offering of 8 resources x 125 users (1,000 user usages, one component; the groups of one
resource's rows straddle the boundaries of pages of 100 and of 300) on the Waldur sandbox,
which pages its usage listings as Waldur 7.0.7 does: ordered by (date, component type) only, rows
of equal key in a new order for each page request (``listing_seed``, so the counts are the same
on every run). Per server version (7: every resource's usage has its own date, the ties are one
resource's user usages; 8: one date for the whole month, every resource ties):

  push     the first push of the month (everything written);
  re-push  the same report again (nothing may be written);
  audit    the drift audit's read of the month, right after.

Then the push and re-push again with the anomaly guard on (its default settings, as the usage
DAG's push runs it): its evidence reads the previous month's component usages.

Prints the requests by listing and whether the push and audit were exact (the re-push wrote
nothing, the audit found no difference). Request counts are deterministic; no timing is taken.
Run from the repository root: ``python -m benchmarks.bench_reads``.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from datetime import UTC, date, datetime

from airflow.sdk import Connection
from airflow.sdk.log import configure_logging

from airflow_provider_cscs_dwdi.core.xcom import UsageReport
from airflow_provider_cscs_dwdi.operators.push import PushToWaldurOperator
from benchmarks.bench_push import build_report, request_kind, seed
from sandbox.waldur import WaldurSandbox

RESOURCES = 8
USERS_PER_RESOURCE = 125
CONN_ID = "waldur_bench_reads"
TODAY = date(2026, 11, 17)
COMPONENT_SETTINGS = {"nodeHours": {"measured_unit": "node-hours", "label": "Node Hours"}}


def reads(sandbox: WaldurSandbox) -> str:
    """The GET requests since the last reset, by listing (``12 user-usages, 1 resources, ...``)."""
    kinds = Counter(request_kind(r) for r in sandbox.requests if r.method == "GET")
    short = {
        "GET marketplace-component-user-usages": "user-usages",
        "GET marketplace-component-usages": "component-usages",
        "GET marketplace-provider-resources": "resources",
        "GET marketplace-provider-offerings": "offering",
        "GET marketplace-offering-users": "offering-users",
    }
    return ", ".join(f"{count} {short.get(kind, kind)}" for kind, count in sorted(kinds.items()))


def run(version: str, *, guard: bool = False) -> list[str]:
    """The three scenarios on one server version; returns the table rows.

    ``guard``: the push carries the anomaly guard with its default settings, as the usage DAG's
    push does (its evidence adds a listing of the previous month's component usages); the audit
    has no guard either way.
    """
    from airflow_provider_cscs_dwdi.core.anomalies.settings import AnomalyGuardSettings
    from airflow_provider_cscs_dwdi.operators.audit import AuditWaldurOperator

    rows = []
    with WaldurSandbox(version=version, today=TODAY, validate=False, listing_seed=7) as sandbox:
        offering = seed(sandbox, RESOURCES, USERS_PER_RESOURCE)
        connection = Connection(
            conn_id=CONN_ID, conn_type="waldur", host=sandbox.url, password=sandbox.staff_token
        )
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = connection.as_json()
        report = build_report(f"{TODAY:%Y-%m}", RESOURCES, USERS_PER_RESOURCE)
        push = PushToWaldurOperator(
            task_id="push",
            report=report,
            offering_uuid=offering,
            waldur_conn_id=CONN_ID,
            anomaly_guard=AnomalyGuardSettings().model_dump(mode="json") if guard else None,
            clock=lambda: datetime(TODAY.year, TODAY.month, TODAY.day, 13, tzinfo=UTC),
        )
        audit = AuditWaldurOperator(
            task_id="audit",
            reports=[report],
            offering_uuid=offering,
            waldur_conn_id=CONN_ID,
            backend_components=COMPONENT_SETTINGS,
        )
        for name in ("push", "re-push") if guard else ("push", "re-push", "audit"):
            sandbox.reset_requests()
            if name == "audit":
                audited = audit._audit(UsageReport.from_xcom(report))
                outcome = "clean" if audited.clean else f"{len(audited.drifts)} difference(s)"
            else:
                try:
                    result = push.execute({})
                    outcome = f"{result['user_usages_written']} user usages written"
                except Exception as error:  # the figures of a push that fails are still the point
                    outcome = f"FAILED: {str(error).splitlines()[0]}"
            gets = sum(1 for r in sandbox.requests if r.method == "GET")
            label = f"{name}, guard on" if guard else name
            rows.append(f"| {version}.x | {label} | {gets} | {reads(sandbox)} | {outcome} |")
    return rows


def main() -> int:
    """Print the table (Markdown, as on docs/benchmarks.md)."""
    configure_logging(log_level="ERROR")
    print(
        f"{RESOURCES} resources x {USERS_PER_RESOURCE} users = {RESOURCES * USERS_PER_RESOURCE} user usages"
    )
    print("| server | scenario | read requests | by listing | outcome |")
    print("|---|---|---|---|---|")
    for guard in (False, True):
        for version in ("7", "8"):
            for row in run(version, guard=guard):
                print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
