"""The request bodies of the Waldur hook's writes, built from the write plan's changes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from airflow_provider_cscs_dwdi.core.amounts import format_amount
from airflow_provider_cscs_dwdi.core.plan_types import ResourcePlan, UserUsageChange


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
