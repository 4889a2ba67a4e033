"""Benchmark: DWDI responses in hand -> archived -> aggregated report, for a large month.

Generates DWDI compute responses for ``--accounts`` accounts x ``--users`` users x ``--days`` daily
rows (default 10,000 x 20 x 30 = 6 million user rows), split into pages the way the DWDIHook
splits a request (URLs <= 8 KiB), and runs exactly what the two operators run on them:

- fetch: the row count, then the gzip JSON-lines archive write (the fetch task does not parse);
- aggregate: stream the archive back (JSON with Decimal numbers) through ``UsageAggregator`` and
  build the report (whose size is the XCom size).

Page generation is not timed. Prints rows/s, wall time per phase, peak RSS (the whole process,
page generation included), archive bytes and XCom bytes; ``--json`` prints them as JSON.

    .venv/bin/python -m benchmarks.bench_aggregate [--accounts 10000 --users 20 --days 30]
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import random
import resource
import sys
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal

from airflow_provider_cscs_dwdi.core.archive import ArchiveWriter, read_archive
from airflow_provider_cscs_dwdi.core.components import parse_backend_components
from airflow_provider_cscs_dwdi.core.report import build_report
from airflow_provider_cscs_dwdi.core.usage import UsageAggregator
from airflow_provider_cscs_dwdi.hooks.dwdi import count_rows, split_accounts

MONTH = "2026-11"
COMPONENTS = parse_backend_components(
    {"nodeHours": {"measured_unit": "node-hours", "accounting_type": "usage", "label": "Node Hours"}}
)
BASE_URL = "https://dwdi.example.cscs.ch/api/v1/compute/usage-month-multiaccount"


def generate_page(
    accounts: list[str], users: int, days: int, rng: random.Random
) -> tuple[bytes, dict[str, Decimal]]:
    """One DWDI response body for ``accounts`` (raw JSON bytes) and each account's exact sum."""
    entries = []
    sums: dict[str, Decimal] = {}
    for account in accounts:
        rows = []
        account_sum = 0
        for user in range(users):
            username = f"{account}_u{user:02d}"
            for day in range(1, days + 1):
                thousandths = rng.randrange(0, 48_000)
                account_sum += thousandths
                rows.append(
                    f'{{"username":"{username}","nodeHours":{thousandths / 1000!r},'
                    f'"usageDate":"{MONTH}-{day:02d}"}}'
                )
        sums[account] = Decimal(account_sum) / 1000
        entries.append(
            f'{{"account":"{account}","cluster":"daint","totalNodeHours":{account_sum / 1000!r},'
            f'"users":[{",".join(rows)}]}}'
        )
    return ('{"compute":[' + ",".join(entries) + "]}").encode(), sums


def pages(
    account_names: list[str], users: int, days: int, seed: int
) -> Iterator[tuple[list[str], bytes, dict[str, Decimal]]]:
    rng = random.Random(seed)
    for batch in split_accounts(BASE_URL, MONTH, MONTH, account_names):
        raw, exact = generate_page(batch, users, days, rng)
        yield batch, raw, exact


def peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def month_arguments(description: str, argv: list[str] | None) -> argparse.Namespace:
    """The month these benchmarks generate (accounts x users x days, seeded) and --json."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = month_arguments(__doc__.splitlines()[0], argv)

    account_names = [f"g{number:05d}" for number in range(args.accounts)]
    archive_file = io.BytesIO()
    fetch_seconds = 0.0
    user_rows = 0
    page_count = 0
    exact: dict[str, Decimal] = {}
    with ArchiveWriter(archive_file) as archive:
        archive.write_header(
            month=MONTH,
            window={"from": f"{MONTH}-01", "to": f"{MONTH}-30"},
            query={"from": MONTH, "to": MONTH, "clusters": None},
            accounts=account_names,
        )
        for batch, raw, page_sums in pages(account_names, args.users, args.days, args.seed):
            started = time.perf_counter()
            _, rows = count_rows(raw)
            archive.write_page(page_count, 200, batch, raw)
            fetch_seconds += time.perf_counter() - started
            user_rows += rows
            page_count += 1
            exact.update(page_sums)
            del raw
    archive_bytes = archive.bytes_written

    started = time.perf_counter()
    archive_file.seek(0)
    header, archived_pages = read_archive(archive_file)
    aggregator = UsageAggregator(COMPONENTS, requested_accounts=header["accounts"])
    for page in archived_pages:
        aggregator.add_response(page["body"], source=f"page {page['page']}")
    report = build_report(aggregator.result(), month=MONTH, window=header["window"]).to_xcom()
    aggregate_seconds = time.perf_counter() - started
    xcom_bytes = len(json.dumps(report).encode())

    wrong = [
        account
        for account, amount in exact.items()
        if Decimal(report["accounts"][account]["total"]["nodeHours"])
        != amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    ]
    if wrong or len(report["accounts"]) != len(exact):
        print(f"WRONG TOTALS for {len(wrong)} account(s), e.g. {wrong[:5]}", file=sys.stderr)
        return 1
    reported = sum(Decimal(account["total"]["nodeHours"]) for account in report["accounts"].values())

    total_seconds = fetch_seconds + aggregate_seconds
    figures = {
        "accounts": args.accounts,
        "user_rows": user_rows,
        "pages": page_count,
        "fetch_side_seconds": round(fetch_seconds, 2),
        "aggregate_side_seconds": round(aggregate_seconds, 2),
        "total_seconds": round(total_seconds, 2),
        "rows_per_second": round(user_rows / total_seconds),
        "peak_rss_mib": round(peak_rss_mib()),
        "archive_bytes": archive_bytes,
        "xcom_report_bytes": xcom_bytes,
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{user_rows:,} user rows in {page_count} pages for {args.accounts:,} accounts")
        print(f"  fetch side (check, count, archive):  {fetch_seconds:6.2f} s")
        print(f"  aggregate side (read, parse, sum):    {aggregate_seconds:6.2f} s")
        print(
            f"  total:                                {total_seconds:6.2f} s  ({figures['rows_per_second']:,} rows/s)"
        )
        print(f"  peak RSS:                             {figures['peak_rss_mib']:,} MiB")
        print(f"  archive:                              {archive_bytes:,} bytes (gzip)")
        print(f"  report (aggregate XCom):              {xcom_bytes:,} bytes")
        print(f"  every account total = exact sum of its rows, rounded half up (grand total {reported})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
