"""Every document one task of the usage DAG hands to the next, in DAG order.

task that returns it   document       task that reads it
list_backend_ids       BackendIds     billing_months
billing_months         BillingPlan    fetch_usage (expanded: one mapped fetch per month)
fetch_usage            FetchResult    aggregate_usage
aggregate_usage        UsageReport    push_to_waldur
push_to_waldur         PushResult     nobody: the last task (people, monitoring)

Each is a frozen pydantic dataclass: the producing task returns ``to_xcom()`` (plain JSON, so
Airflow's XCom stores it as it is and the UI shows it), the consuming task reads it with
``from_xcom()``, which validates the JSON against the declared fields and raises
:class:`~core.errors.ReportError` naming the document and the field (``push result:
failures[0].reason: expected str, got nothing``), never pydantic's own text. The report is
defined in ``core.report`` next to the rules that build and check it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Annotated, Any, ClassVar, TypeVar, get_args, get_origin

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.dataclasses import dataclass

from airflow_provider_cscs_dwdi.core.errors import ReportError
from airflow_provider_cscs_dwdi.core.issues import Issue, issues_from_json, shown_value
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.core.report import REPORT_SCHEMA_VERSION, UsageReport
from airflow_provider_cscs_dwdi.core.validation import (
    Refusal,
    Wording,
    annotation_at,
    describe,
    explain,
    invalid,
)

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

#: A list item that names something (a backend ID, a month, an account): a string, not blank.
#: Declared rather than a Python validator: 10,000 backend IDs are checked in pydantic's core.
NonBlankName = Annotated[
    str,
    Field(strict=True, pattern=r"\S"),
    Refusal(lambda value: f"expected a non-blank string, got {value!r}"),
]
#: What pydantic's error types expect, in the words of the published documents.
_EXPECTED = {
    "int_type": "int",
    "int_parsing": "int",
    "int_from_float": "int",
    "string_type": "str",
    "bool_type": "bool",
    "dict_type": "dict",
    "list_type": "list",
    "tuple_type": "list",
}
# Extra keys are ignored, as before the models: a newer task may add a field an older one
# does not read. Scalars are strict: a bool is no int and "3" is no number.
_DOCUMENT_CONFIG = ConfigDict(extra="ignore")


def _issues(value: Any) -> Any:
    """Issues read themselves (``core.issues``); a ReportError passes through pydantic as it is."""
    if value is None or isinstance(value, tuple):
        return value
    return issues_from_json(value, "issues")


@dataclass(frozen=True, config=_DOCUMENT_CONFIG)
class BackendIds:
    """The backend IDs (DWDI accounts) of an offering's resources in Waldur: sorted, unique, non-blank.

    A duplicated ID is still listed (the push refuses it, so the problem stays visible); blank
    and duplicate IDs are also ``issues``. ``resource_uuids`` gives the Waldur resource UUIDs of
    each backend ID (inference usage is keyed by them): one UUID, or several for a duplicated ID,
    so nobody downstream can take one of them for the resource without seeing the others.
    """

    backend_ids: tuple[NonBlankName, ...]
    issues: Annotated[tuple[Issue, ...], BeforeValidator(_issues)] = ()
    # A document without resource_uuids (written before inference existed) reads as {}.
    resource_uuids: Annotated[
        dict[str, tuple[NonBlankName, ...]], BeforeValidator(lambda value: {} if value is None else value)
    ] = field(default_factory=dict)

    def to_xcom(self) -> dict[str, Any]:
        """``{"backend_ids": [...], "issues": [...], "resource_uuids": {backend_id: [uuid, ...]}}``."""
        return {
            "backend_ids": list(self.backend_ids),
            "issues": [issue.to_json() for issue in self.issues],
            "resource_uuids": {backend_id: list(uuids) for backend_id, uuids in self.resource_uuids.items()},
        }

    @classmethod
    def from_xcom(cls, doc: Any) -> BackendIds:
        """Read the document back; raises ReportError naming the bad field."""
        return _read(cls, doc, "backend IDs")

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


@dataclass(frozen=True, config=_DOCUMENT_CONFIG)
class BillingPlan:
    """The billing months a run reports, and the accounts to fetch for each of them.

    It crosses as two XComs so that the fetch task can be expanded over the months (one mapped
    fetch, aggregate and push per month): the months are the task's return value, oldest first,
    and the accounts are pushed under :attr:`ACCOUNTS_KEY`.
    """

    ACCOUNTS_KEY: ClassVar[str] = "accounts"

    months: tuple[NonBlankName, ...]
    accounts: tuple[NonBlankName, ...]

    def to_xcom(self) -> list[str]:
        """The return value: the months, ``["2026-10", "2026-11"]``."""
        return list(self.months)

    def accounts_to_xcom(self) -> list[str]:
        """The value pushed under :attr:`ACCOUNTS_KEY`: the sorted account names."""
        return list(self.accounts)

    @classmethod
    def from_xcom(cls, months: Any, accounts: Any) -> BillingPlan:
        """Read the two XComs back; raises ReportError naming the bad one."""
        return _read(cls, {"months": months, "accounts": accounts}, "billing plan")


@dataclass(frozen=True, config=_DOCUMENT_CONFIG)
class FetchResult:
    """Where one fetched month of DWDI answers is archived, and what it holds (always < 64 KiB).

    The account list itself is in the archive's header line, so the XCom stays small whatever the
    number of accounts.
    """

    month: StrictStr
    window: dict[str, StrictStr] | None  # {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}
    query: dict[str, Any]  # {"from": month, "to": month, "clusters": [...] | None}
    accounts_requested: StrictInt | None  # None: every account DWDI knows
    accounts_sha256: StrictStr
    archive: StrictStr  # ObjectStoragePath URL of the gzip JSON-lines archive
    archive_sha256: StrictStr
    archive_bytes: StrictInt
    pages: StrictInt
    entries: StrictInt
    user_rows: StrictInt
    # The worker that wrote the archive: names both hosts when another worker cannot read it.
    # None in results written before the field existed.
    host: StrictStr | None = None
    schema_version: StrictInt = FETCH_RESULT_VERSION
    # "compute" | "storage" | "inference"; a result written before storage and inference is compute.
    usage_kind: Annotated[str, BeforeValidator(lambda value: _usage_kind(value))] = UsageKind.COMPUTE.value

    @model_validator(mode="before")
    @classmethod
    def _nulls_may_be_missing(cls, doc: Any) -> Any:
        return _with_missing_nulls(cls, doc)

    def to_xcom(self) -> dict[str, Any]:
        """The document of ``docs/architecture.md`` ("Fetch result")."""
        return {
            "schema_version": self.schema_version,
            **_json_fields(self, _FETCH_RESULT_KEYS),
            "usage_kind": self.usage_kind,
        }

    @classmethod
    def from_xcom(cls, doc: Any) -> FetchResult:
        """Read the document back; raises ReportError naming the bad field."""
        name = "fetch result"
        result = _read(cls, doc, name, required=("schema_version",))
        if result.schema_version != FETCH_RESULT_VERSION:
            raise ReportError(
                f"{name}: schema_version: expected {FETCH_RESULT_VERSION}, got {result.schema_version!r}"
            )
        return result


@dataclass(frozen=True, config=_DOCUMENT_CONFIG)
class WriteFailure:
    """A report account that was not written to Waldur, and why."""

    backend_id: StrictStr | None
    resource_uuid: StrictStr | None  # None: no single Waldur resource to write to
    reason: StrictStr

    @model_validator(mode="before")
    @classmethod
    def _nulls_may_be_missing(cls, doc: Any) -> Any:
        return _with_missing_nulls(cls, doc)

    def to_json(self) -> dict[str, str | None]:
        """``{"backend_id", "resource_uuid", "reason"}``."""
        return {"backend_id": self.backend_id, "resource_uuid": self.resource_uuid, "reason": self.reason}

    @classmethod
    def from_json(cls, raw: Any, where: str) -> WriteFailure:
        """Read a failure back; raises ReportError naming ``where`` and the field."""
        return _read(cls, raw, where)


@dataclass(frozen=True, config=_DOCUMENT_CONFIG)
class PushResult:
    """What the push of one month did: resource counts, and the first issues and failures.

    ``skipped`` also counts the records the report itself left out. ``issues`` and ``failures``
    list at most the first 50 (the task log has all); ``failed`` counts every failure.
    ``without_data_count`` counts the storage resources DWDI returned no data for (not written:
    "no storage data"), ``without_data`` lists the first 50 of their backend IDs.
    """

    month: StrictStr
    dry_run: StrictBool
    changed: StrictInt
    written: StrictInt
    unchanged: StrictInt
    skipped: StrictInt
    failed: StrictInt
    user_usages_written: StrictInt
    issues: Annotated[tuple[Issue, ...], BeforeValidator(_issues)]
    failures: tuple[WriteFailure, ...]
    # Results written before storage have neither: no resource without data.
    without_data_count: Annotated[StrictInt, BeforeValidator(lambda value: 0 if value is None else value)] = 0
    without_data: Annotated[
        tuple[NonBlankName, ...], BeforeValidator(lambda value: () if value is None else value)
    ] = ()
    # The anomaly guard's (core.held): values held for approval, and the first 50 anomalies.
    held: Annotated[StrictInt, BeforeValidator(lambda value: 0 if value is None else value)] = 0
    anomalies: Annotated[tuple[dict[str, Any], ...], BeforeValidator(lambda v: () if v is None else v)] = ()

    def counts(self) -> dict[str, Any]:
        """The document without its lists (what the log shows)."""
        return {**_json_fields(self, _PUSH_COUNT_KEYS), "without_data_count": self.without_data_count}

    def to_xcom(self) -> dict[str, Any]:
        """The counts, then ``issues``, ``failures`` and ``without_data`` as JSON lists."""
        return {
            **self.counts(),
            "issues": [issue.to_json() for issue in self.issues],
            "failures": [failure.to_json() for failure in self.failures],
            "without_data": list(self.without_data),
            "held": self.held,
            "anomalies": list(self.anomalies),
        }

    @classmethod
    def from_xcom(cls, doc: Any) -> PushResult:
        """Read the document back; raises ReportError naming the bad field."""
        return _read(cls, doc, "push result")


#: The JSON keys of the flat documents, in published order.
_FETCH_RESULT_KEYS = (
    "month",
    "window",
    "query",
    "accounts_requested",
    "accounts_sha256",
    "archive",
    "archive_sha256",
    "archive_bytes",
    "pages",
    "entries",
    "user_rows",
    "host",
)
_PUSH_COUNT_KEYS = (
    "month",
    "dry_run",
    "changed",
    "written",
    "unchanged",
    "skipped",
    "failed",
    "user_usages_written",
)
_Document = TypeVar("_Document")
_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _usage_kind(value: Any) -> str:
    if value is None:
        return UsageKind.COMPUTE.value
    if not isinstance(value, str):
        raise invalid(f"expected str or null, got {describe(value)}")
    if value not in {member.value for member in UsageKind}:
        raise invalid(f"expected one of {', '.join(UsageKind)}, got {shown_value(value)}")
    return value


def _read(cls: type[_Document], doc: Any, name: str, *, required: Sequence[str] = ()) -> _Document:
    """``doc`` validated as a ``cls``; a ReportError names ``name`` and the first bad field.

    :param required: fields with a default for new documents that a stored document must carry.
    """
    if not isinstance(doc, Mapping):
        raise ReportError(
            f"{name}: expected an object, got {'nothing' if doc is None else type(doc).__name__}"
        )
    for key in required:
        if key not in doc:
            raise ReportError(f"{name}: {_WORDING.missing(key, annotation_at(cls, (key,)))}")
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    try:
        document: _Document = adapter.validate_python(doc)
        return document
    except ValidationError as error:
        raise ReportError(f"{name}: {explain(error, cls, first_index=0, wording=_WORDING)}") from None
    except ReportError as error:  # from an issue, which names its own place
        raise ReportError(f"{name}: {error}") from None


def _expected(annotation: Any, error_type: str) -> str:
    """The JSON type a field expects: ``int``, or ``dict or null`` for a nullable field."""
    expected = _EXPECTED.get(error_type) or _json_type(annotation)
    nullable = type(None) in get_args(annotation)
    return f"{expected}{' or null' if nullable else ''}"


#: The documents' words: ``pages: expected int, got bool True``, ``archive: expected str, got nothing``.
_WORDING = Wording(
    missing=lambda place, annotation: f"{place}: expected {_expected(annotation, 'missing')}, got nothing",
    refused=lambda details, annotation: (
        f"expected {_expected(annotation, details['type'])}, got {describe(details.get('input'))}"
    ),
)


def _with_missing_nulls(cls: Any, doc: Any) -> Any:
    """A stored document with its missing nullable fields as null: older versions lacked some."""
    if not isinstance(doc, Mapping):
        return doc  # a constructor call, or not a document (refused by the validation)
    absent = {
        name: None
        for name, info in cls.__pydantic_fields__.items()
        if name not in doc and type(None) in get_args(info.annotation)
    }
    return {**doc, **absent} if absent else doc


def _json_type(annotation: Any) -> str:
    """The JSON type of a field's annotation, as a Python type name (``str``, ``int``, ``list``)."""
    for candidate in (annotation, *get_args(annotation)):
        origin = get_origin(candidate) or candidate
        if origin is Annotated:
            return _json_type(get_args(candidate)[0])
        if origin is tuple:
            return "list"
        if isinstance(origin, type) and origin is not type(None):
            return origin.__name__
    return "value"


def _json_fields(document: Any, keys: Sequence[str]) -> dict[str, Any]:
    """The attributes of ``document`` named in ``keys``, mappings as plain dicts."""
    values = {key: getattr(document, key) for key in keys}
    return {key: dict(value) if isinstance(value, Mapping) else value for key, value in values.items()}
