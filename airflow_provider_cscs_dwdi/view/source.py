"""Reads the view's input from Airflow's metadata database: the factory's DAGs, their runs, their XComs.

Only the api-server's own database session is used; no DWDI or Waldur connection is read. Parsed
documents are cached per stored XCom row (its identity and timestamp): a report of 20,000
resources is parsed once, not on every page view, and a re-run (a new row timestamp) is read again.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from airflow_provider_cscs_dwdi.view.documents import (
    HeldRecord,
    MonthReport,
    Offering,
    PushRecord,
    RunRecord,
    offering_name,
    role_of,
)

TASKS = (
    "aggregate_usage",
    "push_to_waldur",
    "fetch_usage",
    "list_backend_ids",
    "audit_waldur",
    "approve_held_values",
)
#: The XCom keys read: a task's result, and the anomaly guard's held values and approval decision
#: (``core.held``). A document other than a result is named ``<task_id>:<key>`` below.
KEYS = ("return_value", "held_values", "decision")
#: How many recent runs per DAG the view reads (a year of daily runs and then some).
RUNS_PER_DAG = 400
XCOM_BACKEND_SETTING = "[core] xcom_backend / [common.io] xcom_objectstorage_path"


class DocumentCache:
    """Parsed XCom documents by stored row identity; least recently used rows are dropped first."""

    def __init__(self, capacity: int = 2048) -> None:
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()
        self.misses = 0

    def get(self, key: tuple[Any, ...]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self.misses += 1
            self._items[key] = value
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)

    def __contains__(self, key: tuple[Any, ...]) -> bool:
        with self._lock:
            return key in self._items


CACHE = DocumentCache()


def list_offerings(session: Session) -> dict[str, Offering]:
    """Every offering the DAG factory built, from the DAG table (slug -> Offering)."""
    from airflow.models.dag import DagModel

    rows = session.execute(
        select(DagModel.dag_id, DagModel.description, DagModel.is_stale).where(
            DagModel.dag_id.like("cscs_dwdi_%")
        )
    ).all()
    found: dict[str, dict[str, str]] = {}
    names: dict[str, str] = {}
    for dag_id, description, is_stale in rows:
        parsed = role_of(dag_id)
        if parsed is None or is_stale:
            continue
        role, slug = parsed
        found.setdefault(slug, {})[role] = dag_id
        if role == "usage":
            names[slug] = offering_name(description, slug)
    return {
        slug: Offering(slug=slug, name=names.get(slug, slug), dag_ids=dag_ids)
        for slug, dag_ids in sorted(found.items())
        if "usage" in dag_ids
    }


class _Unreachable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _custom_xcom_backend() -> Any:
    """The configured XCom backend class, or None for Airflow's own (values in the database)."""
    from airflow.sdk.bases.xcom import BaseXCom
    from airflow.sdk.execution_time.xcom import resolve_xcom_backend

    backend = resolve_xcom_backend()
    return None if backend is BaseXCom else backend


def _decode(task_id: str, raw: Any) -> Any:
    from airflow.models.xcom import XComModel

    class _Row:
        value = raw

    value = XComModel.deserialize_value(_Row)
    if value is None:  # a task that returned nothing (a rejected approval)
        return None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    backend = _custom_xcom_backend()
    if not isinstance(value, Mapping) and backend is not None:
        # An object-storage XCom backend left a reference: read it as the workers do (the backend
        # only opens paths below its own configured root).
        try:
            value = backend.deserialize_value(_Row)
        except Exception as error:  # any store or connection failure is shown, never raised
            return _Unreachable(
                f"the {task_id} document is kept by the XCom backend {backend.__name__} and cannot "
                f"be read from the api-server ({type(error).__name__}); give the api-server the same "
                f"{XCOM_BACKEND_SETTING} and object-store connection as the workers"
            )
    if not isinstance(value, Mapping):
        # An XCom backend that keeps large values elsewhere leaves a reference here.
        return _Unreachable(
            f"the {task_id} document is not stored in Airflow's database (an XCom backend keeps it "
            f"elsewhere: {str(value)[:120]}); set {XCOM_BACKEND_SETTING} on the api-server as on the "
            "workers so the view can read it"
        )
    if task_id == "aggregate_usage":
        try:
            return MonthReport.from_xcom(value)
        except (AttributeError, TypeError, ValueError) as error:
            return _Unreachable(f"the aggregate_usage document cannot be read: {error}")
    return dict(value)


