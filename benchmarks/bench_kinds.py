"""Benchmark: storage (10,000 paths) and inference (10,000 resources), fetch + aggregate over HTTP.

For each kind, what the fetch and aggregate tasks do, end to end on this machine:

- fetch: the real :class:`DWDIHook` gets a token from the Node OIDC issuer (client credentials)
  and asks the DWDI double, over loopback HTTP, for one month of every key (the hook splits the
  list so that no URL exceeds 8 KiB); each raw page is written to a gzip archive file with
  :class:`ArchiveWriter` and its entries counted, as ``operators/fetch.py`` does;
- aggregate: the archive is streamed back (JSON with ``Decimal`` numbers, checksum verified, as
  ``operators/aggregate.py`` does) through the kind's aggregator, and ``build_report`` builds the
  report whose JSON size is the XCom size.

The double runs in its own process (its JSON encoding and JWT checks do not compete with the
client for the GIL); starting it and the issuer is not timed. Every billed amount is checked
against the double's own expectation (``expected_levels`` / ``expected_costs``, computed with
``Decimal`` from the served rows), times the component's ``unit_factor`` and rounded half up to
cents. Exit status 1 on any difference, any request that was not a 200 with the client's token,
or a missed target: fetch + aggregate < 5 s per kind and peak RSS < 300 MiB.

    .venv/bin/python -m benchmarks.bench_kinds [--paths 10000 --resources 10000] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from airflow.sdk import Connection
from airflow.sdk.log import configure_logging

from airflow_provider_cscs_dwdi.core.archive import ArchiveWriter, ChecksumReader, read_archive
from airflow_provider_cscs_dwdi.core.months import month_window
from airflow_provider_cscs_dwdi.core.report import build_report
from airflow_provider_cscs_dwdi.hooks.dwdi import DWDIHook
from benchmarks.kinds_scenarios import (
    CENT,
    CLIENT,
    CONN_ID,
    TARGET_RSS_MIB,
    TARGET_SECONDS,
    Kind,
    cpu_seconds,
    inference_kind,
    serve_dwdi,
    storage_kind,
)
from sandbox.oidc_issuer import OidcIssuerProcess

# ---------------------------------------------------------------------- the two tasks


def fetch(kind: Kind, month: str, window: dict[str, str], target: Path) -> dict[str, Any]:
    """The fetch task's steps: a fresh hook (so its token request is timed), pages archived raw."""
    pages = entries = 0
    with DWDIHook(CONN_ID) as hook, target.open("wb") as raw_file, ArchiveWriter(raw_file) as archive:
        archive.write_header(month=month, window=window, query=kind.query(month), accounts=kind.keys)
        # The first request would fetch the token anyway; asking first only separates its time.
        started = time.perf_counter()
        hook.get_token()
        token_seconds = time.perf_counter() - started
        for page in kind.pages(hook, month):
            archive.write_page(page.index, page.status, page.keys, page.raw)
            entries += kind.count_entries(page.raw)
            pages += 1
    return {
        "pages": pages,
        "entries": entries,
        "api_requests": hook.api_requests,
        "token_requests": hook.token_requests,
        "archive_bytes": archive.bytes_written,
        "archive_sha256": archive.sha256,
        "token_seconds": token_seconds,
    }


def aggregate(kind: Kind, month: str, target: Path, archive_sha256: str) -> dict[str, Any]:
    """The aggregate task's steps: stream the archive, verify its checksum, sum, build the report."""
    with target.open("rb") as raw_file:
        reader = ChecksumReader(raw_file)
        header, pages = read_archive(reader)
        aggregator = kind.aggregator()
        for page in pages:
            aggregator.add_response(page["body"], source=f"page {page['page']}")
        reader.drain()
    if reader.hexdigest() != archive_sha256:
        raise RuntimeError(f"{target}: checksum differs from the one the fetch recorded")
    return build_report(aggregator.result(), month=month, window=header["window"]).to_xcom()


# ---------------------------------------------------------------------- checks and figures


