"""Component usages: the per-month totals, listed and written with ``set_usage``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sandbox.waldur.api import Context, Request, Route
from sandbox.waldur.fields import (
    date_filter,
    datetime_field,
    last_value,
    parse_usage_items,
    require_object,
    uuid_filter,
    uuid_key,
)
from sandbox.waldur.pagination import paginated, query_random, tie_order
from sandbox.waldur.replies import ApiError, Reply, error
from sandbox.waldur.state import Resource, WaldurState, month_start

BACKFILL_REFUSED = (
    "Service providers can only specify date for limit-based or prepaid billing components "
    "when backfilling past billing periods."
)
_USAGE_ACCEPTING_STATES = ("OK", "Updating", "Terminating")
_REPORTABLE_BILLING_TYPES = ("usage", "limit")
#: The smallest amount Waldur 7.0.7 cannot hold: the usage row is saved, then the invoice item's
#: quantity column overflows, the whole request is rolled back and Django answers 500. Amounts
#: of 21 digits or more never get that far (DRF's 400, see fields.decimal_field).
INVOICE_QUANTITY_OVERFLOW = Decimal(10) ** 12
#: Django's answer to an unhandled exception with DEBUG off (HTML, like the real server).
DJANGO_SERVER_ERROR = b'<!doctype html>\n<html lang="en">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n'


def list_component_usages(ctx: Context, request: Request) -> Reply:
    """``GET /api/marketplace-component-usages/`` filtered by offering, resource, period and type."""
    offering_uuids = uuid_filter(request.query, "offering_uuid")
    resource_uuids = uuid_filter(request.query, "resource_uuid")
    billing_period = date_filter(request.query, "billing_period")
    component_type = last_value(request.query, "type")
    resources = ctx.state.resources
    matching = [
        row
        for row in ctx.state.component_usages.values()
        if (offering_uuids is None or resources[row.resource_uuid].offering_uuid in offering_uuids)
        and (resource_uuids is None or row.resource_uuid in resource_uuids)
        and (billing_period is None or row.billing_period == billing_period)
        and (component_type is None or row.component_type == component_type)
    ]
    # Ordered as on Waldur 7.0.7 (date, newest first, then component type): rows of equal date,
    # e.g. every resource pushed with the same date on 8.x, page in a new order per request.
    ordered = tie_order(
        sorted(matching, key=lambda row: (resources[row.resource_uuid].backend_id, row.resource_uuid)),
        lambda row: (-row.date.timestamp(), row.component_type),
        query_random(ctx.state.listing_seed, request, ctx.state.listing_queries),
    )
    return paginated(request, ordered, ctx.serialise.component_usage, ctx.serialise.base_url)


def set_usage(ctx: Context, request: Request) -> Reply:
    """``POST .../set_usage/``: absolute totals of a resource's components for one month."""
    state = ctx.state
    body = require_object(request.body)
    if "plan_period" in body:
        raise error(501, {"detail": "The Waldur sandbox does not implement plan_period; send resource."})
    errors: dict[str, Any] = {}
    usages = parse_usage_items(body, errors)
    resource = _resource_field(state, body, errors)
    requested_date = None
    if body.get("date") is not None:
        requested_date, date_errors = datetime_field(body["date"], state.time_zone)
        if date_errors:
            errors["date"] = date_errors
    if errors or resource is None or usages is None:
        raise error(400, errors)
    if resource.state not in _USAGE_ACCEPTING_STATES:
        raise error(400, {"resource": ["Resource is not in valid state."]})
    components = state.offerings[resource.offering_uuid].components
    invalid = sorted(
        {item.type for item in usages}
        - {c.type for c in components.values() if c.billing_type in _REPORTABLE_BILLING_TYPES}
    )
    if invalid:
        raise error(400, {"non_field_errors": [f"These components are invalid: {', '.join(invalid)}."]})
    usage_date = state.usage_date(requested_date)
    billing_period = state.billing_period(usage_date)
    backfilling_usage_meter = any(
        components[item.type].billing_type == "usage" and not components[item.type].is_prepaid
        for item in usages
    )
    if (
        billing_period < month_start(state.today)
        and backfilling_usage_meter
        and not request.principal.is_staff
    ):
        raise error(400, {"date": [BACKFILL_REFUSED]})
    if any(abs(item.amount) >= INVOICE_QUANTITY_OVERFLOW for item in usages):
        # Checked before any row is written: the real server's transaction leaves nothing behind.
        raise ApiError(Reply(500, DJANGO_SERVER_ERROR, "text/html; charset=utf-8"))
    for item in usages:
        state.write_component_usage(resource, item, billing_period, usage_date, request.principal)
    return Reply(201)


def _resource_field(state: WaldurState, body: Mapping[str, Any], errors: dict[str, Any]) -> Resource | None:
    if "resource" not in body:
        errors["resource"] = ["This field is required."]
        return None
    key = uuid_key(body["resource"]) if isinstance(body["resource"], str) else None
    if key is None:
        errors["resource"] = [f"“{body['resource']}” is not a valid UUID."]
        return None
    resource = state.resources.get(key)
    if resource is None:
        # An unknown resource is a validation error (400), not a 404, on the real server.
        errors["resource"] = [f"Object with uuid={body['resource']} does not exist."]
    return resource


ROUTES = [
    Route(
        "GET",
        re.compile(r"^/api/marketplace-component-usages/$"),
        list_component_usages,
        frozenset({"offering_uuid", "billing_period", "resource_uuid", "type"}),
    ),
    Route("POST", re.compile(r"^/api/marketplace-component-usages/set_usage/$"), set_usage),
]
