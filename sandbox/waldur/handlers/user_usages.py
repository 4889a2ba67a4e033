"""Per-user usages of a component usage: listed, and written one by one (7.x, 8.x) or in bulk (8.x)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sandbox.waldur.api import UUID_SEGMENT, Context, Request, Route
from sandbox.waldur.fields import (
    UserUsageInput,
    char_field,
    date_filter,
    decimal_field,
    last_value,
    require_object,
    uuid_filter,
    uuid_key,
)
from sandbox.waldur.pagination import paginated, query_random
from sandbox.waldur.replies import Reply, error, not_found
from sandbox.waldur.state import ComponentUsage, UserUsage, WaldurState

_OFFERING_USER_PATH = re.compile(r"/api/marketplace-offering-users/([^/]+)/")


def list_user_usages(ctx: Context, request: Request) -> Reply:
    """``GET /api/marketplace-component-user-usages/`` filtered through their component usage.

    As on Waldur 7.0.7: ordered by the component usage's date (newest first) and component type
    only, so one component usage's user usages tie and page in a new order per request; no
    ``username`` filter (Django ignores an unknown one: every row) and ``field=`` ignored. 8.x
    (its API description) filters by ``username``.
    """
    state = ctx.state
    offering_uuids = uuid_filter(request.query, "offering_uuid")
    resource_uuids = uuid_filter(request.query, "resource_uuid")
    billing_period = date_filter(request.query, "component_usage__billing_period")
    component_type = last_value(request.query, "type")
    username_part = last_value(request.query, "username") if state.version == "8" else None

    def sort_key(user_usage: UserUsage) -> tuple[float, str]:
        parent = state.component_usages[user_usage.component_usage_uuid]
        return (-parent.date.timestamp(), parent.component_type)

    def select() -> list[UserUsage]:
        matching = []
        for user_usage in state.user_usages.values():
            parent = state.component_usages[user_usage.component_usage_uuid]
            if (
                (
                    offering_uuids is None
                    or state.resources[parent.resource_uuid].offering_uuid in offering_uuids
                )
                and (resource_uuids is None or parent.resource_uuid in resource_uuids)
                and (billing_period is None or parent.billing_period == billing_period)
                and (component_type is None or parent.component_type == component_type)
                and (username_part is None or username_part.lower() in user_usage.username.lower())
            ):
                matching.append(user_usage)
        # Tied rows start from an order of their content (not of their writing), so a seed
        # gives the same pages on every run.
        return sorted(matching, key=lambda user_usage: (sort_key(user_usage), user_usage.username))

    # A client reads a month's listing page by page (200 pages for 20,000 rows): select once.
    key = (
        "user_usages",
        frozenset(offering_uuids) if offering_uuids is not None else None,
        frozenset(resource_uuids) if resource_uuids is not None else None,
        billing_period,
        component_type,
        username_part,
    )
    matching = state.cached_listing(key, (len(state.user_usages), state.component_usage_writes), select)
    return paginated(
        request,
        matching,
        ctx.serialise.user_usage,
        ctx.serialise.base_url,
        honour_fields=state.version == "8",
        ties=(sort_key, query_random(state.listing_seed, request, state.listing_queries)),
    )


def set_user_usages(ctx: Context, request: Request) -> Reply:
    """``POST .../<uuid>/set_user_usages/`` (8.x): many usernames at once, all or nothing."""
    component_usage = _component_usage_of(ctx.state, request)
    body = require_object(request.body)
    items = body.get("usages")
    if items is None:
        raise error(400, {"usages": ["This field is required."]})
    if not isinstance(items, list):
        raise error(400, {"usages": [f'Expected a list of items but got type "{type(items).__name__}".']})
    if not items:
        raise error(400, {"usages": ["This list may not be empty."]})
    parsed = [_parse_user_usage(ctx.state, item) for item in items]
    if any(errors for _, errors in parsed):
        raise error(400, {"usages": [errors for _, errors in parsed]})
    # Atomic like the real endpoint: nothing is written unless every item is valid.
    for user_usage, _ in parsed:
        assert user_usage is not None
        ctx.state.write_user_usage(component_usage, user_usage)
    return Reply(201)


def set_user_usage(ctx: Context, request: Request) -> Reply:
    """``POST .../<uuid>/set_user_usage/``: one username's usage."""
    component_usage = _component_usage_of(ctx.state, request)
    user_usage, errors = _parse_user_usage(ctx.state, request.body)
    if errors or user_usage is None:
        raise error(400, errors)
    ctx.state.write_user_usage(component_usage, user_usage)
    return Reply(201)


def _component_usage_of(state: WaldurState, request: Request) -> ComponentUsage:
    row = state.component_usages.get(uuid_key(request.path_params["uuid"]) or "")
    if row is None:
        raise not_found()
    return row


def _parse_user_usage(state: WaldurState, item: Any) -> tuple[UserUsageInput | None, dict[str, list[str]]]:
    if not isinstance(item, dict):
        return None, {"non_field_errors": ["Invalid data. Expected a dictionary."]}
    errors: dict[str, list[str]] = {}
    username, username_errors = (
        char_field(item["username"], max_length=100)
        if "username" in item
        else (None, ["This field is required."])
    )
    usage, usage_errors = (
        decimal_field(item["usage"]) if "usage" in item else (None, ["This field is required."])
    )
    offering_user_uuid, user_errors = _offering_user_field(state, item.get("user"))
    for name, field_errors in (("username", username_errors), ("usage", usage_errors), ("user", user_errors)):
        if field_errors:
            errors[name] = field_errors
    if errors or username is None or usage is None:
        return None, errors
    return UserUsageInput(username, usage, offering_user_uuid), {}


def _offering_user_field(state: WaldurState, url: Any) -> tuple[str | None, list[str]]:
    # Like DRF's HyperlinkedRelatedField: only the path counts, whatever the scheme and host.
    if url is None:
        return None, []
    if not isinstance(url, str):
        return None, ["Incorrect type. Expected URL string."]
    match = _OFFERING_USER_PATH.fullmatch(urlsplit(url).path)
    if match is None:
        return None, ["Invalid hyperlink - No URL match."]
    key = uuid_key(match.group(1))
    if key is None or key not in state.offering_users:
        return None, ["Invalid hyperlink - Object does not exist."]
    return key, []


ROUTES = [
    Route(
        "POST",
        re.compile(rf"^/api/marketplace-component-usages/{UUID_SEGMENT}/set_user_usage/$"),
        set_user_usage,
    ),
    Route(
        "GET",
        re.compile(r"^/api/marketplace-component-user-usages/$"),
        list_user_usages,
        frozenset({"offering_uuid", "component_usage__billing_period", "resource_uuid", "type", "username"}),
    ),
    Route(
        "POST",
        re.compile(rf"^/api/marketplace-component-usages/{UUID_SEGMENT}/set_user_usages/$"),
        set_user_usages,
        versions=("8",),
    ),
]
