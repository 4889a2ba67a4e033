"""One open approval request per offering and month, whichever of the offering's DAGs asks.

A DAG runs one run at a time, so the daily DAG alone never asks twice for a month. Its run at
midnight on the 1st (or on a reopen day), the closing DAG's run of the same month and the audit's
repair can hold values of one month at the same time, though. Before it asks, the
``approve_held_values`` task records its request as ``<month>/approval_open.json`` under the
usage DAG's archive folder (the first of the offering's pushed archive roots, which every DAG of
the offering knows): which task instance asks, and until when its request can be answered. A task
that finds another task instance's request open for the month does not ask: its values stay held
(nothing written) and a later run evaluates the month again. The asking task removes the record
once answered; a request nobody answered expires with its timeout.

Two tasks that check at the same instant could both ask (the record is a file, not a lock); the
offering's DAGs reach the approval at different moments of a run, so that window is the time
between one read and one write.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from airflow.sdk import ObjectStoragePath

OPEN_REQUEST_FILE = "approval_open.json"


@dataclass(frozen=True)
class Requester:
    """The task instance that asks: its DAG, run and map index."""

    dag_id: str
    run_id: str
    map_index: int

    @classmethod
    def of(cls, task_instance: Any) -> Requester:
        map_index = getattr(task_instance, "map_index", -1)
        return cls(
            dag_id=str(task_instance.dag_id),
            run_id=str(task_instance.run_id),
            map_index=-1 if map_index is None else int(map_index),
        )

    def __str__(self) -> str:
        index = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"DAG {self.dag_id}, run {self.run_id}{index}"


def _record(root: str, month: str) -> ObjectStoragePath:
    return ObjectStoragePath(root) / month / OPEN_REQUEST_FILE


def _read(record: ObjectStoragePath) -> tuple[Requester, datetime] | None:
    """Who asks and until when; None when there is no record or it cannot be read (an unreadable
    record must not block every later request of the month)."""
    try:
        document = json.loads(record.read_text())
        requester = Requester(
            dag_id=str(document["dag_id"]),
            run_id=str(document["run_id"]),
            map_index=int(document["map_index"]),
        )
        return requester, datetime.fromisoformat(str(document["until"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def open_request(root: str, month: str, *, now: datetime) -> tuple[Requester, datetime] | None:
    """The request open for ``month`` (who asks, until when); None when none is, or it expired."""
    recorded = _read(_record(root, month))
    return recorded if recorded is not None and recorded[1] > now else None


def claim_request(
    root: str, month: str, requester: Requester, *, now: datetime, until: datetime
) -> Requester | None:
    """Record ``requester``'s request for ``month``, unless another one is open.

    :returns: the task instance whose request is open (nothing recorded), or None (recorded).
    """
    current = open_request(root, month, now=now)
    if current is not None and current[0] != requester:
        return current[0]
    record = _record(root, month)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({**asdict(requester), "until": until.isoformat()}))
    return None


def release_request(root: str, month: str, requester: Requester) -> None:
    """Remove ``requester``'s record of ``month`` (another task instance's record is kept)."""
    record = _record(root, month)
    recorded = _read(record)
    if recorded is not None and recorded[0] == requester:
        with contextlib.suppress(OSError):
            record.unlink()
