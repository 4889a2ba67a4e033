"""The audit task's XCom document: per-month counts, the drift rows and the repair, if any.

The comparison that finds the rows is :mod:`core.audit`; the alert and log text made of them is
:mod:`core.alerts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_cscs_dwdi.core.audit import Drift, MonthAudit
from airflow_provider_cscs_dwdi.core.errors import ReportError

#: How many drift rows the XCom result lists (the task log has all).
LISTED_LIMIT = 200
AUDIT_RESULT_VERSION = 1


@dataclass(frozen=True)
class AuditResult:
    """The XCom of the audit task: per-month counts, the drift rows and the repair, if any.

    ``drifts`` lists the first :data:`LISTED_LIMIT` rows (the task log has all); ``drift_count``
    counts them all. After a repair, the repaired month's rows are those of its re-audit.
    ``repair`` is the repair's :class:`~core.xcom.PushResult` document (None: no repair).
    """

    months: tuple[Mapping[str, Any], ...]
    drift_count: int
    drifts: tuple[Drift, ...]
    repair_month: str | None = None
    repair: Mapping[str, Any] | None = None
    schema_version: int = AUDIT_RESULT_VERSION

    @classmethod
    def of(
        cls,
        audits: Sequence[MonthAudit],
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
            repair=repair,
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
        name = "audit result"
        doc = _object(doc, name)
        if doc.get("schema_version") != AUDIT_RESULT_VERSION:
            raise ReportError(
                f"{name}: schema_version: expected {AUDIT_RESULT_VERSION}, got {doc.get('schema_version')!r}"
            )
        months = doc.get("months")
        drifts = doc.get("drifts")
        count = doc.get("drift_count")
        if not isinstance(months, list) or not all(isinstance(month, Mapping) for month in months):
            raise ReportError(f"{name}: months: expected a list of objects")
        if not isinstance(drifts, list):
            raise ReportError(f"{name}: drifts: expected a list")
        if not isinstance(count, int) or isinstance(count, bool):
            raise ReportError(f"{name}: drift_count: expected int, got {count!r}")
        repair = doc.get("repair")
        if repair is not None and not isinstance(repair, Mapping):
            raise ReportError(f"{name}: repair: expected an object or null")
        return cls(
            months=tuple(dict(month) for month in months),
            drift_count=count,
            drifts=tuple(
                drift_from_json(item, f"{name}: drifts[{index}]") for index, item in enumerate(drifts)
            ),
            repair_month=_text(doc, name, "repair_month", nullable=True),
            repair=None if repair is None else dict(repair),
        )


def drift_from_json(raw: Any, where: str) -> Drift:
    """Read a drift row back; raises ReportError naming ``where`` and the field."""
    doc = _object(raw, where)
    return Drift(
        month=_text(doc, where, "month"),
        backend_id=_text(doc, where, "backend_id"),
        resource_uuid=_text(doc, where, "resource_uuid", nullable=True),
        component=_text(doc, where, "component", nullable=True),
        username=_text(doc, where, "username", nullable=True),
        dwdi=_amount(doc, where, "dwdi"),
        waldur=_amount(doc, where, "waldur"),
        cause=_text(doc, where, "cause", nullable=True),
    )


def _object(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ReportError(
            f"{where}: expected an object, got {'nothing' if raw is None else type(raw).__name__}"
        )
    return raw


def _text(doc: Mapping[str, Any], where: str, key: str, *, nullable: bool = False) -> Any:
    value = doc.get(key)
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise ReportError(f"{where}: {key}: expected a string{' or null' if nullable else ''}, got {value!r}")
    return value


def _amount(doc: Mapping[str, Any], where: str, key: str) -> Decimal | None:
    value = doc.get(key)
    if value is None:
        return None
    try:
        amount = Decimal(str(value)) if isinstance(value, str) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise ReportError(f"{where}: {key}: expected a decimal string or null, got {value!r}")
    return amount