def billing_differences(
    kind: Kind, report: Mapping[str, Any], expected: Mapping[str, Any], without_data: list[str]
) -> list[str]:
    """Every resource whose billed amounts differ from the double's expectation (empty: all equal).

    Independent of the aggregator: the double's exact Decimal values, times the configured factor,
    rounded half up to cents; resources without data must be absent (storage) or 0.00 (inference).
    """
    factors = {component: Decimal(settings["unit_factor"]) for component, settings in kind.components.items()}
    fields = {component: settings["dwdi_field"] for component, settings in kind.components.items()}
    wanted: dict[str, dict[str, str]] = {}
    no_data = set(without_data)
    with localcontext() as context:
        context.prec = 60  # a 15-digit level times a factor is exact well within this
        for key, backend_id in kind.backend_ids.items():
            if key in no_data:
                continue
            raw = expected.get(key, Decimal(0))  # inference: a resource without data costs 0
            wanted[backend_id] = {
                component: str(
                    ((raw[fields[component]] if isinstance(raw, Mapping) else raw) * factor).quantize(
                        CENT, rounding=ROUND_HALF_UP
                    )
                )
                for component, factor in factors.items()
            }
    accounts = report["accounts"]
    wrong = [
        backend_id
        for backend_id, total in wanted.items()
        if accounts.get(backend_id, {}).get("total") != total
    ]
    wrong += sorted(set(accounts) - set(wanted))
    reported_without = set(report.get("without_data", []))
    wrong += sorted(reported_without ^ {kind.backend_ids[key] for key in no_data})
    return wrong


def peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_kind(kind: Kind, channel: Pipe, issuer: OidcIssuerProcess, workdir: Path) -> dict[str, Any]:
    """Fetch and aggregate one kind, check it and return its figures (``ok`` says all is well)."""
    today = datetime.now(UTC).date()
    month = f"{today:%Y-%m}"
    window = month_window(month, today)
    target = workdir / f"{kind.name}.jsonl.gz"
    channel.send(("reset",))
    channel.recv()
    issuer.reset_counts()

    started, cpu_started = time.perf_counter(), cpu_seconds()
    fetched = fetch(kind, month, window, target)
    fetch_seconds, fetch_cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    started, cpu_started = time.perf_counter(), cpu_seconds()
    report = aggregate(kind, month, target, fetched["archive_sha256"])
    aggregate_seconds, aggregate_cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    rss = peak_rss_mib()

    channel.send(("stats",))
    stats = channel.recv()
    channel.send(("expected", kind.name, month))
    expected, without_data = channel.recv()
    wrong = billing_differences(kind, report, expected, without_data)
    total = fetch_seconds + aggregate_seconds
    http_ok = (
        stats["statuses"] == Counter({200: stats["requests"]})
        and stats["subjects"] == Counter({CLIENT["client_id"]: stats["requests"]})
        and stats["requests"] == fetched["pages"] == fetched["api_requests"]
        and issuer.token_count(CLIENT["client_id"]) == fetched["token_requests"] == 1
    )
    return {
        "kind": kind.name,
        "keys": len(kind.keys),
        "requests": stats["requests"],
        "pages": fetched["pages"],
        "entries": fetched["entries"],
        "tokens": fetched["token_requests"],
        "max_url_bytes": stats["max_url_bytes"],
        "fetch_seconds": round(fetch_seconds, 3),
        "aggregate_seconds": round(aggregate_seconds, 3),
        "total_seconds": round(total, 3),
        "token_seconds": round(fetched["token_seconds"], 3),
        "fetch_cpu_seconds": round(fetch_cpu, 3),
        "double_cpu_seconds": round(stats["cpu_seconds"], 3),
        "aggregate_cpu_seconds": round(aggregate_cpu, 3),
        "peak_rss_mib": round(rss),
        "archive_bytes": fetched["archive_bytes"],
        "xcom_report_bytes": len(json.dumps(report).encode()),
        "resources_reported": len(report["accounts"]),
        "resources_without_data": len(report["without_data"]),
        "wrong": wrong[:10],
        "wrong_count": len(wrong),
        "http_ok": http_ok,
        "ok": not wrong and http_ok and total < TARGET_SECONDS and rss < TARGET_RSS_MIB,
    }


