"""Provider resources and provider offerings (which carry the components)."""

from __future__ import annotations

import re

from sandbox.waldur.api import UUID_SEGMENT, Context, Request, Route
from sandbox.waldur.fields import last_value, uuid_filter, uuid_key
from sandbox.waldur.pagination import paginated
from sandbox.waldur.replies import Reply, json_reply, not_found
from sandbox.waldur.serialisers import restrict


def list_provider_resources(ctx: Context, request: Request) -> Reply:
    """``GET /api/marketplace-provider-resources/`` filtered by offering, state and backend_id."""
    offering_uuids = uuid_filter(request.query, "offering_uuid", comma_separated=True)
    states = request.query.get("state")
    backend_id = last_value(request.query, "backend_id")
    matching = [
        resource
        for resource in ctx.state.resources.values()
        if (offering_uuids is None or resource.offering_uuid in offering_uuids)
        and (states is None or resource.state in states)
        and (backend_id is None or resource.backend_id == backend_id)
    ]
    return paginated(request, matching, ctx.serialise.resource, ctx.serialise.base_url)


def retrieve_provider_resource(ctx: Context, request: Request) -> Reply:
    """``GET /api/marketplace-provider-resources/<uuid>/``."""
    resource = ctx.state.resources.get(uuid_key(request.path_params["uuid"]) or "")
    if resource is None:
        raise not_found()
    return json_reply(200, restrict(ctx.serialise.resource(resource), request.query.get("field")))


def retrieve_provider_offering(ctx: Context, request: Request) -> Reply:
    """``GET /api/marketplace-provider-offerings/<uuid>/`` (with its components)."""
    offering = ctx.state.offerings.get(uuid_key(request.path_params["uuid"]) or "")
    if offering is None:
        raise not_found()
    return json_reply(200, restrict(ctx.serialise.offering(offering), request.query.get("field")))


ROUTES = [
    Route(
        "GET",
        re.compile(r"^/api/marketplace-provider-resources/$"),
        list_provider_resources,
        frozenset({"offering_uuid", "state", "backend_id"}),
    ),
    Route(
        "GET",
        re.compile(rf"^/api/marketplace-provider-resources/{UUID_SEGMENT}/$"),
        retrieve_provider_resource,
    ),
    Route(
        "GET",
        re.compile(rf"^/api/marketplace-provider-offerings/{UUID_SEGMENT}/$"),
        retrieve_provider_offering,
    ),
]
