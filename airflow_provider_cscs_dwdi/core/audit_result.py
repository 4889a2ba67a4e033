"""The audit task's XCom document: per-month counts, the drift rows and the repair, if any.

The comparison that finds the rows is :mod:`core.audit`; the alert and log text made of them is
:mod:`core.alerts`. Like the documents of :mod:`core.xcom`, :class:`AuditResult` and its
:class:`Drift` rows are frozen pydantic dataclasses: ``to_xcom()`` writes plain JSON,
``from_xcom()`` validates it against the declared fields and raises
:class:`~core.errors.ReportError` naming the document and the field (``audit result: drifts[0]:
dwdi: expected a decimal string or null, got 'x'``), never pydantic's own text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Protocol

from pydantic import BeforeValidator, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from airflow_provider_cscs_dwdi.core.amounts import format_amount
from airflow_provider_cscs_dwdi.core.errors import ReportError
from airflow_provider_cscs_dwdi.core.validation import error_message, error_place, first_error, invalid

#: How many drift rows the XCom result lists (the task log has all).
LISTED_LIMIT = 200
AUDIT_RESULT_VERSION = 1
_NAME = "audit result"
# Extra keys are ignored (``clean``, a row's ``delta``: derived, written for people): a newer
# task may add a field an older one does not read.
_DOCUMENT_CONFIG = ConfigDict(extra="ignore")


def _decimal_text(value: Any) -> Any:
    """Amounts cross as strings (``"1.50"``): a JSON number may already have been rounded by a float."""
    if value is None or isinstance(value, (str, Decimal)):
        return value
    raise invalid("not a decimal string")


#: An amount of a drift row: a finite decimal, written as a 2-decimal string, null where absent.
DriftAmount = Annotated[Annotated[Decimal, Field(allow_inf_nan=False)] | None, BeforeValidator(_decimal_text)]


@dataclass(frozen=True, config=_DOCUMENT_CONFIG)
class Drift:
    """One value Waldur holds that differs from DWDI, or an account that cannot be compared.

    ``component`` and ``username`` are None for an account-level row (a refusal: the ``cause``
    then says why it cannot be compared); ``username`` is None for a resource total. ``dwdi`` or
    ``waldur`` is None where that side holds no value. A stored row may leave out its null fields.
    """

    month: StrictStr
    backend_id: StrictStr
    resource_uuid: StrictStr | None = None
    component: StrictStr | None = None
    username: StrictStr | None = None
    dwdi: DriftAmount = None
    waldur: DriftAmount = None
    cause: StrictStr | None = None

    @property
    def delta(self) -> Decimal | None:
        """DWDI minus Waldur (a missing value counts as 0); None for an account-level row."""
        if self.component is None:
            return None
        return (self.dwdi or Decimal(0)) - (self.waldur or Decimal(0))

    def cells(self) -> tuple[str, ...]:
        """The row of the log table (see :func:`core.alerts.drift_table`)."""
        return (
            self.month,
            self.backend_id,
            self.component or "-",
            self.username or "-",
            _shown(self.dwdi),
            _shown(self.waldur),
            _shown(self.delta, signed=True),
            self.cause or "unknown (no archive of the month's push)",
        )

    def to_json(self) -> dict[str, Any]:
        """Amounts as 2-decimal strings (``delta`` too), absent values as null."""
        return {
            "month": self.month,
            "backend_id": self.backend_id,
            "resource_uuid": self.resource_uuid,
            "component": self.component,
            "username": self.username,
            "dwdi": _json_amount(self.dwdi),
            "waldur": _json_amount(self.waldur),
            "delta": _json_amount(self.delta),
            "cause": self.cause,
        }


class AuditedMonth(Protocol):
    """What the result needs of a month's audit (:class:`core.audit.MonthAudit`)."""

    @property
    def drifts(self) -> tuple[Drift, ...]: ...

    def summary(self) -> dict[str, Any]: ...