def print_figures(figures: dict[str, Any]) -> None:
    print(
        f"{figures['kind']}: {figures['keys']:,} {figures['item']} in {figures['requests']} requests = "
        f"{figures['pages']} pages ({figures['entries']:,} entries, {figures['tokens']} token, "
        f"longest URL {figures['max_url_bytes']:,} bytes)"
    )
    print(
        f"  fetch (token, HTTP, check, archive):  {figures['fetch_seconds']:6.2f} s  (token "
        f"{figures['token_seconds']:.2f} s; CPU: client "
        f"{figures['fetch_cpu_seconds']:.2f} s, DWDI double {figures['double_cpu_seconds']:.2f} s)"
    )
    print(
        f"  aggregate (read, parse, sum, report): {figures['aggregate_seconds']:6.2f} s  "
        f"(CPU {figures['aggregate_cpu_seconds']:.2f} s)"
    )
    print(
        f"  total:                                {figures['total_seconds']:6.2f} s  (target < {TARGET_SECONDS:g} s)"
    )
    print(
        f"  peak RSS so far:                      {figures['peak_rss_mib']:6d} MiB (target < {TARGET_RSS_MIB} MiB)"
    )
    print(f"  archive:                              {figures['archive_bytes']:,} bytes (gzip)")
    print(f"  report (aggregate XCom):              {figures['xcom_report_bytes']:,} bytes")
    verdict = (
        "all equal" if not figures["wrong_count"] else f"{figures['wrong_count']} DIFFER: {figures['wrong']}"
    )
    print(
        f"  {figures['resources_reported']:,} resources reported, {figures['resources_without_data']:,} "
        f"without data; billed amounts vs the double's Decimal expectation: {verdict}"
    )
    if not figures["http_ok"]:
        print("  HTTP: not every request was a 200 with the client's one token", file=sys.stderr)
    print(f"  -> {'OK' if figures['ok'] else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=10_000, help="storage paths (default 10,000)")
    parser.add_argument("--resources", type=int, default=10_000, help="inference resources (default 10,000)")
    parser.add_argument("--kinds", default="storage,inference", help="comma-separated, in this order")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    args = parser.parse_args(argv)
    configure_logging(log_level="WARNING")  # the hook's per-request info lines would drown the figures
    kinds = {"storage": storage_kind(args.paths), "inference": inference_kind(args.resources)}
    selected = [kinds[name.strip()] for name in args.kinds.split(",")]
    baseline = peak_rss_mib()

    results: list[dict[str, Any]] = []
    with OidcIssuerProcess() as issuer, tempfile.TemporaryDirectory(prefix="bench-kinds-") as workdir:
        channel, child_channel = multiprocessing.Pipe()
        server = multiprocessing.get_context("spawn").Process(
            target=serve_dwdi,
            args=(
                child_channel,
                issuer.jwks_url,
                issuer.realm_url,
                kinds["storage"].keys,
                kinds["inference"].keys,
                datetime.now(UTC).date(),
            ),
            daemon=True,
        )
        server.start()
        try:
            # How deployments define it: an AIRFLOW_CONN_<ID> variable the hook reads.
            os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = Connection(
                conn_id=CONN_ID,
                conn_type="cscs_dwdi",
                host=channel.recv(),
                login=CLIENT["client_id"],
                password=CLIENT["client_secret"],
                extra=json.dumps({"oidc_endpoint_url": issuer.token_url}),
            ).as_json()
            for kind in selected:
                figures = {**run_kind(kind, channel, issuer, Path(workdir)), "item": kind.item}
                results.append(figures)
                if not args.json:
                    print_figures(figures)
        finally:
            channel.send("stop")
            server.join(timeout=10)

    if args.json:
        document = {
            "kinds": results,
            "rss_after_imports_mib": round(baseline),
            "targets": {"total_seconds": TARGET_SECONDS, "peak_rss_mib": TARGET_RSS_MIB},
            "python": platform.python_version(),
        }
        print(json.dumps(document))
    else:
        print(
            f"RSS after imports (Airflow SDK, provider): {baseline:.0f} MiB; the double and the issuer are other processes."
        )
    return 0 if all(figures["ok"] for figures in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
