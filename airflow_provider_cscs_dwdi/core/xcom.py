"""Every document one task of the usage DAG hands to the next, in DAG order.

task that returns it   document       task that reads it
list_backend_ids       BackendIds     billing_months
billing_months         BillingPlan    fetch_usage (expanded: one mapped fetch per month)
fetch_usage            FetchResult    aggregate_usage
aggregate_usage        UsageReport    push_to_waldur
push_to_waldur         PushResult     nobody: the last task (people, monitoring)

Each is a frozen dataclass: the producing task returns ``to_xcom()`` (plain JSON, so Airflow's
XCom stores it as it is and the UI shows it), the consuming task reads it with ``from_xcom()``,
which checks the shape and raises :class:`~core.errors.ReportError` naming the document and the
field. The report is defined in ``core.report`` next to the rules that build and check it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from airflow_provider_cscs_dwdi.core.errors import ReportError
from airflow_provider_cscs_dwdi.core.issues import Issue, issues_from_json, shown_value
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.core.report import REPORT_SCHEMA_VERSION, UsageReport

__all__ = [
    "FETCH_RESULT_VERSION",
    "REPORT_SCHEMA_VERSION",
    "BackendIds",
    "BillingPlan",
    "FetchResult",
    "PushResult",
    "UsageReport",
    "WriteFailure",
]

FETCH_RESULT_VERSION = 1

#: The JSON fields of the flat documents, in published order: name -> (JSON type, may be null).
_FETCH_RESULT_FIELDS: dict[str, tuple[type, bool]] = {
    "month": (str, False),
    "window": (dict, True),
    "query": (dict, False),
    "accounts_requested": (int, True),
    "accounts_sha256": (str, False),
    "archive": (str, False),
    "archive_sha256": (str, False),
    "archive_bytes": (int, False),
    "pages": (int, False),
    "entries": (int, False),
    "user_rows": (int, False),
    "host": (str, True),
}
_PUSH_COUNTS_FIELDS: dict[str, tuple[type, bool]] = {
    "month": (str, False),
    "dry_run": (bool, False),
    "changed": (int, False),
    "written": (int, False),
    "unchanged": (int, False),
    "skipped": (int, False),
    "failed": (int, False),
    "user_usages_written": (int, False),
}
_WRITE_FAILURE_FIELDS: dict[str, tuple[type, bool]] = {
    "backend_id": (str, True),
    "resource_uuid": (str, True),
    "reason": (str, False),
}


@dataclass(frozen=True)
class BackendIds:
    """The backend IDs (DWDI accounts) of an offering's resources in Waldur: sorted, unique, non-blank.

    A duplicated ID is still listed (the push refuses it, so the problem stays visible); blank
    and duplicate IDs are also ``issues``. ``resource_uuids`` gives the Waldur resource UUIDs of
    each backend ID (inference usage is keyed by them): one UUID, or several for a duplicated ID,
    so nobody downstream can take one of them for the resource without seeing the others.
    """

    backend_ids: tuple[str, ...]
    issues: tuple[Issue, ...] = ()
    resource_uuids: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_xcom(self) -> dict[str, Any]:
        """``{"backend_ids": [...], "issues": [...], "resource_uuids": {backend_id: [uuid, ...]}}``."""
        return {
            "backend_ids": list(self.backend_ids),
            "issues": [issue.to_json() for issue in self.issues],
            "resource_uuids": {backend_id: list(uuids) for backend_id, uuids in self.resource_uuids.items()},
        }

    @classmethod
    def from_xcom(cls, doc: Any) -> BackendIds:
        """Read the document back; raises ReportError naming the bad field.

        A document without ``resource_uuids`` (written before inference existed) reads as ``{}``.
        """
        name = "backend IDs"
        doc = _document(doc, name)
        raw_uuids = _field(doc, name, "resource_uuids", dict, nullable=True) or {}
        return cls(
            backend_ids=_names(doc, name, "backend_ids"),
            issues=issues_from_json(doc.get("issues", []), f"{name}: issues"),
            resource_uuids={
                backend_id: _names(raw_uuids, f"{name}: resource_uuids", backend_id)
                for backend_id in raw_uuids
            },
        )

    def uuids_of(self, backend_ids: Sequence[str]) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
        """``({resource_uuid: backend_id}, {backend_id: uuids})`` for these backend IDs.

        The first map holds the backend IDs with exactly one resource; the second those with none
        or several (no single resource to bill, so the caller must exclude them, visibly).
        """
        resources: dict[str, str] = {}
        unresolved: dict[str, tuple[str, ...]] = {}
        for backend_id in backend_ids:
            uuids = tuple(self.resource_uuids.get(backend_id, ()))
            if len(uuids) == 1:
                resources[uuids[0]] = backend_id
            else:
                unresolved[backend_id] = uuids
        return resources, unresolved


@dataclass(frozen=True)
class BillingPlan:
    """The billing months a run reports, and the accounts to fetch for each of them.

    It crosses as two XComs so that the fetch task can be expanded over the months (one mapped
    fetch, aggregate and push per month): the months are the task's return value, oldest first,
    and the accounts are pushed under :attr:`ACCOUNTS_KEY`.
    """

    ACCOUNTS_KEY: ClassVar[str] = "accounts"

    months: tuple[str, ...]
    accounts: tuple[str, ...]

    def to_xcom(self) -> list[str]:
        """The return value: the months, ``["2026-10", "2026-11"]``."""
        return list(self.months)

    def accounts_to_xcom(self) -> list[str]:
        """The value pushed under :attr:`ACCOUNTS_KEY`: the sorted account names."""
        return list(self.accounts)

    @classmethod
    def from_xcom(cls, months: Any, accounts: Any) -> BillingPlan:
        """Read the two XComs back; raises ReportError naming the bad one."""
        plan = {"months": months, "accounts": accounts}
        return cls(
            months=_names(plan, "billing plan", "months"), accounts=_names(plan, "billing plan", "accounts")
        )


@dataclass(frozen=True)
class FetchResult:
    """Where one fetched month of DWDI answers is archived, and what it holds (always < 64 KiB).

    The account list itself is in the archive's header line, so the XCom stays small whatever the
    number of accounts.
    """

    month: str
    window: Mapping[str, str] | None  # {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}
    query: Mapping[str, Any]  # {"from": month, "to": month, "clusters": [...] | None}
    accounts_requested: int | None  # None: every account DWDI knows
    accounts_sha256: str
    archive: str  # ObjectStoragePath URL of the gzip JSON-lines archive
    archive_sha256: str
    archive_bytes: int
    pages: int
    entries: int
    user_rows: int
    # The worker that wrote the archive: names both hosts when another worker cannot read it.
    # None in results written before the field existed.
    host: str | None = None
    schema_version: int = FETCH_RESULT_VERSION
    usage_kind: str = UsageKind.COMPUTE.value  # "compute" | "storage" | "inference"

    def to_xcom(self) -> dict[str, Any]:
        """The document of ``docs/architecture.md`` ("Fetch result")."""
        return {
            "schema_version": self.schema_version,
            **_json_fields(self, _FETCH_RESULT_FIELDS),
            "usage_kind": self.usage_kind,
        }

    @classmethod
    def from_xcom(cls, doc: Any) -> FetchResult:
        """Read the document back; raises ReportError naming the bad field.

        A document without ``usage_kind`` (written before storage and inference) is compute.
        """
        name = "fetch result"
        doc = _document(doc, name)
        version = _field(doc, name, "schema_version", int)
        if version != FETCH_RESULT_VERSION:
            raise ReportError(f"{name}: schema_version: expected {FETCH_RESULT_VERSION}, got {version!r}")
        kind = _field(doc, name, "usage_kind", str, nullable=True) or UsageKind.COMPUTE.value
        if kind not in {member.value for member in UsageKind}:
            raise ReportError(
                f"{name}: usage_kind: expected one of {', '.join(UsageKind)}, got {shown_value(kind)}"
            )
        return cls(**_read_fields(doc, name, _FETCH_RESULT_FIELDS), schema_version=version, usage_kind=kind)


@dataclass(frozen=True)
class WriteFailure:
    """A report account that was not written to Waldur, and why."""

    backend_id: str | None
    resource_uuid: str | None  # None: no single Waldur resource to write to
    reason: str

    def to_json(self) -> dict[str, str | None]:
        """``{"backend_id", "resource_uuid", "reason"}``."""
        return _json_fields(self, _WRITE_FAILURE_FIELDS)

    @classmethod
    def from_json(cls, raw: Any, where: str) -> WriteFailure:
        """Read a failure back; raises ReportError naming ``where`` and the field."""
        return cls(**_read_fields(_document(raw, where), where, _WRITE_FAILURE_FIELDS))


@dataclass(frozen=True)
class PushResult:
    """What the push of one month did: resource counts, and the first issues and failures.

    ``skipped`` also counts the records the report itself left out. ``issues`` and ``failures``
    list at most the first 50 (the task log has all); ``failed`` counts every failure.
    ``without_data_count`` counts the storage resources DWDI returned no data for (not written:
    "no storage data"), ``without_data`` lists the first 50 of their backend IDs.
    """

    month: str
    dry_run: bool
    changed: int
    written: int
    unchanged: int
    skipped: int
    failed: int
    user_usages_written: int
    issues: tuple[Issue, ...]
    failures: tuple[WriteFailure, ...]
    without_data_count: int = 0
    without_data: tuple[str, ...] = ()

    def counts(self) -> dict[str, Any]:
        """The document without its lists (what the log shows)."""
        return {**_json_fields(self, _PUSH_COUNTS_FIELDS), "without_data_count": self.without_data_count}

    def to_xcom(self) -> dict[str, Any]:
        """The counts, then ``issues``, ``failures`` and ``without_data`` as JSON lists."""
        return {
            **self.counts(),
            "issues": [issue.to_json() for issue in self.issues],
            "failures": [failure.to_json() for failure in self.failures],
            "without_data": list(self.without_data),
        }

    @classmethod
    def from_xcom(cls, doc: Any) -> PushResult:
        """Read the document back; raises ReportError naming the bad field.

        A document without the ``without_data`` fields (written before storage) has none.
        """
        name = "push result"
        doc = _document(doc, name)
        failures = tuple(
            WriteFailure.from_json(item, f"{name}: failures[{index}]")
            for index, item in enumerate(_field(doc, name, "failures", list))
        )
        without_data = {"without_data": doc.get("without_data") or []}
        return cls(
            **_read_fields(doc, name, _PUSH_COUNTS_FIELDS),
            issues=issues_from_json(doc.get("issues"), f"{name}: issues"),
            failures=failures,
            without_data_count=_field(doc, name, "without_data_count", int, nullable=True) or 0,
            without_data=_names(without_data, name, "without_data"),
        )


def _document(doc: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise ReportError(
            f"{name}: expected an object, got {'nothing' if doc is None else type(doc).__name__}"
        )
    return doc


def _field(doc: Mapping[str, Any], name: str, key: str, kind: type, *, nullable: bool = False) -> Any:
    """``doc[key]`` when it is a ``kind`` (a bool is no int), else a ReportError naming both."""
    value = doc.get(key)
    if value is None and nullable:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = f"{kind.__name__}{' or null' if nullable else ''}"
        got = "nothing" if value is None else f"{type(value).__name__} {shown_value(value)}"
        raise ReportError(f"{name}: {key}: expected {expected}, got {got}")
    return value


def _read_fields(doc: Mapping[str, Any], name: str, spec: Mapping[str, tuple[type, bool]]) -> dict[str, Any]:
    """Every field of ``spec`` read from ``doc``, checked (see :func:`_field`)."""
    return {key: _field(doc, name, key, kind, nullable=nullable) for key, (kind, nullable) in spec.items()}


def _json_fields(document: Any, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes of ``document`` named in ``spec``, mappings as plain dicts."""
    values = {key: getattr(document, key) for key in spec}
    return {key: dict(value) if isinstance(value, Mapping) else value for key, value in values.items()}


def _names(doc: Mapping[str, Any], name: str, key: str) -> tuple[str, ...]:
    """A list of non-blank strings, as a tuple."""
    items = _field(doc, name, key, list)
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise ReportError(f"{name}: {key}[{index}]: expected a non-blank string, got {item!r}")
    return tuple(items)
