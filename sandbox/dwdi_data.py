"""Deterministic, DWDI-shaped compute usage for the DWDI sandbox, the demo and the tests.

The data is generated on demand from ``(seed, account, cluster, month)``, so any month can be
asked for without storing anything, and two datasets built with the same arguments return the
same rows. Shapes follow ``/work/shared/reference/dwdi-api.md``::

    {"account": "g001", "cluster": "daint", "totalNodeHours": 12.375, "totalGpuHours": 3.5,
     "users": [{"username": "g001_u1", "nodeHours": 1.125, "gpuHours": 0.5,
                "usageDate": "2026-11-02"}, ...]}

Profiles (by the account's position in the sorted account list, so every shape is present as
soon as there are ten accounts, whatever the seed):

- position % 10 == 4: no usage at all (the account never appears in a response);
- position % 10 == 2: usage on the first cluster only; position % 10 == 7: on the last only;
- every other account: usage on every cluster;
- position % 3 == 0: the entry of the first cluster also carries ``gpuHours`` per user row and a
  ``totalGpuHours`` (``accountGpuHours`` when ``total_field`` is ``accountNodeHours``).

Values are integer thousandths divided by 1000, so each JSON number is an exact decimal with up
to three places (``repr(1125 / 1000) == "1.125"``), and a few deliberately sit on a rounding edge
(``0.005``, ``1.125``, ...) so that rounding half up is exercised. An entry's total is the exact
decimal sum of its rows. Rows exist only on days up to ``today``: nothing for a month after it.

:meth:`DwdiDataset.expected_totals` recomputes the per-account and per-user sums with ``Decimal``
straight from the rows (raw, unrounded, unit factor 1), independently of the provider's core.
"""

from __future__ import annotations

import calendar
import hashlib
import random
import re
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

NODE_FIELD = "nodeHours"
GPU_FIELD = "gpuHours"
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# Thousandths that end on a half cent (or are tiny), so a client that rounds half-even, truncates
# or rounds per row instead of once gets a visibly different amount.
_EDGE_THOUSANDTHS = (5, 15, 125, 1125, 2675, 10005, 333335)
_NO_USAGE_SLOT = 4
_FIRST_CLUSTER_ONLY_SLOT = 2
_LAST_CLUSTER_ONLY_SLOT = 7


def parse_month(month: str) -> tuple[int, int]:
    """``"2026-11"`` -> ``(2026, 11)``; ValueError for anything else."""
    match = _MONTH.match(month)
    if match is None:
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    return int(match.group(1)), int(match.group(2))


