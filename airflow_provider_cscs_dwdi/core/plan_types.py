"""The write plan's types: what the push will write to Waldur, resource by resource.

:func:`core.waldur_plan.build_write_plan` makes a :class:`WritePlan`; the writer executes it, the
audit reads its differences as drift, and the Waldur hook's request bodies are built from it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from airflow_provider_cscs_dwdi.core.issues import Issue


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
