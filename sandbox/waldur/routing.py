"""From an ``/api`` request to a handler's reply: route lookup, DRF token authentication, filters."""

from __future__ import annotations

from collections.abc import Mapping

from sandbox.waldur.api import Context, Request, Route
from sandbox.waldur.fields import parse_json_body
from sandbox.waldur.handlers import ROUTES
from sandbox.waldur.pagination import PAGINATION_PARAMETERS
from sandbox.waldur.replies import DJANGO_NOT_FOUND, ApiError, Reply, error
from sandbox.waldur.state import Principal

NO_CREDENTIALS = "Authentication credentials were not provided."
INVALID_TOKEN = "Invalid token."
EXPIRED_TOKEN = "Token has expired."


def _not_authenticated(detail: str) -> ApiError:
    return error(401, {"detail": detail}, (("WWW-Authenticate", "Token"),))


class Router:
    """Dispatches requests to the handlers of the endpoints ``ctx.state.version`` has."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.routes: list[Route] = [route for route in ROUTES if ctx.state.version in route.versions]

    def dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        raw_body: bytes,
        schema_problems: list[str],
    ) -> Reply:
        """The handler's reply; raises :class:`ApiError` for 405, schema, auth and filter errors.

        Order as on the real server: no route (404 HTML), wrong method (405), then the schema
        problems found earlier, then authentication, then the handler under the state lock.
        """
        route_method = "GET" if method == "HEAD" else method
        candidates = [(route, match) for route in self.routes if (match := route.pattern.match(path))]
        if not candidates:
            return Reply(404, DJANGO_NOT_FOUND, "text/html; charset=utf-8")
        chosen = next(((route, match) for route, match in candidates if route.method == route_method), None)
        if chosen is None:
            raise error(405, {"detail": f'Method "{method}" not allowed.'})
        if schema_problems:
            raise error(
                400,
                {
                    "detail": "Request does not match the Waldur OpenAPI schema.",
                    "schema_violations": schema_problems,
                },
            )
        route, match = chosen
        principal = self.authenticate(headers.get("Authorization"))
        if route.filters is not None:
            _refuse_unimplemented_filters(query, route.filters)
        body = parse_json_body(raw_body) if route_method == "POST" else None
        request = Request(route_method, path, query, body, principal, match.groupdict())
        with self.ctx.state.lock:
            return route.handler(self.ctx, request)

    def authenticate(self, authorization: str | None) -> Principal:
        """DRF TokenAuthentication, including its exact 401 messages."""
        state = self.ctx.state
        parts = (authorization or "").split()
        if not parts or parts[0].lower() != "token":
            raise _not_authenticated(NO_CREDENTIALS)
        if len(parts) == 1:
            raise _not_authenticated("Invalid token header. No credentials provided.")
        if len(parts) > 2:
            raise _not_authenticated("Invalid token header. Token string should not contain spaces.")
        principal = state.principals.get(parts[1])
        if principal is None:
            raise _not_authenticated(INVALID_TOKEN)
        with state.lock:
            if parts[1] in state.expired_tokens:
                raise _not_authenticated(EXPIRED_TOKEN)
        return principal


def _refuse_unimplemented_filters(query: Mapping[str, list[str]], implemented: frozenset[str]) -> None:
    # An ignored filter would return wrong data, so a spec-valid one the double lacks is a 501.
    unimplemented = sorted(set(query) - implemented - PAGINATION_PARAMETERS)
    if unimplemented:
        raise error(
            501,
            {"detail": f"The Waldur sandbox does not implement the filter(s) {', '.join(unimplemented)}."},
        )
