"""The compute endpoints of the DWDI double (dwdi-api.md, "Compute usage").

``/api/v1/compute/usage-month-multiaccount`` (seed-era) and ``/api/v1/compute/usage-month/account``:
``from``, ``to`` = ``YYYY-MM`` (inclusive), repeated ``account``, repeated ``cluster``; a range gives
one entry per account, cluster and month. ``/api/v1/compute/usage-day/account``: ``from``, ``to`` =
``YYYY-MM-DD``; generated rows are cut to those days and the totals recomputed.

Explicit entries of a month (``DWDISandbox.set_entries``) are served as they are and only
filtered: an entry is dropped by an ``account``/``cluster`` filter only when it is an object whose
``account``/``cluster`` is a string outside the filter, so malformed entries always reach the
client. The day endpoint serves them unchanged (no cut).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sandbox.dwdi import query as q
from sandbox.dwdi_data import GPU_FIELD, NODE_FIELD, DwdiDataset, month_range

MONTH_PATHS = ("/api/v1/compute/usage-month-multiaccount", "/api/v1/compute/usage-month/account")
DAY_PATH = "/api/v1/compute/usage-day/account"
PATHS = (*MONTH_PATHS, DAY_PATH)


def _keeps(entry: Any, key: str, wanted: set[str] | None) -> bool:
    if wanted is None or not isinstance(entry, dict):
        return True
    value = entry.get(key)
    return not isinstance(value, str) or value in wanted


def cut_to_days(entries: Iterable[dict[str, Any]], first: date, last: date) -> list[dict[str, Any]]:
    """Generated entries restricted to rows dated ``first``..``last``, with recomputed totals."""
    kept: list[dict[str, Any]] = []
    low, high = first.isoformat(), last.isoformat()
    for entry in entries:
        rows = [row for row in entry["users"] if low <= row["usageDate"] <= high]
        if not rows:
            continue
        for key in list(entry):
            if key.endswith("NodeHours") or key.endswith("GpuHours"):
                field = NODE_FIELD if key.endswith("NodeHours") else GPU_FIELD
                # repr() is the exact decimal; float(Decimal) of a short decimal repr()s back to it.
                entry[key] = float(
                    sum((Decimal(repr(row[field])) for row in rows if field in row), Decimal(0))
                )
        entry["users"] = rows
        kept.append(entry)
    return kept


def compute_entries(
    path: str,
    query: Mapping[str, list[str]],
    dataset: DwdiDataset | None,
    explicit: Callable[[str], list[Any] | None],
) -> list[Any]:
    """The ``compute`` list answering ``path?query``; ``explicit(month)`` gives a month's explicit
    entries (a private copy) or None for the dataset's."""
    accounts = set(query["account"]) if "account" in query else None
    clusters = set(query["cluster"]) if "cluster" in query else None
    days: tuple[date, date] | None = None
    if path == DAY_PATH:
        days = q.days(query)
        months = month_range(f"{days[0]:%Y-%m}", f"{days[1]:%Y-%m}")
    else:
        months = q.months(query)
    compute: list[Any] = []
    for month in months:
        override = explicit(month)
        if override is not None:
            compute.extend(
                entry
                for entry in override
                if _keeps(entry, "account", accounts) and _keeps(entry, "cluster", clusters)
            )
        elif dataset is not None:
            entries = dataset.entries(month, accounts=accounts, clusters=clusters)
            if days is not None:
                entries = cut_to_days(entries, *days)
            compute.extend(entries)
    return compute
