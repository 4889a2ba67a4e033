"""Benchmark: what the anomaly guard adds to a push of a large compute month.

The guard reads its evidence from two fetch archives (the current fetch's and the month's last
push's), one pass each (``core.anomalies.archive_evidence``), and compares the totals of every
resource and component (``find_anomalies``). This builds the archive of ``bench_aggregate``
(default 10,000 accounts x 20 users x 30 days = 6 million user rows), then times:

- one ``archive_evidence`` pass over it (the push reads two: now and the last push);
- ``find_anomalies`` over 10,000 accounts: a normal day (totals grown a little since the last
  push, nothing found) and a day with one cluster's data missing for 1 % of the accounts (those
  found).

Archive generation is not timed. Prints seconds per phase and the peak RSS of the process;
``--json`` prints them as JSON.

    .venv/bin/python -m benchmarks.bench_guard [--accounts 10000 --users 20 --days 30]
"""

from __future__ import annotations

import io
import json
import platform
import random
import sys
import time
from decimal import Decimal

from airflow_provider_cscs_dwdi.core.anomalies import (
    AnomalyCheck,
    AnomalyGuardSettings,
    GuardEvidence,
    archive_evidence,
    find_anomalies,
)
from airflow_provider_cscs_dwdi.core.archive import ArchiveWriter, read_archive
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from benchmarks.bench_aggregate import MONTH, month_arguments, pages, peak_rss_mib


def build_archive(accounts: list[str], users: int, days: int, seed: int) -> tuple[bytes, dict[str, Decimal]]:
    """The fetch archive of the month (gzip JSON lines) and each account's exact total."""
    archive_file = io.BytesIO()
    exact: dict[str, Decimal] = {}
    with ArchiveWriter(archive_file) as archive:
        archive.write_header(
            month=MONTH,
            window={"from": f"{MONTH}-01", "to": f"{MONTH}-30"},
            query={"from": MONTH, "to": MONTH, "clusters": None},
            accounts=accounts,
        )
        for number, (batch, raw, sums) in enumerate(pages(accounts, users, days, seed)):
            archive.write_page(number, 200, batch, raw)
            exact.update(sums)
    return archive_file.getvalue(), exact


def main(argv: list[str] | None = None) -> int:
    args = month_arguments(__doc__.splitlines()[0], argv)

    accounts = [f"g{number:05d}" for number in range(args.accounts)]
    archive, exact = build_archive(accounts, args.users, args.days, args.seed)

    started = time.perf_counter()
    header, archived_pages = read_archive(io.BytesIO(archive))
    evidence = archive_evidence(header, archived_pages)
    evidence_seconds = time.perf_counter() - started
    if evidence.accounts_with_data != len([amount for amount in exact.values() if amount > 0]):
        print(f"WRONG: {evidence.accounts_with_data} accounts with data", file=sys.stderr)
        return 1

    settings = AnomalyGuardSettings()
    rng = random.Random(args.seed)
    now = {account: {"nodeHours": amount.quantize(Decimal("0.01"))} for account, amount in exact.items()}
    # The last push, a day earlier: every total a little lower than now.
    before = {
        account: {"nodeHours": (totals["nodeHours"] * Decimal("0.96")).quantize(Decimal("0.01"))}
        for account, totals in now.items()
    }
    previous_month = {account: {"nodeHours": totals["nodeHours"]} for account, totals in now.items()}
    normal = GuardEvidence(
        month=MONTH,
        usage_kind=UsageKind.COMPUTE,
        new_totals=now,
        waldur_totals=before,
        previous_month_totals=previous_month,
        clusters_now=evidence.clusters,
        clusters_last_push=evidence.clusters,
        accounts_with_data_now=evidence.accounts_with_data,
        accounts_with_data_last_push=evidence.accounts_with_data,
        last_push_month=MONTH,
    )
    started = time.perf_counter()
    found_normal = find_anomalies(normal, settings)
    normal_seconds = time.perf_counter() - started

    # One cluster's rows missing for 1 % of the accounts: their totals fall, their cluster is gone.
    dropped = set(rng.sample(accounts, max(1, args.accounts // 100)))
    late = normal.model_copy(
        update={
            "new_totals": {
                account: {"nodeHours": totals["nodeHours"] / 2 if account in dropped else totals["nodeHours"]}
                for account, totals in now.items()
            },
            "waldur_totals": now,
            "clusters_now": {
                account: frozenset() if account in dropped else clusters
                for account, clusters in (evidence.clusters or {}).items()
            },
        }
    )
    started = time.perf_counter()
    found_late = find_anomalies(late, settings)
    late_seconds = time.perf_counter() - started
    named = {anomaly.backend_id for anomaly in found_late if anomaly.check is AnomalyCheck.CLUSTER_MISSING}
    if found_normal or named != dropped:
        print(
            f"WRONG: {len(found_normal)} anomalies on a normal day, {len(named)} of {len(dropped)} found",
            file=sys.stderr,
        )
        return 1

    figures = {
        "accounts": args.accounts,
        "archive_bytes": len(archive),
        "evidence_pass_seconds": round(evidence_seconds, 2),
        "checks_normal_day_seconds": round(normal_seconds, 3),
        "checks_late_cluster_seconds": round(late_seconds, 3),
        "anomalies_late_cluster": len(found_late),
        "peak_rss_mib": round(peak_rss_mib()),
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"archive of {args.accounts:,} accounts: {len(archive):,} bytes (gzip)")
        print(f"  one evidence pass over the archive (the push reads two): {evidence_seconds:6.2f} s")
        print(f"  checks, normal day (0 anomalies):                        {normal_seconds:6.3f} s")
        print(
            f"  checks, one cluster late for {len(dropped)} accounts ({len(found_late)} anomalies): "
            f"{late_seconds:6.3f} s"
        )
        print(f"  peak RSS:                                                {figures['peak_rss_mib']:,} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
