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

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_cscs_dwdi.core.amounts import UnstorableAmountError, format_amount
from airflow_provider_cscs_dwdi.core.audit_result import Drift
from airflow_provider_cscs_dwdi.core.issues import Issue
from airflow_provider_cscs_dwdi.core.plan_types import WritePlan
from airflow_provider_cscs_dwdi.core.report import UsageReport

CAUSE_MISSING = "usage missing in Waldur"
CAUSE_EXTRA_USER = "extra user usage"
CAUSE_DWDI_REVISED = "DWDI revised after close"
CAUSE_EDITED = "value edited in Waldur"
CAUSE_BACKEND_ID_CHANGED = "backend ID changed"


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