def runs_of(session: Session, offering: Offering, runs_per_dag: int = RUNS_PER_DAG) -> list[RunRecord]:
    """The offering's recent runs with their documents, read through :data:`CACHE`."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel

    # A stored row's identity: the cache key.
    identity = (
        XComModel.dag_run_id,
        XComModel.task_id,
        XComModel.map_index,
        XComModel.key,
        XComModel.timestamp,
    )
    records: list[RunRecord] = []
    for role, dag_id in offering.dag_ids.items():
        runs = session.execute(
            select(
                DagRun.id, DagRun.run_id, DagRun.state, DagRun.end_date, DagRun.start_date, DagRun.run_after
            )
            .where(DagRun.dag_id == dag_id)
            .order_by(DagRun.run_after.desc())
            .limit(runs_per_dag)
        ).all()
        if not runs:
            continue
        ids = [row.id for row in runs]
        keys = session.execute(
            select(*identity).where(
                XComModel.dag_run_id.in_(ids),
                XComModel.task_id.in_(TASKS),
                XComModel.key.in_(KEYS),
            )
        ).all()
        wanted = [tuple(key) for key in keys if tuple(key) not in CACHE]
        for chunk in _chunks(wanted, 200):
            values = session.execute(
                select(*identity, XComModel.value).where(
                    XComModel.dag_run_id.in_({key[0] for key in chunk}),
                    XComModel.task_id.in_({key[1] for key in chunk}),
                    XComModel.key.in_({key[3] for key in chunk}),
                )
            ).all()
            for row in values:
                key = (row.dag_run_id, row.task_id, row.map_index, row.key, row.timestamp)
                if key not in CACHE:
                    CACHE.put(key, _decode(_document_name(row.task_id, row.key), row.value))
        by_run: dict[int, dict[str, dict[int, Any]]] = {}
        for key in keys:
            name = _document_name(key[1], key[3])
            by_run.setdefault(key[0], {}).setdefault(name, {})[key[2]] = CACHE.get(tuple(key))
        for row in runs:
            docs = by_run.get(row.id, {})
            at = row.end_date or row.start_date or row.run_after or datetime.now(UTC)
            records.append(
                RunRecord(
                    dag_id=dag_id,
                    run_id=row.run_id,
                    role=role,
                    state=str(row.state),
                    at=at,
                    pushes=_pushes(docs) if role != "audit" else (),
                    audit=_plain(docs.get("audit_waldur", {}).get(-1)),
                    resource_uuids=(_plain(docs.get("list_backend_ids", {}).get(-1)) or {}).get(
                        "resource_uuids"
                    )
                    or {},
                )
            )
    return records


def _document_name(task_id: str, key: str) -> str:
    return task_id if key == "return_value" else f"{task_id}:{key}"


def _plain(doc: Any) -> dict[str, Any] | None:
    return doc if isinstance(doc, dict) else None


def _pushes(docs: Mapping[str, Mapping[int, Any]]) -> tuple[PushRecord, ...]:
    """One record per month of the run: the report, push and fetch of that month, matched by month."""
    reports: dict[str, MonthReport] = {}
    unreachable: dict[int, str] = {}
    for index, doc in docs.get("aggregate_usage", {}).items():
        if isinstance(doc, MonthReport):
            reports[doc.month] = doc
        elif isinstance(doc, _Unreachable):
            unreachable[index] = doc.reason
    fetches = {
        str(doc.get("month")): doc for doc in docs.get("fetch_usage", {}).values() if isinstance(doc, dict)
    }
    records = []
    for index, result in docs.get("push_to_waldur", {}).items():
        if not isinstance(result, dict):
            continue
        month = str(result.get("month"))
        reason = None if month in reports else unreachable.get(index, "the aggregate_usage document is gone")
        records.append(
            PushRecord(month, reports.get(month), result, fetches.get(month), reason, _held(docs, index))
        )
    return tuple(records)


def _held(docs: Mapping[str, Mapping[int, Any]], index: int) -> HeldRecord | None:
    """The push's held values (same map index) and the approval's decision and write."""
    held = _plain(docs.get("push_to_waldur:held_values", {}).get(index))
    if held is None:
        return None
    return HeldRecord.from_xcom(
        held,
        _plain(docs.get("approve_held_values:decision", {}).get(index)),
        _plain(docs.get("approve_held_values", {}).get(index)),
    )


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
