"""Deterministic DWDI storage usage (a level per path and month) and its exact expected levels.

Shapes follow ``/work/shared/reference/dwdi-api.md`` ("Storage usage")::

    {"path": "/capstor/store/cscs/p1", "spaceUsed": 999999999999, "inodesUsed": 42}

Seed it from a list of paths (strings, or :class:`StoragePath` to place a path on another
filesystem / data type than ``capstor`` / ``store``). Profiles, by the path's position in the sorted
path list (every shape is present as soon as there are ten paths, whatever the seed):

- position % 10 == 4: no data (DWDI never returns the path: "no storage data", no write);
- position % 10 in (1, 6): ``spaceUsed`` on a unit rounding edge (``10**12 - 1`` bytes is
  0.999999999999 TB, ``5 * 10**9`` is 0.005 TB: half a cent of a TB, and so on);
- every other path: a pseudo-random level up to 500 TB.

Values are JSON integers. A level exists for every month up to ``today``'s, none after it.
Injections (for the bad-input tests) change what is served and are reported by
:meth:`StorageDataset.expected_issues` instead of :meth:`StorageDataset.expected_levels`.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sandbox.dwdi_data import parse_month, stable_hash

SPACE_FIELD = "spaceUsed"
INODES_FIELD = "inodesUsed"
BAD_VALUES: dict[str, Any] = {
    "negative": -5,
    "null": None,
    "nan_string": "NaN",
    "nan_token": float("nan"),  # json.dumps writes the bare token NaN
    "text": "12 TB",
}
"""Named bad values for injections (the admin API takes the names: JSON cannot carry a bare NaN)."""

_NO_DATA_SLOT = 4
_EDGE_SLOTS = (1, 6)
_SPACE_EDGES = (10**12 - 1, 10**12, 10**12 + 1, 5 * 10**9, 5 * 10**9 - 1, 10**9 - 1, 5 * 10**6, 0, 1)
_INODE_EDGES = (0, 1, 999_999, 10**6)
_MAX_SPACE = 5 * 10**14


@dataclass(frozen=True)
class StoragePath:
    """A storage path and where it lives (DWDI's ``filesystem`` and ``data_type`` filters)."""

    path: str
    filesystem: str = "capstor"
    data_type: str = "store"


def check_bad_value(field: str, kind: str) -> None:
    if field not in (SPACE_FIELD, INODES_FIELD):
        raise ValueError(f"field must be {SPACE_FIELD} or {INODES_FIELD}, got {field!r}")
    if kind not in BAD_VALUES:
        raise ValueError(f"bad value kind must be one of {sorted(BAD_VALUES)}, got {kind!r}")


class StorageDataset:
    """Generated storage levels for a fixed set of paths (see the module docstring).

    :param paths: the paths (strings live on ``capstor`` / ``store``), distinct.
    :param seed: changes every value (not the profiles).
    :param today: the last day with data (default: today in UTC).
    """

    def __init__(
        self, *, paths: Sequence[str | StoragePath], seed: int = 7, today: date | None = None
    ) -> None:
        located = [item if isinstance(item, StoragePath) else StoragePath(item) for item in paths]
        if len({item.path for item in located}) != len(located):
            raise ValueError("storage paths must be distinct")
        self.paths: tuple[StoragePath, ...] = tuple(sorted(located, key=lambda item: item.path))
        self.seed = seed
        self.today: date = today or datetime.now(UTC).date()
        self._position = {item.path: index for index, item in enumerate(self.paths)}
        self._lock = threading.Lock()
        self._bad_values: dict[tuple[str, str], str] = {}  # (path, field) -> BAD_VALUES name
        self._twice: set[str] = set()

    # ------------------------------------------------------------------ profiles and injections

    def has_data(self, path: str) -> bool:
        """Whether DWDI returns ``path`` at all (months up to today)."""
        return path in self._position and self._position[path] % 10 != _NO_DATA_SLOT

    def set_bad_value(self, path: str, field: str, kind: str) -> None:
        """Serve ``field`` (``spaceUsed``/``inodesUsed``) of ``path`` as the bad value ``kind``
        (a :data:`BAD_VALUES` name) in every month; the path must have data."""
        check_bad_value(field, kind)
        self._require_data(path)
        with self._lock:
            self._bad_values[(path, field)] = kind

    def answer_twice(self, path: str) -> None:
        """Answer ``path`` twice per month (the second entry 1 byte and 1 inode larger)."""
        self._require_data(path)
        with self._lock:
            self._twice.add(path)

    def clear_injections(self) -> None:
        """Serve the generated data again."""
        with self._lock:
            self._bad_values.clear()
            self._twice.clear()

    def _require_data(self, path: str) -> None:
        if not self.has_data(path):
            raise ValueError(f"storage path {path!r} is not in the dataset or has no data")

    # ------------------------------------------------------------------ data

    def level(self, path: str, month: str) -> tuple[int, int] | None:
        """The generated ``(spaceUsed, inodesUsed)`` of ``path`` in ``month`` (no injection);
        None when there is no data (no-data profile, unknown path or a month after today)."""
        year, number = parse_month(month)
        if not self.has_data(path) or (year, number) > (self.today.year, self.today.month):
            return None
        rng = random.Random(self.seed + stable_hash("storage", path, month))
        if self._position[path] % 10 in _EDGE_SLOTS:
            return rng.choice(_SPACE_EDGES), rng.choice(_INODE_EDGES)
        return rng.randint(0, _MAX_SPACE), rng.randint(0, 10**8)

    def _selected(
        self, paths: Collection[str] | None, filesystem: str | None, data_type: str | None
    ) -> list[StoragePath]:
        if paths is None:
            candidates: Sequence[StoragePath] = self.paths
        else:
            # Looked up, not scanned: a split query asks ~150 of 10,000 paths, ~70 times a month.
            candidates = [
                self.paths[self._position[path]] for path in sorted(set(paths) & self._position.keys())
            ]
        return [
            item
            for item in candidates
            if (filesystem is None or item.filesystem == filesystem)
            and (data_type is None or item.data_type == data_type)
        ]

    def entries(
        self,
        month: str,
        paths: Collection[str] | None = None,
        filesystem: str | None = None,
        data_type: str | None = None,
    ) -> list[dict[str, Any]]:
        """The ``storage`` entries of ``month``: the requested paths (None = all) that have data
        and match the filters, sorted by path, injections applied. Fresh dicts on every call."""
        with self._lock:
            bad_values, twice = dict(self._bad_values), set(self._twice)
        result: list[dict[str, Any]] = []
        for item in self._selected(paths, filesystem, data_type):
            level = self.level(item.path, month)
            if level is None:
                continue
            entry: dict[str, Any] = {"path": item.path, SPACE_FIELD: level[0], INODES_FIELD: level[1]}
            for field in (SPACE_FIELD, INODES_FIELD):
                if (item.path, field) in bad_values:
                    entry[field] = BAD_VALUES[bad_values[(item.path, field)]]
            result.append(entry)
            if item.path in twice:
                result.append({"path": item.path, SPACE_FIELD: level[0] + 1, INODES_FIELD: level[1] + 1})
        return result

    # ------------------------------------------------------------------ expectations

    def expected_levels(
        self,
        month: str,
        paths: Collection[str] | None = None,
        filesystem: str | None = None,
        data_type: str | None = None,
    ) -> dict[str, dict[str, Decimal]]:
        """The exact level per path that must be reported, in raw units (bytes, inodes)::

            {"/capstor/store/p1": {"spaceUsed": Decimal("999999999999"), "inodesUsed": Decimal("1")}}

        Only paths with one good entry; paths without data are :meth:`paths_without_data`, and
        injected ones :meth:`expected_issues`. Recomputed from the served rows, not the provider.
        """
        issues = self.expected_issues(month, paths, filesystem, data_type)
        levels: dict[str, dict[str, Decimal]] = {}
        for entry in self.entries(month, paths, filesystem, data_type):
            if entry["path"] not in issues:
                levels[entry["path"]] = {
                    SPACE_FIELD: Decimal(entry[SPACE_FIELD]),
                    INODES_FIELD: Decimal(entry[INODES_FIELD]),
                }
        return levels

    def paths_without_data(
        self,
        month: str,
        paths: Collection[str] | None = None,
        filesystem: str | None = None,
        data_type: str | None = None,
    ) -> list[str]:
        """Requested paths (None = every dataset path) DWDI does not return: no write for them.
        A requested path unknown to the dataset is one of them."""
        served = {entry["path"] for entry in self.entries(month, paths, filesystem, data_type)}
        asked = [item.path for item in self.paths] if paths is None else sorted(set(paths))
        return [path for path in asked if path not in served]

    def expected_issues(
        self,
        month: str,
        paths: Collection[str] | None = None,
        filesystem: str | None = None,
        data_type: str | None = None,
    ) -> dict[str, str]:
        """Served paths whose entry is bad on purpose: ``{path: "spaceUsed is null"}`` or
        ``{path: "answered twice"}``."""
        with self._lock:
            bad_values, twice = dict(self._bad_values), set(self._twice)
        issues: dict[str, str] = {}
        for item in self._selected(paths, filesystem, data_type):
            if self.level(item.path, month) is None:
                continue
            problems = [
                f"{field} is {kind}" for (path, field), kind in bad_values.items() if path == item.path
            ]
            if item.path in twice:
                problems.append("answered twice")
            if problems:
                issues[item.path] = ", ".join(sorted(problems))
        return issues