def month_range(first: str, last: str) -> list[str]:
    """``YYYY-MM`` months from ``first`` to ``last`` inclusive (empty when ``first`` is later)."""
    year, month = parse_month(first)
    end = parse_month(last)
    months: list[str] = []
    while (year, month) <= end:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def stable_hash(*parts: str) -> int:
    """A process-independent hash (``hash()`` of a str is salted per interpreter run)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _value(thousandths: int) -> float:
    # Correctly rounded division: repr() of the float is exactly the three-decimal value.
    return thousandths / 1000


class DwdiDataset:
    """Generated compute usage for a fixed set of accounts and clusters.

    :param accounts: the HPC accounts (DWDI ``account`` names); order does not matter.
    :param clusters: cluster names (lower case); the first one is where GPU usage shows up.
    :param users_per_account: users ``<account>_u1`` .. ``<account>_uN`` per account.
    :param seed: changes every value (not the profiles described in the module docstring).
    :param today: the last day with usage (default: today in UTC).
    :param total_field: the name of the entry total, ``totalNodeHours`` (later releases) or
        ``accountNodeHours`` (seed-era release); the GPU total follows the same prefix.
    """

    def __init__(
        self,
        *,
        accounts: Sequence[str],
        clusters: Sequence[str] = ("daint", "eiger"),
        users_per_account: int = 3,
        seed: int = 7,
        today: date | None = None,
        total_field: str = "totalNodeHours",
    ) -> None:
        if not clusters:
            raise ValueError("at least one cluster is needed")
        if users_per_account < 1:
            raise ValueError(f"users_per_account must be >= 1, got {users_per_account}")
        if not total_field.endswith("NodeHours"):
            raise ValueError(f"total_field must end in 'NodeHours', got {total_field!r}")
        if len(set(accounts)) != len(accounts):
            raise ValueError("accounts must be distinct")
        self.accounts: tuple[str, ...] = tuple(sorted(accounts))
        self.clusters: tuple[str, ...] = tuple(clusters)
        self.users_per_account = users_per_account
        self.seed = seed
        self.today: date = today or datetime.now(UTC).date()
        self.total_field = total_field
        self.gpu_total_field = total_field.removesuffix("NodeHours") + "GpuHours"
        self._position = {account: index for index, account in enumerate(self.accounts)}

    # ------------------------------------------------------------------ profiles

    def usernames(self, account: str) -> list[str]:
        """Every username the dataset can report for ``account``."""
        return [f"{account}_u{number}" for number in range(1, self.users_per_account + 1)]

    def clusters_of(self, account: str) -> tuple[str, ...]:
        """The clusters on which ``account`` has usage (empty for a no-usage account)."""
        slot = self._position[account] % 10
        if slot == _NO_USAGE_SLOT:
            return ()
        if slot == _FIRST_CLUSTER_ONLY_SLOT:
            return self.clusters[:1]
        if slot == _LAST_CLUSTER_ONLY_SLOT:
            return self.clusters[-1:]
        return self.clusters

    def has_gpu(self, account: str, cluster: str) -> bool:
        """Whether the ``(account, cluster)`` entries carry ``gpuHours``."""
        return cluster == self.clusters[0] and self._position[account] % 3 == 0

    def usage_days(self, month: str) -> list[date]:
        """The days of ``month`` that can have usage: all of them, up to ``today``."""
        year, number = parse_month(month)
        last = calendar.monthrange(year, number)[1]
        if (year, number) > (self.today.year, self.today.month):
            return []
        if (year, number) == (self.today.year, self.today.month):
            last = self.today.day
        return [date(year, number, day) for day in range(1, last + 1)]

    # ------------------------------------------------------------------ data

    def _entry(self, account: str, cluster: str, month: str, days: list[date]) -> dict[str, Any] | None:
        rng = random.Random(self.seed + stable_hash(account, cluster, month))
        gpu = self.has_gpu(account, cluster)
        rows: list[dict[str, Any]] = []
        node_sum = 0
        gpu_sum = 0
        for index, username in enumerate(self.usernames(account)):
            # The first user always works, the others now and then skip a cluster for a month.
            if index > 0 and rng.random() < 0.15:
                continue
            count = min(len(days), rng.randint(2, 6))
            for day in sorted(rng.sample(days, count)):
                edge = rng.random() < 0.12
                node = rng.choice(_EDGE_THOUSANDTHS) if edge else rng.randint(1, 48_000)
                row: dict[str, Any] = {"username": username, NODE_FIELD: _value(node)}
                node_sum += node
                if gpu:
                    gpu_thousandths = rng.randint(0, node * 4)
                    row[GPU_FIELD] = _value(gpu_thousandths)
                    gpu_sum += gpu_thousandths
                row["usageDate"] = day.isoformat()
                rows.append(row)
        if not rows:
            return None
        entry: dict[str, Any] = {"account": account, "cluster": cluster, self.total_field: _value(node_sum)}
        if gpu:
            entry[self.gpu_total_field] = _value(gpu_sum)
        entry["users"] = rows
        return entry

    def entries(
        self,
        month: str,
        accounts: Collection[str] | None = None,
        clusters: Collection[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The DWDI ``compute`` entries of ``month`` (``YYYY-MM``): one per account (sorted) and
        cluster with usage, restricted to ``accounts`` / ``clusters`` when given (None = all;
        unknown names are ignored). Fresh dicts on every call: callers may mutate them."""
        days = self.usage_days(month)
        if not days:
            return []
        wanted_accounts = None if accounts is None else set(accounts)
        wanted_clusters = None if clusters is None else set(clusters)
        result: list[dict[str, Any]] = []
        for account in self.accounts:
            if wanted_accounts is not None and account not in wanted_accounts:
                continue
            for cluster in self.clusters_of(account):
                if wanted_clusters is not None and cluster not in wanted_clusters:
                    continue
                entry = self._entry(account, cluster, month, days)
                if entry is not None:
                    result.append(entry)
        return result

    def expected_totals(
        self,
        month: str,
        accounts: Collection[str] | None = None,
        clusters: Collection[str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Exact sums of ``month``'s rows, per account and per user, as ``Decimal``::

            {"g001": {"total": {"nodeHours": Decimal("12.375"), "gpuHours": Decimal("0")},
                      "users": {"g001_u1": {"nodeHours": Decimal("4.5")}}}}

        Keys: every requested account (``accounts``, even unknown ones) or, with None, every
        dataset account; an account without usage has zero totals and no users. ``total`` always
        has both fields; a user has ``gpuHours`` only when one of their rows had it. The sums are
        taken from the user rows (not from the entries' totals), raw: no rounding, unit factor 1.
        """
        keys = sorted(self.accounts if accounts is None else set(accounts))
        result: dict[str, dict[str, Any]] = {
            account: {"total": {NODE_FIELD: Decimal(0), GPU_FIELD: Decimal(0)}, "users": {}}
            for account in keys
        }
        for entry in self.entries(month, accounts=keys, clusters=clusters):
            totals = result[entry["account"]]
            for row in entry["users"]:
                user = totals["users"].setdefault(row["username"], {})
                for field in (NODE_FIELD, GPU_FIELD):
                    if field in row:
                        # repr() is the exact decimal the JSON carries.
                        amount = Decimal(repr(row[field]))
                        totals["total"][field] += amount
                        user[field] = user.get(field, Decimal(0)) + amount
        return result
