"""What Waldur already holds for an offering's month, indexed the way the write plan reads it.

The WaldurHook lists resources, component usages and user usages; these functions index them
(by ``backend_id``, by resource and component, by resource, component and username) and record
what cannot be followed safely as issues: a blank or shared ``backend_id``, two usage rows for
one component. ``core.waldur_plan`` then decides what to write from these indexes.

A listing that pages rows of equal sort key (Waldur orders user usages by date and component type
only) can repeat some rows and skip others: :class:`UserUsageListing` carries, beside the rows,
the resources whose user usages could not be read completely, and why.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_cscs_dwdi.core.issues import Issue

#: Resource states in which Waldur accepts usage (Erred, Creating, Terminated are refused by it).
USAGE_ACCEPTING_STATES: tuple[str, ...] = ("OK", "Updating", "Terminating")
#: Why user usages that could not be read completely are not compared (audit and push wording).
UNSTABLE_LISTING = "Waldur's listing is unstable"


@dataclass(frozen=True)
class UserUsageListing:
    """The month's user usages as read, and the resources whose user usages are not all in it.

    :param rows: distinct user-usage rows (by uuid).
    :param incomplete: resource uuid -> why its user usages could not be read completely; what
        was read of them is in ``rows``, but a username missing from it is not absent from Waldur.
    """

    rows: tuple[Mapping[str, Any], ...] = ()
    incomplete: Mapping[str, str] = field(default_factory=dict)


def row_key(row: Mapping[str, Any]) -> str:
    """What tells two rows of a listing apart: the uuid (offering users: the url)."""
    return str(row.get("uuid") or row.get("url") or "")


def resources_on_several_pages(
    pages: Sequence[Sequence[Mapping[str, Any]]], tie_key: tuple[str, ...] = ("date", "component_type")
) -> set[str]:
    """Resources of the rows whose sort key (``tie_key``) occurs on more than one page.

    Rows of equal sort key come back in a different order for each page request: only a group of
    tied rows that straddles a page boundary can have lost or repeated rows. Every such group has
    rows on both sides of the boundary, so it shows here; a group inside one page is complete.
    """
    pages_of: dict[tuple[str, ...], set[int]] = defaultdict(set)
    resources_of: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for number, page in enumerate(pages):
        for row in page:
            key = tuple(str(row.get(name)) for name in tie_key)
            pages_of[key].add(number)
            resources_of[key].add(str(row.get("resource_uuid")))
    return {
        resource for key, numbers in pages_of.items() if len(numbers) > 1 for resource in resources_of[key]
    }


@dataclass(frozen=True)
class BackendIdIndex:
    """Waldur resources by ``backend_id``; blank and duplicate IDs are kept aside as issues."""

    unique: Mapping[str, Mapping[str, Any]]
    duplicates: Mapping[str, tuple[str, ...]]  # backend_id -> resource uuids
    issues: tuple[Issue, ...]


def index_resources(resources: Iterable[Mapping[str, Any]]) -> BackendIdIndex:
    """Map ``backend_id`` to resource, reporting blank and duplicate IDs instead of guessing."""
    by_backend_id: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    issues: list[Issue] = []
    for resource in resources:
        backend_id = str(resource.get("backend_id") or "").strip()
        if not backend_id:
            issues.append(
                Issue(
                    kind="blank_backend_id",
                    message=f"Waldur resource {resource.get('uuid')} ({resource.get('name', '')!s}) has no "
                    "backend_id, so no DWDI account can be reported to it.",
                    record=f"Waldur resource {resource.get('uuid')}",
                    field="backend_id",
                )
            )
            continue
        by_backend_id[backend_id].append(resource)
    duplicates = {
        backend_id: tuple(str(resource.get("uuid")) for resource in matches)
        for backend_id, matches in by_backend_id.items()
        if len(matches) > 1
    }
    for backend_id, uuids in sorted(duplicates.items()):
        issues.append(
            Issue(
                kind="duplicate_backend_id",
                message=f"backend_id {backend_id!r} belongs to {len(uuids)} Waldur resources "
                f"({', '.join(uuids)}); none of them is written until only one carries it.",
                record=f"Waldur resources {', '.join(uuids)}",
                account=backend_id,
                field="backend_id",
            )
        )
    unique = {backend_id: matches[0] for backend_id, matches in by_backend_id.items() if len(matches) == 1}
    return BackendIdIndex(unique=unique, duplicates=duplicates, issues=tuple(issues))


def existing_amount(value: Any) -> Decimal | None:
    """An amount Waldur returned; an unreadable one counts as absent, so it is rewritten."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def index_component_usages(
    rows: Iterable[Mapping[str, Any]], issues: list[Issue]
) -> tuple[dict[str, dict[str, Decimal | None]], dict[str, dict[str, str]], set[str]]:
    """Totals and row uuids by (resource, component); resources with two rows for one are ambiguous."""
    totals: dict[str, dict[str, Decimal | None]] = defaultdict(dict)
    uuids: dict[str, dict[str, str]] = defaultdict(dict)
    rows_per_key: Counter[tuple[str, str]] = Counter()
    for row in rows:
        resource_uuid, component_type = str(row["resource_uuid"]), str(row["type"])
        rows_per_key[(resource_uuid, component_type)] += 1
        totals[resource_uuid][component_type] = existing_amount(row.get("usage"))
        uuids[resource_uuid][component_type] = str(row["uuid"])
    ambiguous: set[str] = set()
    for (resource_uuid, component_type), count in sorted(rows_per_key.items()):
        if count > 1:
            ambiguous.add(resource_uuid)
            issues.append(
                Issue(
                    kind="duplicate_component_usage",
                    message=f"Waldur holds {count} usage rows of {component_type!r} this month for resource "
                    f"{resource_uuid}; it is not written until only one remains.",
                    record=f"Waldur resource {resource_uuid}",
                    field=component_type,
                )
            )
    return totals, uuids, ambiguous


def index_user_usages(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Decimal | None]]]:
    """User usages by resource uuid, component type and username."""
    indexed: dict[str, dict[str, dict[str, Decimal | None]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        indexed[str(row["resource_uuid"])][str(row["component_type"])][str(row["username"])] = (
            existing_amount(row.get("usage"))
        )
    return indexed