@dataclass(frozen=True, config=_DOCUMENT_CONFIG)
class AuditResult:
    """The XCom of the audit task: per-month counts, the drift rows and the repair, if any.

    ``drifts`` lists the first :data:`LISTED_LIMIT` rows (the task log has all); ``drift_count``
    counts them all. After a repair, the repaired month's rows are those of its re-audit.
    ``repair`` is the repair's :class:`~core.xcom.PushResult` document (None: no repair).
    """

    months: tuple[dict[str, Any], ...]
    drift_count: StrictInt
    drifts: tuple[Drift, ...]
    repair_month: StrictStr | None = None
    repair: dict[str, Any] | None = None
    schema_version: StrictInt = AUDIT_RESULT_VERSION

    @classmethod
    def of(
        cls,
        audits: Sequence[AuditedMonth],
        *,
        repair_month: str | None = None,
        repair: Mapping[str, Any] | None = None,
    ) -> AuditResult:
        """The result of these month audits (oldest first)."""
        drifts = [drift for audit in audits for drift in audit.drifts]
        return cls(
            months=tuple(audit.summary() for audit in audits),
            drift_count=len(drifts),
            drifts=tuple(drifts[:LISTED_LIMIT]),
            repair_month=repair_month,
            repair=None if repair is None else dict(repair),
        )

    @property
    def clean(self) -> bool:
        """True when no audited month differs."""
        return self.drift_count == 0

    def to_xcom(self) -> dict[str, Any]:
        """``{"schema_version", "clean", "drift_count", "months", "drifts", "repair_month", "repair"}``."""
        return {
            "schema_version": self.schema_version,
            "clean": self.clean,
            "drift_count": self.drift_count,
            "months": [dict(month) for month in self.months],
            "drifts": [drift.to_json() for drift in self.drifts],
            "repair_month": self.repair_month,
            "repair": None if self.repair is None else dict(self.repair),
        }

    @classmethod
    def from_xcom(cls, doc: Any) -> AuditResult:
        """Read the document back; raises ReportError naming the bad field."""
        if not isinstance(doc, Mapping):
            raise ReportError(f"{_NAME}: expected {_an_object(doc)}")
        # The version first: a document of another version is refused as such, not field by field.
        if doc.get("schema_version") != AUDIT_RESULT_VERSION:
            raise ReportError(
                f"{_NAME}: schema_version: expected {AUDIT_RESULT_VERSION}, got {doc.get('schema_version')!r}"
            )
        try:
            return _ADAPTER.validate_python(doc)
        except ValidationError as error:
            raise ReportError(f"{_NAME}: {_explain(error)}") from None


_ADAPTER: TypeAdapter[AuditResult] = TypeAdapter(AuditResult)
#: What each field expects, in the words of the published document (the row's text fields alike).
_EXPECTED = {
    "months": "a list of objects",
    "drifts": "a list",
    "drift_count": "int, got {value!r}",
    "repair": "an object or null",
    "repair_month": "a string or null, got {value!r}",
    "month": "a string, got {value!r}",
    "backend_id": "a string, got {value!r}",
    "resource_uuid": "a string or null, got {value!r}",
    "component": "a string or null, got {value!r}",
    "username": "a string or null, got {value!r}",
    "cause": "a string or null, got {value!r}",
    "dwdi": "a decimal string or null, got {value!r}",
    "waldur": "a decimal string or null, got {value!r}",
}


def _explain(error: ValidationError) -> str:
    """``drifts[0]: dwdi: expected a decimal string or null, got 'x'``: the first error's place and need.

    A missing field reads as null (``got None``), as the hand-written reader before the model said.
    """
    details = first_error(error)
    loc = tuple(details["loc"])
    value = None if details["type"] == "missing" else details.get("input")
    if loc[:1] == ("drifts",) and len(loc) == 2:
        return f"{error_place(loc)}: expected {_an_object(value)}"
    if loc[:1] == ("drifts",) and len(loc) > 2:
        place = f"{error_place(loc[:2])}: {loc[2]}"
        field = str(loc[2])
    else:
        field = str(loc[0])
        place = field
    expected = _EXPECTED.get(field)
    if expected is None:  # not a declared field: pydantic's sentence, shortened
        return f"{error_place(loc)}: {error_message(details)}"
    return f"{place}: expected {expected.format(value=value)}"


def _an_object(value: Any) -> str:
    return f"an object, got {'nothing' if value is None else type(value).__name__}"


def _shown(amount: Decimal | None, *, signed: bool = False) -> str:
    if amount is None:
        return "-"
    text = format_amount(amount)
    return f"+{text}" if signed and amount > 0 else text


def _json_amount(amount: Decimal | None) -> str | None:
    return None if amount is None else format_amount(amount)
