"""Deterministic DWDI inference cost per Waldur resource UUID and its exact expected sums.

Shapes follow ``/work/shared/reference/dwdi-api.md`` ("Inference cost")::

    {"waldurResourceUuid": "3f2c...e1", "totalCost": 12.504999}

Seed it from a list of Waldur resource UUIDs (dashed or not; a resource is identified by its 32
hex digits). Profiles, by the resource's position in the sorted list of identities:

- position % 10 == 4: no data (DWDI never returns the resource: it costs 0.00);
- position % 10 in (1, 5, 8): two to four entries per month, summed by the client; their sum
  ends on a half cent (``x.xx5``), so rounding each entry instead of the sum gives another amount;
- every other resource: one entry per month, a third of them on a rounding edge (``0.005``,
  ``2.675``, ``10.004999``, ...);
- the answer writes the UUID dashed for even positions and as 32 hex digits for odd ones,
  whatever spelling the client asked with.

Costs are integer millionths divided by 10**6, so each JSON number is an exact decimal with up to
six places. A month after ``today``'s has no entries. Injections (an unknown resource, a bad
``totalCost``) are reported by :meth:`InferenceDataset.expected_unknown` and
:meth:`InferenceDataset.expected_issues` instead of :meth:`InferenceDataset.expected_costs`.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sandbox.dwdi.storage_data import BAD_VALUES
from sandbox.dwdi_data import month_range, parse_month, stable_hash

UUID_FIELD = "waldurResourceUuid"
COST_FIELD = "totalCost"
_HEX = re.compile(r"^[0-9a-f]{32}$")
_NO_DATA_SLOT = 4
_SEVERAL_ENTRIES_SLOTS = (1, 5, 8)
_EDGE_MILLIONTHS = (5_000, 4_999, 5_001, 125_000, 1_005_000, 2_675_000, 10_004_999, 333_335_000, 1, 0)


def uuid_identity(value: str) -> str:
    """The 32 lower-case hex digits of a UUID written with or without dashes."""
    digits = value.replace("-", "").lower()
    if not _HEX.match(digits):
        raise ValueError(f"not a UUID: {value!r}")
    return digits


def dashed(identity: str) -> str:
    """``8-4-4-4-12`` form of 32 hex digits."""
    return f"{identity[:8]}-{identity[8:12]}-{identity[12:16]}-{identity[16:20]}-{identity[20:]}"


def _cost(millionths: int) -> float:
    # Correctly rounded division: repr() of the float is exactly the six-decimal value.
    return millionths / 10**6


class InferenceDataset:
    """Generated inference costs for a fixed set of Waldur resources (see the module docstring).

    :param resource_uuids: the resources' UUIDs, dashed or not, distinct.
    :param seed: changes every value (not the profiles).
    :param today: the last day with data (default: today in UTC).
    """

    def __init__(self, *, resource_uuids: Sequence[str], seed: int = 7, today: date | None = None) -> None:
        identities = [uuid_identity(value) for value in resource_uuids]
        if len(set(identities)) != len(identities):
            raise ValueError("resource UUIDs must be distinct")
        self.resource_uuids: tuple[str, ...] = tuple(sorted(identities))
        self.seed = seed
        self.today: date = today or datetime.now(UTC).date()
        self._position = {identity: index for index, identity in enumerate(self.resource_uuids)}
        self._lock = threading.Lock()
        self._unknown: dict[str, int] = {}  # identity -> millionths per month
        self._bad_costs: dict[str, str] = {}  # identity -> BAD_VALUES name

    # ------------------------------------------------------------------ profiles and injections

    def has_data(self, resource_uuid: str) -> bool:
        """Whether DWDI returns the resource at all (months up to today)."""
        position = self._position.get(uuid_identity(resource_uuid))
        return position is not None and position % 10 != _NO_DATA_SLOT

    def answered_as(self, resource_uuid: str) -> str:
        """How the answer spells the resource's UUID: dashed (even position) or 32 hex digits."""
        identity = uuid_identity(resource_uuid)
        position = self._position.get(identity, 0)
        return dashed(identity) if position % 2 == 0 else identity

    def add_unknown_resource(self, resource_uuid: str, total_cost: str = "1.5") -> None:
        """Answer every query (whatever it asked for) with one more entry per month for a resource
        that is not in the dataset (nor, in the stack, in Waldur): it must never be billed."""
        identity = uuid_identity(resource_uuid)
        if identity in self._position:
            raise ValueError(f"{resource_uuid!r} is in the dataset; an unknown resource must not be")
        with self._lock:
            self._unknown[identity] = int(Decimal(total_cost) * 10**6)

    def set_bad_cost(self, resource_uuid: str, kind: str) -> None:
        """Serve the ``totalCost`` of the resource's first entry per month as the bad value
        ``kind`` (a :data:`~sandbox.dwdi.storage_data.BAD_VALUES` name); it must have data."""
        if kind not in BAD_VALUES:
            raise ValueError(f"bad value kind must be one of {sorted(BAD_VALUES)}, got {kind!r}")
        if not self.has_data(resource_uuid):
            raise ValueError(f"resource {resource_uuid!r} is not in the dataset or has no data")
        with self._lock:
            self._bad_costs[uuid_identity(resource_uuid)] = kind

    def clear_injections(self) -> None:
        """Serve the generated data again."""
        with self._lock:
            self._unknown.clear()
            self._bad_costs.clear()

    # ------------------------------------------------------------------ data

    def costs(self, resource_uuid: str, month: str) -> list[int]:
        """The generated costs (millionths, no injection) of one resource in ``month``: one or
        several entries, none without data or after today."""
        identity = uuid_identity(resource_uuid)
        year, number = parse_month(month)
        if not self.has_data(identity) or (year, number) > (self.today.year, self.today.month):
            return []
        rng = random.Random(self.seed + stable_hash("inference", identity, month))
        if self._position[identity] % 10 in _SEVERAL_ENTRIES_SLOTS:
            parts = [rng.randint(1, 2_000_000) for _ in range(rng.randint(1, 3))]
            # The last entry brings the sum onto a half cent: x.xx5000.
            total = (sum(parts) // 10_000 + rng.randint(1, 500)) * 10_000 + 5_000
            return [*parts, total - sum(parts)]
        if rng.random() < 1 / 3:
            return [rng.choice(_EDGE_MILLIONTHS)]
        return [rng.randint(0, 50_000_000_000)]

    def entries(
        self, month_from: str, month_to: str, resource_uuids: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        """The ``inference`` entries of the months ``month_from``..``month_to``: per month, the
        requested resources (None = all; dashed or not) in identity order, then any injected
        unknown resource. Fresh dicts on every call."""
        wanted = None if resource_uuids is None else {uuid_identity(value) for value in resource_uuids}
        with self._lock:
            unknown, bad_costs = dict(self._unknown), dict(self._bad_costs)
        # Looked up, not scanned: a split query asks ~170 of 10,000 resources, ~60 times a month.
        asked = self.resource_uuids if wanted is None else sorted(wanted & self._position.keys())
        result: list[dict[str, Any]] = []
        for month in month_range(month_from, month_to):
            for identity in asked:
                for index, millionths in enumerate(self.costs(identity, month)):
                    cost = (
                        BAD_VALUES[bad_costs[identity]]
                        if index == 0 and identity in bad_costs
                        else _cost(millionths)
                    )
                    result.append({UUID_FIELD: self.answered_as(identity), COST_FIELD: cost})
            if parse_month(month) <= (self.today.year, self.today.month):
                result.extend(
                    {UUID_FIELD: dashed(identity), COST_FIELD: _cost(millionths)}
                    for identity, millionths in sorted(unknown.items())
                )
        return result

    # ------------------------------------------------------------------ expectations

    def expected_costs(
        self, month_from: str, month_to: str, resource_uuids: Collection[str] | None = None
    ) -> dict[str, Decimal]:
        """The exact cost per requested resource (key: its 32 hex digits), summed with Decimal
        from the served entries: ``Decimal(0)`` for a resource DWDI does not return. Resources
        with an injected bad cost are :meth:`expected_issues` instead; unrounded."""
        asked = self.resource_uuids if resource_uuids is None else [uuid_identity(v) for v in resource_uuids]
        issues = self.expected_issues(month_from, month_to, resource_uuids)
        totals = {identity: Decimal(0) for identity in sorted(set(asked)) if identity not in issues}
        for entry in self.entries(month_from, month_to, resource_uuids):
            identity = uuid_identity(entry[UUID_FIELD])
            if identity in totals:
                # repr() is the exact decimal the JSON carries.
                totals[identity] += Decimal(repr(entry[COST_FIELD]))
        return totals

    def resources_without_data(
        self, month_from: str, month_to: str, resource_uuids: Collection[str] | None = None
    ) -> list[str]:
        """Requested resources (32 hex digits) that no entry names: they cost 0.00."""
        served = {
            uuid_identity(entry[UUID_FIELD]) for entry in self.entries(month_from, month_to, resource_uuids)
        }
        asked = self.resource_uuids if resource_uuids is None else [uuid_identity(v) for v in resource_uuids]
        return sorted({identity for identity in asked if identity not in served})

    def expected_unknown(self, month_from: str, month_to: str) -> list[str]:
        """The unknown resources (32 hex digits) the answer names: counted, logged, never billed."""
        with self._lock:
            unknown = sorted(self._unknown)
        served = any(
            parse_month(month) <= (self.today.year, self.today.month)
            for month in month_range(month_from, month_to)
        )
        return unknown if served else []

    def expected_issues(
        self, month_from: str, month_to: str, resource_uuids: Collection[str] | None = None
    ) -> dict[str, str]:
        """Served resources whose ``totalCost`` is bad on purpose: ``{identity: "totalCost is null"}``."""
        with self._lock:
            bad_costs = dict(self._bad_costs)
        served = {
            uuid_identity(entry[UUID_FIELD]) for entry in self.entries(month_from, month_to, resource_uuids)
        }
        return {
            identity: f"{COST_FIELD} is {kind}"
            for identity, kind in sorted(bad_costs.items())
            if identity in served
        }
