"""Offering users (the HPC logins usage is linked to) and the token's own user."""

from __future__ import annotations

import re

from sandbox.waldur.api import Context, Request, Route
from sandbox.waldur.fields import last_value, uuid_filter
from sandbox.waldur.pagination import paginated
from sandbox.waldur.replies import Reply, json_reply
from sandbox.waldur.serialisers import restrict


def list_offering_users(ctx: Context, request: Request) -> Reply:
    """``GET /api/marketplace-offering-users/`` filtered by offering and username."""
    offering_uuids = uuid_filter(request.query, "offering_uuid", comma_separated=True)
    username = last_value(request.query, "user_username")
    key = ("offering_users", frozenset(offering_uuids) if offering_uuids is not None else None, username)
    matching = ctx.state.cached_listing(
        key,
        len(ctx.state.offering_users),
        lambda: [
            offering_user
            for offering_user in ctx.state.offering_users.values()
            if (offering_uuids is None or offering_user.offering_uuid in offering_uuids)
            and (username is None or offering_user.username == username)
        ],
    )
    return paginated(request, matching, ctx.serialise.offering_user, ctx.serialise.base_url)


def users_me(ctx: Context, request: Request) -> Reply:
    """``GET /api/users/me/``: who the token belongs to."""
    return json_reply(200, restrict(ctx.serialise.user(request.principal), request.query.get("field")))


ROUTES = [
    Route(
        "GET",
        re.compile(r"^/api/marketplace-offering-users/$"),
        list_offering_users,
        frozenset({"offering_uuid", "user_username"}),
    ),
    Route("GET", re.compile(r"^/api/users/me/$"), users_me),
]
