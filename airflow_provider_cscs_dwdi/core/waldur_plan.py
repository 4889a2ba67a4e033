"""Compare an aggregated report with what Waldur already holds and decide what to write.

Pure Python: the WaldurHook reads Waldur's state, this module turns report + state into a
:class:`WritePlan`, and PushToWaldurOperator executes it. Keeping the decision here means every
billing rule (what counts as "changed", which accounts are refused and why) is testable without a
server or Airflow.

Rules
    * Only resources in a state that accepts usage are considered (the caller lists them).
    * ``backend_id`` links a report account to a resource. Blank IDs are ignored, and an account
      whose ID matches several resources is refused rather than written to a guessed one.
    * Only component types the offering meters (billing type ``usage`` or ``limit``) are written;
      other types in the report are listed as issues.
    * A value is unchanged when it is equal as a Decimal to what Waldur holds ("10.5" == "10.50").
      Unchanged totals and user usages are never resent: each write fires billing signals.
    * Negative amounts are never sent (Waldur would accept them).
    * An amount above the ceiling Waldur can store (:data:`DEFAULT_MAX_USAGE_AMOUNT`) refuses the
      whole push before any request, whatever the bad value policy: Waldur 7.0.7 answers such a
      ``set_usage`` with a 500 (the invoice item's quantity overflows from 10^12 on), and such an
      amount nearly always means a ``unit_factor`` that does not convert DWDI's unit.
    * ``reconcile=True`` writes 0 for users Waldur holds for the month that the report no longer
      has, so a corrected DWDI month cannot leave stale per-user usage behind.
    * A resource whose user usages Waldur's listing could not return completely is not diffed for
      them: every user usage of the report is written (each write is an upsert, so rewriting an
      equal value is harmless), reconcile zeroes only the users that were seen, and an issue says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError, ReportError
from airflow_provider_cscs_dwdi.core.issues import Issue
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.core.report import UsageReport
from airflow_provider_cscs_dwdi.core.waldur_state import (
    USAGE_ACCEPTING_STATES,
    BackendIdIndex,
    index_component_usages,
    index_resources,
    index_user_usages,
)

#: Component billing types that take reported usage; the others are refused by ``set_usage``.
REPORTABLE_BILLING_TYPES = frozenset({"usage", "limit"})
_CENT = Decimal("0.01")
#: The largest ``set_usage`` amount Waldur stores: 7.0.7 answers 500 from 10^12 on (invoice item
#: quantity overflow, the write rolled back) and 400 from 10^18 on (more than 20 digits).
DEFAULT_MAX_USAGE_AMOUNT = Decimal("999999999999.99")


class UnstorableAmountError(CscsDwdiError):
    """The report holds totals Waldur cannot store: nothing of the push may be written.

    ``lines`` names each one: account (the resource's backend_id), component, value, unit_factor;
    ``totals`` holds them as ``(backend_id, component, amount)`` and ``max_usage_amount`` the ceiling.
    """

    def __init__(
        self,
        message: str,
        lines: Sequence[str],
        totals: Sequence[tuple[str, str, Decimal]] = (),
        max_usage_amount: Decimal = DEFAULT_MAX_USAGE_AMOUNT,
    ) -> None:
        super().__init__(message)
        self.lines = tuple(lines)
        self.totals = tuple(totals)
        self.max_usage_amount = max_usage_amount


@dataclass(frozen=True)
class AmountChange:
    """A component total of one resource that differs from Waldur (``old`` None: no row yet)."""

    component_type: str
    old: Decimal | None
    new: Decimal


@dataclass(frozen=True)
class UserUsageChange:
    """A per-user usage of one resource and component that differs from Waldur."""

    component_type: str
    username: str
    old: Decimal | None
    new: Decimal


@dataclass(frozen=True)
class ResourcePlan:
    """What to write for one report account that maps to exactly one Waldur resource."""

    backend_id: str
    resource_uuid: str
    total_changes: tuple[AmountChange, ...]
    user_changes: tuple[UserUsageChange, ...]
    #: uuids of the month's existing component-usage rows, by component type.
    component_usage_uuids: Mapping[str, str] = field(default_factory=dict)
    #: Why Waldur's user usages of the resource could not be read completely (None: they were):
    #: ``user_changes`` then holds every user usage of the report, not only those that differ.
    users_not_compared: str | None = None

    @property
    def has_changes(self) -> bool:
        """True when at least one total or user usage must be written."""
        return bool(self.total_changes or self.user_changes)

    def user_changes_by_component(self) -> dict[str, list[UserUsageChange]]:
        """The user usage changes grouped by component type (one bulk write per group)."""
        grouped: dict[str, list[UserUsageChange]] = defaultdict(list)
        for change in self.user_changes:
            grouped[change.component_type].append(change)
        return dict(grouped)


@dataclass(frozen=True)
class Refusal:
    """A report account that will not be written, and why (it makes the push fail)."""

    backend_id: str
    resource_uuid: str | None
    reason: str


@dataclass(frozen=True)
class WritePlan:
    """The whole push of one month: per-resource changes, refusals, skips and issues."""

    month: str
    resources: tuple[ResourcePlan, ...]
    refused: tuple[Refusal, ...]
    #: Accounts with no Waldur resource whose totals are all zero: nothing is lost by skipping.
    skipped: tuple[str, ...]
    issues: tuple[Issue, ...]
    #: Requested accounts DWDI had no data for (storage): not written, Waldur keeps what it holds.
    without_data: tuple[str, ...] = ()

    @property
    def changed(self) -> tuple[ResourcePlan, ...]:
        """The resources with at least one write."""
        return tuple(resource for resource in self.resources if resource.has_changes)

    @property
    def unchanged(self) -> tuple[ResourcePlan, ...]:
        """The resources Waldur already holds exactly."""
        return tuple(resource for resource in self.resources if not resource.has_changes)


def build_write_plan(
    report: UsageReport,
    *,
    resources: Iterable[Mapping[str, Any]],
    offering_components: Iterable[Mapping[str, Any]],
    component_usages: Iterable[Mapping[str, Any]],
    user_usages: Iterable[Mapping[str, Any]] = (),
    reconcile: bool = False,
    max_usage_amount: Decimal = DEFAULT_MAX_USAGE_AMOUNT,
    offering: str = "the offering",
    incomplete_user_usages: Mapping[str, str] | None = None,
) -> WritePlan:
    """Diff a validated report against Waldur's state for the report's month.

    :param report: the aggregated report (amounts are 2-decimal strings, checked again here).
    :param resources: the offering's resources in usage-accepting states
        (``uuid``, ``backend_id``, ``name``).
    :param offering_components: the offering's ``components`` (``type``, ``billing_type``).
    :param component_usages: the month's component-usage rows of the offering
        (``uuid``, ``resource_uuid``, ``type``, ``usage``).
    :param user_usages: the month's user-usage rows of the offering
        (``resource_uuid``, ``component_type``, ``username``, ``usage``).
    :param reconcile: also write 0 for users Waldur holds that the report no longer has.
    :param max_usage_amount: the largest total Waldur can store.
    :param offering: how messages name the offering.
    :param incomplete_user_usages: resource uuid -> why its user usages could not be read
        completely (``core.waldur_state.UserUsageListing.incomplete``): not diffed, all written.
    :raises UnstorableAmountError: a total is above ``max_usage_amount`` (no plan at all).
    """
    refuse_unstorable_amounts(report, max_usage_amount=max_usage_amount, offering=offering)
    index = index_resources(resources)
    issues = list(index.issues)
    component_types = _reportable_component_types(report, offering_components, issues)
    existing_totals, existing_uuids, ambiguous = index_component_usages(component_usages, issues)
    # Storage and inference have no per-user breakdown: their user usages are never touched,
    # not even zeroed by reconcile.
    has_users = UsageKind(report.usage_kind).has_users
    existing_users = index_user_usages(user_usages) if has_users else {}

    planned: list[ResourcePlan] = []
    refused: list[Refusal] = []
    skipped: list[str] = []
    for backend_id, account in sorted(report.accounts.items()):
        totals = _parse_amounts(account.get("total", {}), f"accounts.{backend_id}.total")
        users = {
            username: _parse_amounts(amounts, f"accounts.{backend_id}.users.{username}")
            for username, amounts in account.get("users", {}).items()
        }
        resource = index.unique.get(backend_id)
        refusal = _refusal(backend_id, resource, totals, users, index, ambiguous, issues)
        if refusal is not None:
            refused.append(refusal)
            continue
        if resource is None:
            skipped.append(backend_id)
            continue
        resource_uuid = str(resource["uuid"])
        not_compared = (incomplete_user_usages or {}).get(resource_uuid) if has_users else None
        if not_compared is not None:
            issues.append(
                Issue(
                    kind="unstable_listing",
                    message=f"{backend_id}: the user usages of Waldur resource {resource_uuid} could not be "
                    f"read completely ({not_compared}): they are not compared; a push writes every one "
                    "of them (idempotent upserts) and the audit reports the resource as not comparable.",
                    record=f"Waldur resource {resource_uuid}",
                    account=backend_id,
                )
            )
        planned.append(
            ResourcePlan(
                backend_id=backend_id,
                resource_uuid=resource_uuid,
                total_changes=_total_changes(totals, component_types, existing_totals.get(resource_uuid, {})),
                user_changes=_user_changes(
                    users,
                    component_types,
                    existing_users.get(resource_uuid, {}),
                    reconcile=reconcile,
                    compare=not_compared is None,
                )
                if has_users
                else (),
                component_usage_uuids=existing_uuids.get(resource_uuid, {}),
                users_not_compared=not_compared,
            )
        )
    return WritePlan(
        month=report.month,
        resources=tuple(planned),
        refused=tuple(refused),
        skipped=tuple(skipped),
        issues=tuple(issues),
        without_data=tuple(report.without_data),
    )


def refuse_unstorable_amounts(
    report: UsageReport, *, max_usage_amount: Decimal = DEFAULT_MAX_USAGE_AMOUNT, offering: str
) -> None:
    """Refuse the whole report when a total is above what Waldur can store, naming every one.

    Called before any request of a push: under either bad value policy such a total is an error of
    the push, never a value to skip, because leaving a resource's month unbilled is as wrong as
    billing it wrongly. Only totals are checked: a user usage is part of its account's total.

    :param report: the aggregated report (amounts already validated as 2-decimal strings).
    :param max_usage_amount: the largest total Waldur can store.
    :param offering: how the message names the offering (its name or uuid, and the DAG).
    :raises UnstorableAmountError: listing offering, account, component, value and unit_factor.
    """
    lines = []
    unstorable = []
    for backend_id, account in sorted(report.accounts.items()):
        totals = _parse_amounts(account.get("total", {}), f"accounts.{backend_id}.total")
        for component_type, amount in totals.items():
            if abs(amount) > max_usage_amount:
                lines.append(_unstorable_line(report, backend_id, component_type, amount))
                unstorable.append((backend_id, component_type, amount))
    if lines:
        raise UnstorableAmountError(
            f"Nothing of {report.month} was written to {offering}: {len(lines)} total(s) are above "
            f"{format_amount(max_usage_amount)}, the most Waldur can store (the Waldur connection's "
            "max_usage_amount; Waldur 7.0.7 answers 500 from 10^12 on):\n" + "\n".join(lines),
            lines,
            unstorable,
            max_usage_amount,
        )


def _unstorable_line(report: UsageReport, backend_id: str, component_type: str, amount: Decimal) -> str:
    """One over-ceiling total, with what the component's unit_factor makes of DWDI's unit."""
    component = report.components.get(component_type, {})
    unit_factor = component.get("unit_factor", "?")
    measured_unit = component.get("measured_unit", "?")
    dwdi_field = component.get("dwdi_field", component_type)
    return (
        f"  resource {backend_id}, component {component_type}: {format_amount(amount)} {measured_unit} "
        f"(DWDI field {dwdi_field} x unit_factor {unit_factor}). Is unit_factor right? A value this "
        "large usually means DWDI's unit is billed unconverted, e.g. bytes with unit_factor 1 where "
        "TB needs 1e-12."
    )


def describe_plan(plan: WritePlan) -> list[str]:
    """One log line per change, e.g. ``"g207 nodeHours 10.00 -> 12.50"``, then the refusals."""
    lines: list[str] = []
    for resource in plan.changed:
        for change in resource.total_changes:
            lines.append(
                f"{resource.backend_id} {change.component_type} {_shown(change.old)} -> {_shown(change.new)}"
            )
        for user_change in resource.user_changes:
            lines.append(
                f"{resource.backend_id} {user_change.component_type} user {user_change.username} "
                f"{_shown(user_change.old)} -> {_shown(user_change.new)}"
            )
    for refusal in plan.refused:
        lines.append(f"{refusal.backend_id} NOT WRITTEN: {refusal.reason}")
    for backend_id in plan.without_data:
        lines.append(f"{backend_id} NOT WRITTEN: no storage data from DWDI for the month")
    return lines


def format_amount(amount: Decimal) -> str:
    """An amount the way Waldur takes it: a string with exactly two decimals."""
    return str(amount.quantize(_CENT))


def _shown(amount: Decimal | None) -> str:
    return "(none)" if amount is None else format_amount(amount)


def _parse_amounts(raw: Any, path: str) -> dict[str, Decimal]:
    """Parse a ``{component: "12.30"}`` object of the report; a bad value is a ReportError."""
    if not isinstance(raw, Mapping):
        raise ReportError(f"{path}: expected an object of amounts, got {type(raw).__name__}")
    amounts: dict[str, Decimal] = {}
    for component_type, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (str, Decimal, int)):
            raise ReportError(f"{path}.{component_type}: expected a decimal string, got {value!r}")
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise ReportError(f"{path}.{component_type}: {value!r} is not a number") from None
        if not amount.is_finite() or amount != amount.quantize(_CENT):
            raise ReportError(f"{path}.{component_type}: {value!r} is not an amount with 2 decimals")
        amounts[component_type] = amount
    return amounts


def _reportable_component_types(
    report: UsageReport, offering_components: Iterable[Mapping[str, Any]], issues: list[Issue]
) -> tuple[str, ...]:
    """The report's component types that the offering meters; the others become issues."""
    billing_types = {
        str(component["type"]): str(component.get("billing_type")) for component in offering_components
    }
    reportable: list[str] = []
    for component_type in report.components:
        billing_type = billing_types.get(component_type)
        if billing_type is None:
            issues.append(
                Issue(
                    kind="unknown_component",
                    message=f"component {component_type!r} is not a component of the Waldur offering "
                    f"(it has {', '.join(sorted(billing_types)) or 'none'}); it is not sent.",
                    record=f"components.{component_type}",
                    field=component_type,
                )
            )
        elif billing_type not in REPORTABLE_BILLING_TYPES:
            issues.append(
                Issue(
                    kind="component_not_reportable",
                    message=f"component {component_type!r} has billing type {billing_type!r} in Waldur, "
                    "which takes no reported usage; it is not sent.",
                    record=f"components.{component_type}",
                    field=component_type,
                )
            )
        else:
            reportable.append(component_type)
    return tuple(reportable)


def _refusal(
    backend_id: str,
    resource: Mapping[str, Any] | None,
    totals: Mapping[str, Decimal],
    users: Mapping[str, Mapping[str, Decimal]],
    index: BackendIdIndex,
    ambiguous_resources: set[str],
    issues: list[Issue],
) -> Refusal | None:
    """Why an account cannot be written (None when it can, or when skipping it loses nothing)."""
    if backend_id in index.duplicates:
        return Refusal(
            backend_id, None, f"backend_id matches {len(index.duplicates[backend_id])} Waldur resources"
        )
    negatives = [f"{component_type} {amount}" for component_type, amount in totals.items() if amount < 0] + [
        f"user {username} {component_type} {amount}"
        for username, amounts in users.items()
        for component_type, amount in amounts.items()
        if amount < 0
    ]
    resource_uuid = str(resource["uuid"]) if resource is not None else None
    if negatives:
        issues.append(
            Issue(
                kind="negative_amount",
                message=f"{backend_id}: negative amounts refused: {', '.join(negatives)}",
                record=f"accounts.{backend_id}",
                account=backend_id,
            )
        )
        return Refusal(backend_id, resource_uuid, f"negative amounts refused: {', '.join(negatives)}")
    if resource is None:
        if all(amount == 0 for amount in totals.values()):
            return None
        issues.append(
            Issue(
                kind="no_waldur_resource",
                message=f"{backend_id}: no Waldur resource of the offering in state "
                f"{'/'.join(USAGE_ACCEPTING_STATES)} has this backend_id, but the account has usage.",
                record=f"accounts.{backend_id}",
                account=backend_id,
            )
        )
        return Refusal(backend_id, None, "no Waldur resource in a usage-accepting state has this backend_id")
    if resource_uuid in ambiguous_resources:
        return Refusal(backend_id, resource_uuid, "Waldur holds two usage rows for one component this month")
    return None


def _total_changes(
    totals: Mapping[str, Decimal], component_types: Sequence[str], existing: Mapping[str, Decimal | None]
) -> tuple[AmountChange, ...]:
    changes = []
    for component_type in component_types:
        if component_type not in totals:
            continue
        old = existing.get(component_type)
        new = totals[component_type]
        if old is None or old != new:
            changes.append(AmountChange(component_type, old, new))
    return tuple(changes)


def _user_changes(
    users: Mapping[str, Mapping[str, Decimal]],
    component_types: Sequence[str],
    existing: Mapping[str, Mapping[str, Decimal | None]],
    *,
    reconcile: bool,
    compare: bool = True,
) -> tuple[UserUsageChange, ...]:
    """The user usages to write; ``compare=False`` (an incomplete read of Waldur's): all of them.

    Reconcile zeroes only users ``existing`` holds: a user the read did not return is not known
    to be in Waldur.
    """
    changes: list[UserUsageChange] = []
    for component_type in component_types:
        held = existing.get(component_type, {})
        wanted = {
            username: amounts[component_type]
            for username, amounts in users.items()
            if component_type in amounts
        }
        for username, new in sorted(wanted.items()):
            old = held.get(username)
            if old is None or old != new or not compare:
                changes.append(UserUsageChange(component_type, username, old, new))
        if reconcile:
            for username, old in sorted(held.items()):
                if username not in wanted and old != 0:
                    changes.append(UserUsageChange(component_type, username, old, Decimal("0.00")))
    return tuple(changes)


def set_usage_items(resource: ResourcePlan) -> list[dict[str, str]]:
    """The ``usages`` of one ``set_usage`` request: only the changed totals, absolute, 2 decimals."""
    return [
        {"type": change.component_type, "amount": format_amount(change.new)}
        for change in resource.total_changes
    ]


def user_usage_items(
    changes: Iterable[UserUsageChange], offering_user_urls: Mapping[str, str]
) -> list[dict[str, str]]:
    """The items of a ``set_user_usages`` request, linked to offering users by username.

    Usernames without an offering user are still written, unlinked (Waldur accepts that).
    """
    items = []
    for change in changes:
        item = {"username": change.username, "usage": format_amount(change.new)}
        if change.username in offering_user_urls:
            item["user"] = offering_user_urls[change.username]
        items.append(item)
    return items
