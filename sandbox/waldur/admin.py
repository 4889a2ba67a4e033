"""The double's admin API under ``/sandbox/`` (for a demo that runs it as another process).

Not under ``/api``: not schema-checked, not authenticated, not delayed, not recorded. JSON in and
out; a bad request answers 400 ``{"error": ...}``. The endpoints are listed in
:mod:`sandbox.waldur`'s module docstring.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from sandbox.waldur.replies import Reply, json_reply


class AdminTarget(Protocol):
    """What the admin API reads and seeds: the part of the server it needs (the server is one)."""

    url: str
    today: date
    staff_token: str
    provider_token: str
    schema_violations: list[str]

    @property
    def version(self) -> str: ...

    def add_offering(
        self,
        name: str,
        components: list[dict[str, Any]],
        *,
        backend_id: str = "",
        offering_uuid: str | None = None,
    ) -> str: ...

    def add_resource(
        self, offering_uuid: str, backend_id: str, *, name: str | None = None, state: str = "OK"
    ) -> str: ...

    def add_offering_user(self, offering_uuid: str, username: str) -> str: ...

    def usage(self, resource_uuid: str, component_type: str, billing_period: str) -> Decimal | None: ...

    def user_usages(
        self, resource_uuid: str, component_type: str, billing_period: str
    ) -> dict[str, Decimal]: ...

    def state_dump(self) -> dict[str, Any]: ...


def handle_admin(
    sandbox: AdminTarget, method: str, path: str, query: dict[str, list[str]], raw_body: bytes
) -> Reply:
    """Answer one admin request; missing or bad arguments are 400 naming the problem."""
    try:
        body = json.loads(raw_body, parse_float=Decimal) if raw_body else {}
        return _admin_route(sandbox, method, path, query, body)
    except (KeyError, ValueError, TypeError) as problem:
        return json_reply(400, {"error": f"{type(problem).__name__}: {problem}"})


def _admin_route(
    sandbox: AdminTarget, method: str, path: str, query: dict[str, list[str]], body: Any
) -> Reply:
    if (method, path) == ("GET", "/sandbox/info"):
        return json_reply(
            200,
            {
                "url": sandbox.url,
                "version": sandbox.version,
                "today": sandbox.today,
                "staff_token": sandbox.staff_token,
                "provider_token": sandbox.provider_token,
            },
        )
    if (method, path) == ("POST", "/sandbox/offerings"):
        uuid_ = sandbox.add_offering(
            body["name"],
            body["components"],
            backend_id=body.get("backend_id", ""),
            offering_uuid=body.get("uuid"),
        )
        return json_reply(201, {"uuid": uuid_})
    if (method, path) == ("POST", "/sandbox/resources"):
        uuid_ = sandbox.add_resource(
            body["offering_uuid"], body["backend_id"], name=body.get("name"), state=body.get("state", "OK")
        )
        return json_reply(201, {"uuid": uuid_})
    if (method, path) == ("POST", "/sandbox/offering-users"):
        return json_reply(201, {"url": sandbox.add_offering_user(body["offering_uuid"], body["username"])})
    if (method, path) == ("GET", "/sandbox/usages"):
        arguments = (query["resource_uuid"][-1], query["component_type"][-1], query["billing_period"][-1])
        return json_reply(
            200, {"usage": sandbox.usage(*arguments), "user_usages": sandbox.user_usages(*arguments)}
        )
    if (method, path) == ("GET", "/sandbox/state"):
        return json_reply(200, sandbox.state_dump())
    if (method, path) == ("GET", "/sandbox/schema-violations"):
        return json_reply(200, {"schema_violations": list(sandbox.schema_violations)})
    if (method, path) == ("POST", "/sandbox/today"):
        sandbox.today = date.fromisoformat(body["today"])
        return json_reply(200, {"today": sandbox.today})
    return json_reply(404, {"error": f"no admin endpoint {method} {path}"})
