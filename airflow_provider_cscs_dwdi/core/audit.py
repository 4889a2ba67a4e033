"""The drift audit: what Waldur holds for a closed month against what DWDI says now.

Pure Python. An audit is a write plan that is not executed: :func:`audit_month` takes the same
:class:`~core.waldur_plan.WritePlan` the push builds (with ``reconcile``, so user usages DWDI no
longer reports count too) and turns every write it would make, and every account it would
refuse, into a :class:`Drift` row. The archive of the month's last push (``PushedMonth``: the
report rebuilt from it) tells the likely cause apart:

``usage missing in Waldur``
    DWDI has a total or user usage that Waldur holds no value for.
``extra user usage``
    Waldur holds usage for a user that DWDI does not report for the resource and month.
``DWDI revised after close``
    DWDI's value now differs from the value that was pushed (the archive).
``value edited in Waldur``
    DWDI still says what was pushed, but Waldur holds something else.
``backend ID changed``
    The resource's backend ID was not among the accounts of the last push: it was renamed in
    Waldur after the push, so the usage Waldur holds was billed under its old ID (named when the
    archive lists exactly one account that no resource carries any more).

Without an archive of the month (never pushed, or archived elsewhere) the cause stays unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_cscs_dwdi.core.alerts import AlertMessage, RunLabel
from airflow_provider_cscs_dwdi.core.errors import ReportError
from airflow_provider_cscs_dwdi.core.issues import Issue
from airflow_provider_cscs_dwdi.core.report import UsageReport
from airflow_provider_cscs_dwdi.core.waldur_plan import UnstorableAmountError, WritePlan, format_amount

CAUSE_MISSING = "usage missing in Waldur"
CAUSE_EXTRA_USER = "extra user usage"
CAUSE_DWDI_REVISED = "DWDI revised after close"
CAUSE_EDITED = "value edited in Waldur"
CAUSE_BACKEND_ID_CHANGED = "backend ID changed"

#: How many drift rows the XCom document lists (the task log has all of them).
LISTED_LIMIT = 200
#: How many drift rows a ``drift`` alert lists.
ALERT_ROWS = 20
AUDIT_RESULT_VERSION = 1

_TABLE_HEADER = ("month", "resource", "component", "user", "DWDI", "Waldur", "delta", "likely cause")


@dataclass(frozen=True)
class PushedMonth:
    """What the month's last push billed: the report rebuilt from its archive.

    :param accounts: the backend IDs that push asked DWDI for (the archive header).
    :param report: the report the archive gives (same aggregation as the push).
    :param archive: where the archive is, for the log.
    """

    accounts: frozenset[str]
    report: UsageReport
    archive: str


@dataclass(frozen=True)
class Drift:
    """One value Waldur holds that differs from DWDI, or an account that cannot be compared.

    ``component`` and ``username`` are None for an account-level row (a refusal: the ``cause``
    then says why it cannot be compared); ``username`` is None for a resource total. ``dwdi`` or
    ``waldur`` is None where that side holds no value.
    """

    month: str
    backend_id: str
    resource_uuid: str | None
    component: str | None
    username: str | None
    dwdi: Decimal | None
    waldur: Decimal | None
    cause: str | None

    @property
    def delta(self) -> Decimal | None:
        """DWDI minus Waldur (a missing value counts as 0); None for an account-level row."""
        if self.component is None:
            return None
        return (self.dwdi or Decimal(0)) - (self.waldur or Decimal(0))

    def cells(self) -> tuple[str, ...]:
        """The row of the log table (see :data:`_TABLE_HEADER`)."""
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

    @classmethod
    def from_json(cls, raw: Any, where: str) -> Drift:
        """Read a row back; raises ReportError naming ``where`` and the field."""
        doc = _object(raw, where)
        return cls(
            month=_text(doc, where, "month"),
            backend_id=_text(doc, where, "backend_id"),
            resource_uuid=_text(doc, where, "resource_uuid", nullable=True),
            component=_text(doc, where, "component", nullable=True),
            username=_text(doc, where, "username", nullable=True),
            dwdi=_amount(doc, where, "dwdi"),
            waldur=_amount(doc, where, "waldur"),
            cause=_text(doc, where, "cause", nullable=True),
        )


@dataclass(frozen=True)
class MonthAudit:
    """The audit of one month: how many resources were compared and what differs."""

    month: str
    resources: int
    unchanged: int
    drifts: tuple[Drift, ...]
    issues: tuple[Issue, ...]
    #: The archive of the month's last push that causes were read from (None: not found).
    pushed_archive: str | None
    plan: WritePlan

    @property
    def clean(self) -> bool:
        """True when Waldur holds exactly what DWDI says for every resource of the month."""
        return not self.drifts

    def summary(self) -> dict[str, Any]:
        """``{"month", "resources", "unchanged", "drifts", "pushed_archive"}`` (the XCom entry)."""
        return {
            "month": self.month,
            "resources": self.resources,
            "unchanged": self.unchanged,
            "drifts": len(self.drifts),
            "pushed_archive": self.pushed_archive,
        }


def audit_month(report: UsageReport, plan: WritePlan, *, pushed: PushedMonth | None = None) -> MonthAudit:
    """Turn the write plan of a freshly aggregated DWDI month into the month's drift rows.

    :param report: the month recomputed from DWDI now.
    :param plan: :func:`~core.waldur_plan.build_write_plan` of ``report`` against what Waldur
        holds for the month, with ``reconcile=True`` (user usages DWDI no longer has are drift).
    :param pushed: the month's last push, to tell the likely cause of each difference.
    """
    # The audit's own fetch asked DWDI for every backend ID Waldur holds now.
    renamed_from = _renamed_from(pushed, {*report.accounts, *report.without_data})
    drifts: list[Drift] = []
    for resource in plan.changed:
        reported_account = report.accounts.get(resource.backend_id)
        users = reported_account["users"] if reported_account is not None else {}
        renamed = pushed is not None and resource.backend_id not in pushed.accounts
        changes: list[tuple[str, str | None, Decimal, Decimal | None]] = [
            (change.component_type, None, change.new, change.old) for change in resource.total_changes
        ]
        if resource.users_not_compared is None:
            changes += [
                (change.component_type, change.username, change.new, change.old)
                for change in resource.user_changes
            ]
        else:
            # The plan holds every user usage, read or not: a difference cannot be told apart.
            drifts.append(
                _not_comparable(
                    report.month, resource.backend_id, resource.resource_uuid, resource.users_not_compared
                )
            )
        for component, username, new, old in changes:
            # A user DWDI does not report has no DWDI value (reconcile's 0 is the fix, not DWDI's).
            reported = username is None or component in users.get(username, {})
            if renamed and old is not None:
                cause: str | None = _renamed_cause(renamed_from)
            elif not reported:
                cause = CAUSE_EXTRA_USER
            else:
                cause = _cause(
                    dwdi=new,
                    waldur=old,
                    pushed=_pushed_amount(pushed, resource.backend_id, component, username),
                    known=pushed is not None,
                )
            drifts.append(
                Drift(
                    month=report.month,
                    backend_id=resource.backend_id,
                    resource_uuid=resource.resource_uuid,
                    component=component,
                    username=username,
                    dwdi=new if reported else None,
                    waldur=old,
                    cause=cause,
                )
            )
    for refusal in plan.refused:
        drifts.append(
            _not_comparable(report.month, refusal.backend_id, refusal.resource_uuid, refusal.reason)
        )
    return MonthAudit(
        month=report.month,
        resources=len(plan.resources) + len(plan.refused),
        unchanged=len(plan.unchanged),
        drifts=tuple(drifts),
        issues=plan.issues,
        pushed_archive=pushed.archive if pushed is not None else None,
        plan=plan,
    )


def unstorable_month(report: UsageReport, error: UnstorableAmountError) -> MonthAudit:
    """The audit of a month whose DWDI totals Waldur cannot store: not comparable, nothing read.

    Such a month can be neither pushed nor repaired (the push refuses it before any request), so
    its Waldur values are not read either; each over-ceiling total becomes an account-level row.
    """
    return MonthAudit(
        month=report.month,
        resources=0,
        unchanged=0,
        drifts=tuple(
            _not_comparable(
                report.month,
                backend_id,
                None,
                f"DWDI's {component} total {format_amount(amount)} is above max_usage_amount "
                f"{format_amount(error.max_usage_amount)}, the most Waldur can store: the month cannot be "
                "pushed or repaired until it is corrected (is the component's unit_factor right?)",
            )
            for backend_id, component, amount in error.totals
        ),
        issues=(),
        pushed_archive=None,
        plan=WritePlan(month=report.month, resources=(), refused=(), skipped=(), issues=()),
    )


def _not_comparable(month: str, backend_id: str, resource_uuid: str | None, reason: str) -> Drift:
    """An account-level row: the account could not be compared with Waldur, and why."""
    return Drift(
        month=month,
        backend_id=backend_id,
        resource_uuid=resource_uuid,
        component=None,
        username=None,
        dwdi=None,
        waldur=None,
        cause=f"not comparable: {reason}",
    )


def drift_table(drifts: Sequence[Drift]) -> list[str]:
    """The drift rows as an aligned text table (header first), one line per row."""
    rows = [_TABLE_HEADER, *(drift.cells() for drift in drifts)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_TABLE_HEADER))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


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
                Drift.from_json(item, f"{name}: drifts[{index}]") for index, item in enumerate(drifts)
            ),
            repair_month=_text(doc, name, "repair_month", nullable=True),
            repair=None if repair is None else dict(repair),
        )


def drift_message(run: RunLabel, result: AuditResult) -> AlertMessage | None:
    """The ``drift`` alert of an audit run, or None when it found no difference (nothing to send).

    Counts and the first rows of the table: backend IDs, usernames and amounts, never a secret.
    """
    if result.clean:
        return None
    drifted = [str(month["month"]) for month in result.months if month.get("drifts")]
    subject = (
        f"[cscs-dwdi] {run.offering_name} {', '.join(drifted) or 'audit'}: "
        f"drift found ({result.drift_count} difference(s))"
    )
    lines = [
        "The drift audit found values in Waldur that differ from what DWDI says now.",
        "",
        f"Offering: {run.offering_name} ({run.offering_uuid})",
        f"DAG run: {run.dag_id} / {run.run_id or 'unknown run'}",
        *(
            f"{month['month']}: {month['resources']} resource(s) compared, {month['unchanged']} identical, "
            f"{month['drifts']} difference(s)"
            for month in result.months
        ),
    ]
    if result.repair_month:
        lines.append(
            f"Repair of {result.repair_month} in this run: {'dry run' if (result.repair or {}).get('dry_run') else 'written'}"
        )
    listed = result.drifts[:ALERT_ROWS]
    lines += ["", *drift_table(listed)]
    if result.drift_count > len(listed):
        lines.append(
            f"... and {result.drift_count - len(listed)} more in the audit_waldur task's log and XCom"
        )
    lines += [
        "",
        "To write the corrections of one month, trigger the audit DAG with repair_month (dry_run first).",
    ]
    return AlertMessage(subject, "\n".join(lines) + "\n")


def _cause(*, dwdi: Decimal, waldur: Decimal | None, pushed: Decimal | None, known: bool) -> str | None:
    if waldur is None:
        return CAUSE_MISSING
    if not known:
        return None
    if pushed != dwdi:
        # Pushed without this value, or with another one: DWDI changed after the push.
        return CAUSE_DWDI_REVISED
    return CAUSE_EDITED


def _pushed_amount(
    pushed: PushedMonth | None, backend_id: str, component: str, username: str | None
) -> Decimal | None:
    """The amount the last push billed (None: not in it)."""
    if pushed is None:
        return None
    account = pushed.report.accounts.get(backend_id)
    if account is None:
        return None
    amounts = account["total"] if username is None else account["users"].get(username, {})
    value = amounts.get(component)
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None


def _renamed_from(pushed: PushedMonth | None, current: set[str]) -> tuple[str, ...]:
    """The pushed accounts that no Waldur resource carries any more (the old backend IDs)."""
    if pushed is None:
        return ()
    return tuple(sorted(pushed.accounts - current))


def _renamed_cause(old_backend_ids: Sequence[str]) -> str:
    if len(old_backend_ids) == 1:
        return f"{CAUSE_BACKEND_ID_CHANGED} (was {old_backend_ids[0]})"
    return CAUSE_BACKEND_ID_CHANGED


def _shown(amount: Decimal | None, *, signed: bool = False) -> str:
    if amount is None:
        return "-"
    text = format_amount(amount)
    return f"+{text}" if signed and amount > 0 else text


def _json_amount(amount: Decimal | None) -> str | None:
    return None if amount is None else format_amount(amount)


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
