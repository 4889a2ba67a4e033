"""One sample of every document handed between tasks (core.xcom), for the XCom tests."""

from __future__ import annotations

from airflow_provider_cscs_dwdi.core.issues import Issue
from airflow_provider_cscs_dwdi.core.report import build_report
from airflow_provider_cscs_dwdi.core.xcom import (
    BackendIds,
    BillingPlan,
    FetchResult,
    PushResult,
    UsageReport,
    WriteFailure,
)
from tests.core.usage_support import THREE, aggregator, dwdi

ISSUE = Issue(
    kind="duplicate_backend_id", message="backend_id 'g2' belongs to 2 Waldur resources", account="g2"
)
BACKEND_IDS = BackendIds(
    backend_ids=("g1", "g2"),
    issues=(ISSUE,),
    resource_uuids={"g1": ("0a" * 16,), "g2": ("1b" * 16, "2c" * 16)},
)
PLAN = BillingPlan(months=("2026-10", "2026-11"), accounts=("g1", "g2"))
FETCH = FetchResult(
    month="2026-11",
    window={"from": "2026-11-01", "to": "2026-11-23"},
    query={"from": "2026-11", "to": "2026-11", "clusters": ["daint"]},
    accounts_requested=2,
    accounts_sha256="a" * 64,
    archive="file:///tmp/archive/cscs_dwdi_usage_hpc/2026-11/manual.jsonl.gz",
    archive_sha256="b" * 64,
    archive_bytes=1234,
    pages=1,
    entries=3,
    user_rows=7,
    host="worker-1",
)
PUSH = PushResult(
    month="2026-11",
    dry_run=False,
    changed=2,
    written=1,
    unchanged=3,
    skipped=1,
    failed=1,
    user_usages_written=4,
    issues=(ISSUE,),
    failures=(
        WriteFailure("g2", None, "backend_id matches 2 Waldur resources"),
        WriteFailure("g1", "a1b2", "Resource is not in valid state."),
    ),
)
#: A storage month: one resource DWDI had no level for, another inference fetch.
STORAGE_PUSH = PushResult(
    month="2026-11",
    dry_run=False,
    changed=1,
    written=1,
    unchanged=0,
    skipped=0,
    failed=0,
    user_usages_written=0,
    issues=(),
    failures=(),
    without_data_count=1,
    without_data=("s4",),
)
INFERENCE_FETCH = FetchResult(
    month="2026-11",
    window={"from": "2026-11-01", "to": "2026-11-23"},
    query={"from": "2026-11", "to": "2026-11"},
    accounts_requested=2,
    accounts_sha256="c" * 64,
    archive="file:///tmp/archive/cscs_dwdi_usage_llm/2026-11/manual.jsonl.gz",
    archive_sha256="d" * 64,
    archive_bytes=321,
    pages=1,
    entries=2,
    user_rows=0,
    usage_kind="inference",
)


def sample_report() -> UsageReport:
    """A report with three components, rounding, an account without data and a skipped row."""
    agg = aggregator(THREE, policy="skip", requested_accounts=["g1", "g2"])
    agg.add_response(
        dwdi(
            '{"compute": [{"account": "g1", "cluster": "daint", "totalNodeHours": 2.5, "users": ['
            '{"username": "alice", "nodeHours": 1.005, "gpuHours": 0.125, "cpuHours": 10},'
            '{"username": "bob", "nodeHours": null}]}]}'
        ),
        source="page 0",
    )
    return build_report(agg.result(), month="2026-11", window={"from": "2026-11-01", "to": "2026-11-23"})
