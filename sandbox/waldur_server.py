"""In-memory Waldur Mastermind double that checks every request against Waldur's OpenAPI schema.

It reproduces the usage-reporting contract of Waldur's marketplace API (paths, query parameters,
bodies, status codes and DRF-style error bodies), including behaviour observed on real 7.x and 8.x
servers, so the WaldurHook and PushToWaldurOperator can be tested end to end over loopback HTTP.
Amounts are absolute totals (a resend overwrites); negative amounts are accepted like the real
server does, so refusing them is the client's job. Unknown resources are 400, not 404.

Versions
    ``"8"``: ``set_usage`` writes the month of ``date`` (UTC, the server's time zone); bulk
    ``set_user_usages`` exists; components carry ``unit_factor``; resources carry
    ``offering_backend_id``; offering users carry ``state``; a service-provider token sending a
    past-month ``date`` for a usage-based (not prepaid) component gets 400 keyed ``date``.
    ``"7"``: ``date`` is ignored and the current month (the month of ``today``) is written; the
    bulk endpoint answers 404 (only ``set_user_usage`` exists); none of the 8.x fields.

Schema checking (``validate=True``)
    Every ``/api/...`` request (path, query parameters, JSON body) is checked against
    ``waldur-openapi-8.0.5-usage-subset.yaml`` by :mod:`sandbox.openapi_check`. A failing request
    is appended to ``schema_violations`` and answered 400 ``{"detail": ..., "schema_violations":
    [...]}`` (404/405 when no such path/method exists). The sandbox is stricter than the real
    server in two ways, both to catch client bugs: unknown query parameters and unknown ``field``
    names are refused (the real server ignores them silently). Spec-valid filters the sandbox does
    not implement answer 501 rather than being ignored (an ignored filter would return wrong data).

Faults and timing
    ``fail_next()`` answers matching requests with a chosen status, body and headers (before the
    request is handled, or after it with ``after_processing=True``: the write happens but the
    client sees the failure); ``latency_seconds`` is slept before every ``/api`` answer.

Known deviations of the REAL server from its schema, reproduced on purpose
    (``RESPONSE_SCHEMA_DEVIATIONS``): ``ComponentUsage.usage`` and ``ComponentUserUsage.usage``
    are declared integers but the server serialises its DecimalField as a string (``"10.50"``);
    ``ComponentUserUsage.user`` is null for a usage that is not linked to an offering user.

Admin API (for the demo, which runs this server as a separate process; not under ``/api``, not
schema-checked, no authentication, no latency, not recorded in ``requests``). JSON in and out:
    ``GET  /sandbox/info``             -> ``{"url", "version", "today", "staff_token", "provider_token"}``
    ``POST /sandbox/offerings``        ``{"name", "components": [...], "backend_id"?}`` -> 201 ``{"uuid"}``
    ``POST /sandbox/resources``        ``{"offering_uuid", "backend_id", "name"?, "state"?}`` -> 201 ``{"uuid"}``
    ``POST /sandbox/offering-users``   ``{"offering_uuid", "username"}`` -> 201 ``{"url"}``
    ``GET  /sandbox/usages?resource_uuid=&component_type=&billing_period=YYYY-MM-01``
                                       -> ``{"usage": "10.50" | null, "user_usages": {"alice": "4.00"}}``
    ``GET  /sandbox/state``            -> every offering, resource, component usage and user usage
    ``GET  /sandbox/schema-violations`` -> ``{"schema_violations": [...]}``
    ``POST /sandbox/today``            ``{"today": "YYYY-MM-DD"}`` -> ``{"today"}``
    Errors answer 400 ``{"error": "..."}``.

Command line (prints one JSON line with the URL and both tokens, then serves until SIGINT/SIGTERM)::

    python -m sandbox.waldur_server --port 8765 [--version 8] [--latency 0.005] [--today 2026-11-23]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import secrets
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

from sandbox._serving import BackgroundServing, SandboxRequestHandler
from sandbox.openapi_check import OpenAPIChecker, load_checker

SCHEMA_PATH = Path(__file__).with_name("waldur-openapi-8.0.5-usage-subset.yaml")

_DECIMAL_STRING = {"type": "string", "pattern": r"^-?\d+\.\d{2}$"}
#: Where the real server's responses knowingly differ from its published schema (see module doc).
RESPONSE_SCHEMA_DEVIATIONS: Mapping[tuple[str, str], Mapping[str, Any]] = {
    ("ComponentUsage", "usage"): _DECIMAL_STRING,
    ("ComponentUserUsage", "usage"): _DECIMAL_STRING,
    ("ComponentUserUsage", "user"): {"type": "string", "format": "uri", "nullable": True},
}

NO_CREDENTIALS = "Authentication credentials were not provided."
INVALID_TOKEN = "Invalid token."
EXPIRED_TOKEN = "Token has expired."
BACKFILL_REFUSED = (
    "Service providers can only specify date for limit-based or prepaid billing components "
    "when backfilling past billing periods."
)
RESOURCE_STATES = ("Creating", "OK", "Erred", "Updating", "Terminating", "Terminated")
BILLING_TYPES = ("fixed", "usage", "limit", "one", "few")
_USAGE_ACCEPTING_STATES = ("OK", "Updating", "Terminating")
_REPORTABLE_BILLING_TYPES = ("usage", "limit")
_COMPONENT_TYPE = re.compile(r"^[a-zA-Z0-9_\-/:]{1,50}$")
_PAGINATION_PARAMETERS = frozenset({"page", "page_size", "field"})
_DEFAULT_PAGE_SIZE = 10
_MAX_PAGE_SIZE = 100
_CENT = Decimal("0.01")
_MAX_DIGITS = 20
_DECIMAL_PLACES = 2
_Record = TypeVar("_Record")
_DJANGO_NOT_FOUND = (
    b'<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n'
    b"  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n"
)


def waldur_api_checker() -> OpenAPIChecker:
    """The (cached) checker for the Waldur schema, with the real server's response deviations."""
    overrides = tuple((key, json.dumps(schema)) for key, schema in RESPONSE_SCHEMA_DEVIATIONS.items())
    return load_checker(SCHEMA_PATH, overrides)


@dataclass(frozen=True)
class RecordedRequest:
    """One ``/api`` request as the sandbox received and answered it."""

    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    status: int


@dataclass(frozen=True)
class _Component:
    uuid: str
    type: str
    name: str
    billing_type: str
    measured_unit: str
    unit_factor: int
    is_prepaid: bool


@dataclass(frozen=True)
class _Offering:
    uuid: str
    name: str
    backend_id: str
    components: dict[str, _Component]


@dataclass
class _Resource:
    uuid: str
    offering_uuid: str
    backend_id: str
    name: str
    state: str
    created: datetime


@dataclass(frozen=True)
class _OfferingUser:
    uuid: str
    offering_uuid: str
    username: str
    user_uuid: str
    created: datetime


@dataclass
class _ComponentUsage:
    uuid: str
    resource_uuid: str
    component_type: str
    billing_period: date
    usage: Decimal
    date: datetime
    created: datetime
    description: str
    recurring: bool
    modified_by: int


@dataclass
class _UserUsage:
    uuid: str
    component_usage_uuid: str
    username: str
    usage: Decimal
    offering_user_uuid: str | None
    created: datetime
    modified: datetime


@dataclass(frozen=True)
class _Principal:
    id: int
    uuid: str
    username: str
    full_name: str
    is_staff: bool


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class _Fault:
    method: str
    path_pattern: re.Pattern[str]
    reply: _Reply
    remaining: int
    after_processing: bool


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    principal: _Principal
    path_params: dict[str, str]


class _ApiError(Exception):
    """Stops handling and answers ``reply`` (the way DRF turns exceptions into responses)."""

    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> _Reply:
    body = json.dumps(payload, default=_json_default).encode()
    return _Reply(status, body, "application/json", headers)


def _error(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> _ApiError:
    return _ApiError(_json_reply(status, payload, headers))


def _not_authenticated(detail: str) -> _ApiError:
    return _error(401, {"detail": detail}, (("WWW-Authenticate", "Token"),))


def _new_uuid() -> str:
    return uuid.uuid4().hex


def _uuid_key(text: str) -> str | None:
    """Waldur accepts dashed and undashed UUIDs; compare them in the undashed hex form."""
    try:
        return uuid.UUID(text).hex
    except (ValueError, AttributeError, TypeError):
        return None


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _restrict(row: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """Waldur's ``field=`` selection: keep only the named keys (unknown names are ignored)."""
    if not fields:
        return row
    return {key: value for key, value in row.items() if key in fields}


def _decimal_field(value: Any) -> tuple[Decimal | None, list[str]]:
    """DRF ``DecimalField(max_digits=20, decimal_places=2)``: the quantised value or its errors."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        return None, ["A valid number is required."]
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None, ["A valid number is required."]
    if not number.is_finite():
        return None, ["A valid number is required."]
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite numbers have an integer exponent
    decimal_places = max(0, -exponent)
    total_digits = max(len(digits), decimal_places) if exponent < 0 else len(digits) + exponent
    whole_digits = total_digits - decimal_places
    if total_digits > _MAX_DIGITS:
        return None, [f"Ensure that there are no more than {_MAX_DIGITS} digits in total."]
    if decimal_places > _DECIMAL_PLACES:
        return None, [f"Ensure that there are no more than {_DECIMAL_PLACES} decimal places."]
    if whole_digits > _MAX_DIGITS - _DECIMAL_PLACES:
        limit = _MAX_DIGITS - _DECIMAL_PLACES
        return None, [f"Ensure that there are no more than {limit} digits before the decimal point."]
    return number.quantize(_CENT, rounding=ROUND_HALF_UP), []


def _char_field(value: Any, *, max_length: int | None = None) -> tuple[str | None, list[str]]:
    if value is None:
        return None, ["This field may not be null."]
    if not isinstance(value, (str, int, float, Decimal)) or isinstance(value, bool):
        return None, ["Not a valid string."]
    text = str(value)
    if not text.strip():
        return None, ["This field may not be blank."]
    if max_length is not None and len(text) > max_length:
        return None, [f"Ensure this field has no more than {max_length} characters."]
    return text, []


def _datetime_field(value: Any) -> tuple[datetime | None, list[str]]:
    try:
        # Python 3.10's fromisoformat does not know the "Z" suffix.
        parsed = (
            datetime.fromisoformat(value.removesuffix("Z") + "+00:00" if value.endswith("Z") else value)
            if isinstance(value, str)
            else None
        )
    except ValueError:
        parsed = None
    if parsed is None:
        return None, [
            "Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
        ]
    # A naive date-time is in the server's time zone, which is UTC here.
    return (parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed), []


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _error(400, {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    return body


@dataclass(frozen=True)
class _UserUsageInput:
    username: str
    usage: Decimal
    offering_user_uuid: str | None


@dataclass(frozen=True)
class _UsageInput:
    type: str
    amount: Decimal
    description: str
    recurring: bool


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[_Request], _Reply]
    filters: frozenset[str] | None = None  # query parameters a list route implements


class WaldurSandbox(BackgroundServing):
    """An in-memory Waldur server on loopback; see the module docstring for its behaviour.

    The socket is bound on construction (so ``url`` is known at once); :meth:`start` serves it
    from a daemon thread. All state lives in memory and is guarded by one lock.
    """

    def __init__(
        self,
        *,
        version: str = "8",
        latency_seconds: float = 0.0,
        validate: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        today: date | None = None,
        staff_token: str | None = None,
    ) -> None:
        if version not in ("7", "8"):
            raise ValueError(f"version must be '7' or '8', got {version!r}")
        self.version = version
        self.latency_seconds = latency_seconds
        self.validate = validate
        self.today: date = today or date.today()
        # A fixed staff token lets a docker-compose deployment configure its connection up front.
        self.staff_token = staff_token or secrets.token_hex(20)
        self.provider_token = secrets.token_hex(20)
        self.requests: list[RecordedRequest] = []
        self.schema_violations: list[str] = []
        self._principals = {
            self.staff_token: _Principal(1, _new_uuid(), "staff", "Sandbox Staff", is_staff=True),
            self.provider_token: _Principal(
                2, _new_uuid(), "provider-owner", "Provider Owner", is_staff=False
            ),
        }
        self._expired_tokens: set[str] = set()
        self._customer = {"uuid": _new_uuid(), "name": "Sandbox HPC Provider"}
        self._project = {"uuid": _new_uuid(), "name": "Sandbox Project"}
        self._offerings: dict[str, _Offering] = {}
        self._resources: dict[str, _Resource] = {}
        self._offering_users: dict[str, _OfferingUser] = {}
        self._component_usages: dict[str, _ComponentUsage] = {}
        # (resource uuid, component type, billing period) -> row: the real server's unique key.
        self._component_usages_by_period: dict[tuple[str, str, date], _ComponentUsage] = {}
        self._user_usages: dict[tuple[str, str], _UserUsage] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._checker = waldur_api_checker()
        self._routes = self._build_routes()
        self.bind(host, port, _RequestHandler)

    # ------------------------------------------------------------------ lifecycle: start, stop and `with` come from BackgroundServing

    def __repr__(self) -> str:
        # Tokens stay out of reprs (they end up in test reports).
        return f"WaldurSandbox(url={self.url!r}, version={self.version!r})"

    # ------------------------------------------------------------------ seeding

    def add_offering(
        self,
        name: str,
        components: list[dict[str, Any]],
        *,
        backend_id: str = "",
        offering_uuid: str | None = None,
    ) -> str:
        """Create an offering; components are ``{"type", "billing_type", "measured_unit"}`` plus
        optional ``name``, ``unit_factor`` (default 1) and ``is_prepaid``. ``offering_uuid`` (any
        UUID spelling) fixes the uuid, so a configuration file can name the offering up front.
        Returns its uuid (32 hex digits)."""
        parsed: dict[str, _Component] = {}
        for raw in components:
            component = _Component(
                uuid=_new_uuid(),
                type=raw["type"],
                name=raw.get("name", raw["type"]),
                billing_type=raw["billing_type"],
                measured_unit=raw["measured_unit"],
                unit_factor=int(raw.get("unit_factor", 1)),
                is_prepaid=bool(raw.get("is_prepaid", False)),
            )
            if not _COMPONENT_TYPE.match(component.type):
                raise ValueError(f"component type {component.type!r} is not a valid Waldur component type")
            if component.billing_type not in BILLING_TYPES:
                raise ValueError(
                    f"billing_type must be one of {BILLING_TYPES}, got {component.billing_type!r}"
                )
            if component.type in parsed:
                raise ValueError(f"component type {component.type!r} appears twice")
            parsed[component.type] = component
        fixed_uuid = uuid.UUID(offering_uuid).hex if offering_uuid else None
        offering = _Offering(
            uuid=fixed_uuid or _new_uuid(), name=name, backend_id=backend_id, components=parsed
        )
        with self._lock:
            self._offerings[offering.uuid] = offering
        return offering.uuid

    def add_resource(
        self, offering_uuid: str, backend_id: str, *, name: str | None = None, state: str = "OK"
    ) -> str:
        """Create a resource of an offering; returns its uuid."""
        if state not in RESOURCE_STATES:
            raise ValueError(f"state must be one of {RESOURCE_STATES}, got {state!r}")
        resource = _Resource(
            uuid=_new_uuid(),
            offering_uuid=self._offering(offering_uuid).uuid,
            backend_id=backend_id,
            name=name if name is not None else f"Allocation {backend_id}",
            state=state,
            created=self._now(),
        )
        with self._lock:
            self._resources[resource.uuid] = resource
        return resource.uuid

    def add_offering_user(self, offering_uuid: str, username: str) -> str:
        """Create an offering user (an HPC login of the offering); returns its API url."""
        offering_user = _OfferingUser(
            uuid=_new_uuid(),
            offering_uuid=self._offering(offering_uuid).uuid,
            username=username,
            user_uuid=_new_uuid(),
            created=self._now(),
        )
        with self._lock:
            self._offering_users[offering_user.uuid] = offering_user
        return self._offering_user_url(offering_user.uuid)

    def expire_token(self, token: str) -> None:
        """From now on ``token`` is answered 401 "Token has expired."."""
        if token not in self._principals:
            raise ValueError("not a token of this sandbox")
        with self._lock:
            self._expired_tokens.add(token)

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int = 1,
        body: Any = None,
        headers: dict[str, str] | None = None,
        after_processing: bool = False,
    ) -> None:
        """Answer the next ``times`` requests whose method and path (``re.search``) match with
        ``status``. ``body``: None = empty, str/bytes = sent as text, anything else = JSON.
        ``after_processing=True`` handles the request first (the write happens) and then answers
        the fault, like a proxy timing out after the server committed."""
        if isinstance(body, (str, bytes)):
            raw = body.encode() if isinstance(body, str) else body
            reply = _Reply(status, raw, "text/plain", tuple((headers or {}).items()))
        elif body is None:
            reply = _Reply(status, b"", None, tuple((headers or {}).items()))
        else:
            reply = _json_reply(status, body, tuple((headers or {}).items()))
        with self._lock:
            self._faults.append(
                _Fault(method.upper(), re.compile(path_regex), reply, times, after_processing)
            )

    # ------------------------------------------------------------------ inspection

    def reset_requests(self) -> None:
        """Forget the recorded requests and schema violations."""
        with self._lock:
            self.requests.clear()
            self.schema_violations.clear()

    def usage(self, resource_uuid: str, component_type: str, billing_period: str) -> Decimal | None:
        """The stored total of a (resource, component, ``YYYY-MM-01``) or None when never written."""
        row = self._find_component_usage(resource_uuid, component_type, date.fromisoformat(billing_period))
        return row.usage if row else None

    def user_usages(self, resource_uuid: str, component_type: str, billing_period: str) -> dict[str, Decimal]:
        """The stored per-username usages of a (resource, component, ``YYYY-MM-01``)."""
        row = self._find_component_usage(resource_uuid, component_type, date.fromisoformat(billing_period))
        if row is None:
            return {}
        with self._lock:
            return {
                user_usage.username: user_usage.usage
                for user_usage in self._user_usages.values()
                if user_usage.component_usage_uuid == row.uuid
            }

    # ------------------------------------------------------------------ request handling

    def _answer_http(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], raw_body: bytes
    ) -> _Reply:
        """Answer one HTTP request (called by the HTTP handler thread)."""
        if path.startswith("/sandbox/"):
            return self._handle_admin(method, path, query, raw_body)
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        reply = self._handle_api(method, path, query, headers, raw_body)
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, _recorded_json(raw_body), reply.status))
        return reply

    def _handle_api(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], raw_body: bytes
    ) -> _Reply:
        problems: list[str] = []
        if self.validate:
            problems = self._checker.check_request(method, path, query, raw_body, headers.get("Content-Type"))
            if problems:
                with self._lock:
                    self.schema_violations.append(f"{method} {path}: " + "; ".join(problems))
        fault = self._take_fault(method, path)
        if fault is not None and not fault.after_processing:
            return fault.reply
        try:
            reply = self._route(method, path, query, headers, raw_body, problems)
        except _ApiError as error:
            reply = error.reply
        except Exception as error:
            # A sandbox bug must surface as a 500 naming it, not as a dropped connection that a
            # client would retry as a transient network failure.
            reply = _json_reply(500, {"detail": f"Waldur sandbox error: {type(error).__name__}: {error}"})
        return fault.reply if fault is not None else reply

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        raw_body: bytes,
        schema_problems: list[str],
    ) -> _Reply:
        route_method = "GET" if method == "HEAD" else method
        candidates = [(route, match) for route in self._routes if (match := route.pattern.match(path))]
        if not candidates:
            return _Reply(404, _DJANGO_NOT_FOUND, "text/html; charset=utf-8")
        chosen = next(((route, match) for route, match in candidates if route.method == route_method), None)
        if chosen is None:
            raise _error(405, {"detail": f'Method "{method}" not allowed.'})
        if schema_problems:
            raise _error(
                400,
                {
                    "detail": "Request does not match the Waldur OpenAPI schema.",
                    "schema_violations": schema_problems,
                },
            )
        route, match = chosen
        principal = self._authenticate(headers.get("Authorization"))
        if route.filters is not None:
            self._refuse_unimplemented_filters(query, route.filters)
        body = _parse_json_body(raw_body) if route_method == "POST" else None
        request = _Request(route_method, path, query, body, principal, match.groupdict())
        with self._lock:
            return route.handler(request)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.method == method and fault.path_pattern.search(path):
                    fault.remaining -= 1
                    return fault
        return None

    def _authenticate(self, authorization: str | None) -> _Principal:
        """DRF TokenAuthentication, including its exact 401 messages."""
        parts = (authorization or "").split()
        if not parts or parts[0].lower() != "token":
            raise _not_authenticated(NO_CREDENTIALS)
        if len(parts) == 1:
            raise _not_authenticated("Invalid token header. No credentials provided.")
        if len(parts) > 2:
            raise _not_authenticated("Invalid token header. Token string should not contain spaces.")
        principal = self._principals.get(parts[1])
        if principal is None:
            raise _not_authenticated(INVALID_TOKEN)
        with self._lock:
            if parts[1] in self._expired_tokens:
                raise _not_authenticated(EXPIRED_TOKEN)
        return principal

    @staticmethod
    def _refuse_unimplemented_filters(query: Mapping[str, list[str]], implemented: frozenset[str]) -> None:
        unimplemented = sorted(set(query) - implemented - _PAGINATION_PARAMETERS)
        if unimplemented:
            raise _error(
                501,
                {
                    "detail": f"The Waldur sandbox does not implement the filter(s) {', '.join(unimplemented)}."
                },
            )

    def _build_routes(self) -> list[_Route]:
        uuid_segment = r"(?P<uuid>[^/]+)"
        routes = [
            _Route(
                "GET",
                re.compile(r"^/api/marketplace-provider-resources/$"),
                self._list_provider_resources,
                frozenset({"offering_uuid", "state", "backend_id"}),
            ),
            _Route(
                "GET",
                re.compile(rf"^/api/marketplace-provider-resources/{uuid_segment}/$"),
                self._retrieve_provider_resource,
            ),
            _Route(
                "GET",
                re.compile(rf"^/api/marketplace-provider-offerings/{uuid_segment}/$"),
                self._retrieve_provider_offering,
            ),
            _Route(
                "GET",
                re.compile(r"^/api/marketplace-component-usages/$"),
                self._list_component_usages,
                frozenset({"offering_uuid", "billing_period", "resource_uuid", "type"}),
            ),
            _Route("POST", re.compile(r"^/api/marketplace-component-usages/set_usage/$"), self._set_usage),
            _Route(
                "POST",
                re.compile(rf"^/api/marketplace-component-usages/{uuid_segment}/set_user_usage/$"),
                self._set_user_usage,
            ),
            _Route(
                "GET",
                re.compile(r"^/api/marketplace-component-user-usages/$"),
                self._list_user_usages,
                frozenset(
                    {"offering_uuid", "component_usage__billing_period", "resource_uuid", "type", "username"}
                ),
            ),
            _Route(
                "GET",
                re.compile(r"^/api/marketplace-offering-users/$"),
                self._list_offering_users,
                frozenset({"offering_uuid", "user_username"}),
            ),
            _Route("GET", re.compile(r"^/api/users/me/$"), self._users_me),
        ]
        if self.version == "8":
            routes.append(
                _Route(
                    "POST",
                    re.compile(rf"^/api/marketplace-component-usages/{uuid_segment}/set_user_usages/$"),
                    self._set_user_usages,
                )
            )
        return routes

    # ------------------------------------------------------------------ pagination

    def _paginated(
        self, request: _Request, records: Sequence[_Record], to_json: Callable[[_Record], dict[str, Any]]
    ) -> _Reply:
        """DRF page-number pagination the Waldur way: bare array, X-Result-Count and Link headers.

        Only the records of the requested page are serialised (listings can hold thousands).
        """
        page_size = _page_size(request.query.get("page_size"))
        page_count = max(1, math.ceil(len(records) / page_size))
        page = _page_number(request.query.get("page"), page_count)
        fields = request.query.get("field")
        items = [
            _restrict(to_json(record), fields)
            for record in records[(page - 1) * page_size : page * page_size]
        ]
        links = [("first", 1)]
        if page > 1:
            links.append(("prev", page - 1))
        if page < page_count:
            links.append(("next", page + 1))
        links.append(("last", page_count))
        link_header = ", ".join(f'<{self._page_url(request, number)}>; rel="{rel}"' for rel, number in links)
        return _json_reply(200, items, (("X-Result-Count", str(len(records))), ("Link", link_header)))

    def _page_url(self, request: _Request, page: int) -> str:
        # Like DRF: the request's own query with `page` replaced (dropped for page 1), keys sorted.
        query = {key: values for key, values in request.query.items() if key != "page"}
        if page > 1:
            query["page"] = [str(page)]
        encoded = urlencode(sorted(query.items()), doseq=True)
        return f"{self.url}{request.path}" + (f"?{encoded}" if encoded else "")

    # ------------------------------------------------------------------ endpoints

    def _list_provider_resources(self, request: _Request) -> _Reply:
        offering_uuids = _uuid_filter(request.query, "offering_uuid", comma_separated=True)
        states = request.query.get("state")
        backend_ids = request.query.get("backend_id")
        matching = [
            resource
            for resource in self._resources.values()
            if (offering_uuids is None or resource.offering_uuid in offering_uuids)
            and (states is None or resource.state in states)
            and (backend_ids is None or resource.backend_id == backend_ids[-1])
        ]
        return self._paginated(request, matching, self._resource_json)

    def _retrieve_provider_resource(self, request: _Request) -> _Reply:
        resource = self._resources.get(_uuid_key(request.path_params["uuid"]) or "")
        if resource is None:
            raise _error(404, {"detail": "Not found."})
        return _json_reply(200, _restrict(self._resource_json(resource), request.query.get("field")))

    def _retrieve_provider_offering(self, request: _Request) -> _Reply:
        offering = self._offerings.get(_uuid_key(request.path_params["uuid"]) or "")
        if offering is None:
            raise _error(404, {"detail": "Not found."})
        return _json_reply(200, _restrict(self._offering_json(offering), request.query.get("field")))

    def _list_component_usages(self, request: _Request) -> _Reply:
        offering_uuids = _uuid_filter(request.query, "offering_uuid")
        resource_uuids = _uuid_filter(request.query, "resource_uuid")
        billing_period = _date_filter(request.query, "billing_period")
        component_type = request.query.get("type", [None])[-1]
        matching = [
            row
            for row in self._component_usages.values()
            if (offering_uuids is None or self._resources[row.resource_uuid].offering_uuid in offering_uuids)
            and (resource_uuids is None or row.resource_uuid in resource_uuids)
            and (billing_period is None or row.billing_period == billing_period)
            and (component_type is None or row.component_type == component_type)
        ]
        return self._paginated(request, matching, self._component_usage_json)

    def _list_user_usages(self, request: _Request) -> _Reply:
        offering_uuids = _uuid_filter(request.query, "offering_uuid")
        resource_uuids = _uuid_filter(request.query, "resource_uuid")
        billing_period = _date_filter(request.query, "component_usage__billing_period")
        component_type = request.query.get("type", [None])[-1]
        username_part = request.query.get("username", [None])[-1]
        matching = []
        for user_usage in self._user_usages.values():
            parent = self._component_usages[user_usage.component_usage_uuid]
            if (
                (
                    offering_uuids is None
                    or self._resources[parent.resource_uuid].offering_uuid in offering_uuids
                )
                and (resource_uuids is None or parent.resource_uuid in resource_uuids)
                and (billing_period is None or parent.billing_period == billing_period)
                and (component_type is None or parent.component_type == component_type)
                and (username_part is None or username_part.lower() in user_usage.username.lower())
            ):
                matching.append(user_usage)
        return self._paginated(request, matching, self._user_usage_json)

    def _list_offering_users(self, request: _Request) -> _Reply:
        offering_uuids = _uuid_filter(request.query, "offering_uuid", comma_separated=True)
        usernames = request.query.get("user_username")
        matching = [
            offering_user
            for offering_user in self._offering_users.values()
            if (offering_uuids is None or offering_user.offering_uuid in offering_uuids)
            and (usernames is None or offering_user.username == usernames[-1])
        ]
        return self._paginated(request, matching, self._offering_user_json)

    def _users_me(self, request: _Request) -> _Reply:
        principal = request.principal
        row = {
            "url": f"{self.url}/api/users/{principal.uuid}/",
            "uuid": principal.uuid,
            "username": principal.username,
            "full_name": principal.full_name,
            "email": f"{principal.username}@sandbox.example.org",
            "is_staff": principal.is_staff,
            "is_support": False,
            "is_active": True,
            "date_joined": datetime(2020, 1, 1, tzinfo=timezone.utc),
        }
        return _json_reply(200, _restrict(row, request.query.get("field")))

    def _set_usage(self, request: _Request) -> _Reply:
        body = _require_object(request.body)
        if "plan_period" in body:
            raise _error(501, {"detail": "The Waldur sandbox does not implement plan_period; send resource."})
        errors: dict[str, Any] = {}
        usages = _parse_usage_items(body, errors)
        resource = self._resource_field(body, errors)
        requested_date = None
        if body.get("date") is not None:
            requested_date, date_errors = _datetime_field(body["date"])
            if date_errors:
                errors["date"] = date_errors
        if errors or resource is None or usages is None:
            raise _error(400, errors)
        if resource.state not in _USAGE_ACCEPTING_STATES:
            raise _error(400, {"resource": ["Resource is not in valid state."]})
        components = self._offerings[resource.offering_uuid].components
        invalid = sorted(
            {item.type for item in usages}
            - {c.type for c in components.values() if c.billing_type in _REPORTABLE_BILLING_TYPES}
        )
        if invalid:
            raise _error(400, {"non_field_errors": [f"These components are invalid: {', '.join(invalid)}."]})
        usage_date = self._usage_date(requested_date)
        billing_period = _month_start(usage_date.astimezone(timezone.utc).date())
        backfilling_usage_meter = any(
            components[item.type].billing_type == "usage" and not components[item.type].is_prepaid
            for item in usages
        )
        if (
            billing_period < _month_start(self.today)
            and backfilling_usage_meter
            and not request.principal.is_staff
        ):
            raise _error(400, {"date": [BACKFILL_REFUSED]})
        for item in usages:
            self._write_component_usage(resource, item, billing_period, usage_date, request.principal)
        return _Reply(201)

    def _usage_date(self, requested: datetime | None) -> datetime:
        # 7.x ignores `date` altogether: it always writes "now", i.e. the current month.
        if requested is None or self.version == "7":
            return self._now()
        return requested

    def _write_component_usage(
        self,
        resource: _Resource,
        item: _UsageInput,
        billing_period: date,
        usage_date: datetime,
        principal: _Principal,
    ) -> None:
        existing = self._find_component_usage(resource.uuid, item.type, billing_period)
        if existing is None:
            row = _ComponentUsage(
                uuid=_new_uuid(),
                resource_uuid=resource.uuid,
                component_type=item.type,
                billing_period=billing_period,
                usage=item.amount,
                date=usage_date,
                created=self._now(),
                description=item.description,
                recurring=item.recurring,
                modified_by=principal.id,
            )
            self._component_usages[row.uuid] = row
            self._component_usages_by_period[(row.resource_uuid, row.component_type, billing_period)] = row
            return
        # `amount` is the absolute total of the period: the row is overwritten, never incremented.
        existing.usage = item.amount
        existing.date = usage_date
        existing.description = item.description
        existing.recurring = item.recurring
        existing.modified_by = principal.id

    def _set_user_usages(self, request: _Request) -> _Reply:
        component_usage = self._component_usage_of(request)
        body = _require_object(request.body)
        items = body.get("usages")
        if items is None:
            raise _error(400, {"usages": ["This field is required."]})
        if not isinstance(items, list):
            raise _error(
                400, {"usages": [f'Expected a list of items but got type "{type(items).__name__}".']}
            )
        if not items:
            raise _error(400, {"usages": ["This list may not be empty."]})
        parsed = [self._parse_user_usage(item) for item in items]
        if any(errors for _, errors in parsed):
            raise _error(400, {"usages": [errors for _, errors in parsed]})
        # Atomic like the real endpoint: nothing is written unless every item is valid.
        for user_usage, _ in parsed:
            assert user_usage is not None
            self._write_user_usage(component_usage, user_usage)
        return _Reply(201)

    def _set_user_usage(self, request: _Request) -> _Reply:
        component_usage = self._component_usage_of(request)
        user_usage, errors = self._parse_user_usage(request.body)
        if errors or user_usage is None:
            raise _error(400, errors)
        self._write_user_usage(component_usage, user_usage)
        return _Reply(201)

    def _write_user_usage(self, component_usage: _ComponentUsage, item: _UserUsageInput) -> None:
        key = (component_usage.uuid, item.username)
        existing = self._user_usages.get(key)
        now = self._now()
        if existing is None:
            self._user_usages[key] = _UserUsage(
                uuid=_new_uuid(),
                component_usage_uuid=component_usage.uuid,
                username=item.username,
                usage=item.usage,
                offering_user_uuid=item.offering_user_uuid,
                created=now,
                modified=now,
            )
            return
        existing.usage = item.usage
        existing.offering_user_uuid = item.offering_user_uuid
        existing.modified = now

    # ------------------------------------------------------------------ request parsing

    def _resource_field(self, body: Mapping[str, Any], errors: dict[str, Any]) -> _Resource | None:
        if "resource" not in body:
            errors["resource"] = ["This field is required."]
            return None
        key = _uuid_key(body["resource"]) if isinstance(body["resource"], str) else None
        if key is None:
            errors["resource"] = [f"“{body['resource']}” is not a valid UUID."]
            return None
        resource = self._resources.get(key)
        if resource is None:
            # An unknown resource is a validation error (400), not a 404, on the real server.
            errors["resource"] = [f"Object with uuid={body['resource']} does not exist."]
        return resource

    def _parse_user_usage(self, item: Any) -> tuple[_UserUsageInput | None, dict[str, list[str]]]:
        if not isinstance(item, dict):
            return None, {"non_field_errors": ["Invalid data. Expected a dictionary."]}
        errors: dict[str, list[str]] = {}
        username, username_errors = (
            _char_field(item["username"], max_length=100)
            if "username" in item
            else (None, ["This field is required."])
        )
        usage, usage_errors = (
            _decimal_field(item["usage"]) if "usage" in item else (None, ["This field is required."])
        )
        offering_user_uuid, user_errors = self._offering_user_field(item.get("user"))
        for name, field_errors in (
            ("username", username_errors),
            ("usage", usage_errors),
            ("user", user_errors),
        ):
            if field_errors:
                errors[name] = field_errors
        if errors or username is None or usage is None:
            return None, errors
        return _UserUsageInput(username, usage, offering_user_uuid), {}

    def _offering_user_field(self, url: Any) -> tuple[str | None, list[str]]:
        if url is None:
            return None, []
        if not isinstance(url, str):
            return None, ["Incorrect type. Expected URL string."]
        match = re.fullmatch(r"/api/marketplace-offering-users/([^/]+)/", urlsplit(url).path)
        if match is None:
            return None, ["Invalid hyperlink - No URL match."]
        key = _uuid_key(match.group(1))
        if key is None or key not in self._offering_users:
            return None, ["Invalid hyperlink - Object does not exist."]
        return key, []

    def _component_usage_of(self, request: _Request) -> _ComponentUsage:
        row = self._component_usages.get(_uuid_key(request.path_params["uuid"]) or "")
        if row is None:
            raise _error(404, {"detail": "Not found."})
        return row

    # ------------------------------------------------------------------ lookups and serialisers

    def _offering(self, offering_uuid: str) -> _Offering:
        with self._lock:
            offering = self._offerings.get(_uuid_key(offering_uuid) or "")
        if offering is None:
            raise ValueError(f"no offering {offering_uuid!r} in this sandbox")
        return offering

    def _find_component_usage(
        self, resource_uuid: str, component_type: str, billing_period: date
    ) -> _ComponentUsage | None:
        key = (_uuid_key(resource_uuid) or "", component_type, billing_period)
        with self._lock:
            return self._component_usages_by_period.get(key)

    def _now(self) -> datetime:
        """Wall-clock time of day on the sandbox's ``today`` (UTC)."""
        now = datetime.now(timezone.utc)
        return now.replace(year=self.today.year, month=self.today.month, day=self.today.day)

    def _offering_url(self, offering_uuid: str) -> str:
        return f"{self.url}/api/marketplace-provider-offerings/{offering_uuid}/"

    def _offering_user_url(self, offering_user_uuid: str) -> str:
        return f"{self.url}/api/marketplace-offering-users/{offering_user_uuid}/"

    def _ownership_json(self) -> dict[str, Any]:
        return {
            "project_uuid": self._project["uuid"],
            "project_name": self._project["name"],
            "customer_uuid": self._customer["uuid"],
            "customer_name": self._customer["name"],
        }

    def _component_json(self, component: _Component) -> dict[str, Any]:
        row: dict[str, Any] = {
            "uuid": component.uuid,
            "type": component.type,
            "name": component.name,
            "description": "",
            "billing_type": component.billing_type,
            "measured_unit": component.measured_unit,
            "limit_period": None,
            "limit_amount": None,
            "article_code": "",
            "is_boolean": False,
            "is_prepaid": component.is_prepaid,
        }
        if self.version == "8":
            row["unit_factor"] = component.unit_factor
        return row

    def _offering_json(self, offering: _Offering) -> dict[str, Any]:
        return {
            "url": self._offering_url(offering.uuid),
            "uuid": offering.uuid,
            "name": offering.name,
            "type": "Marketplace.Slurm",
            "state": "Active",
            "backend_id": offering.backend_id,
            "customer_uuid": self._customer["uuid"],
            "customer_name": self._customer["name"],
            "components": [self._component_json(c) for c in offering.components.values()],
        }

    def _resource_json(self, resource: _Resource) -> dict[str, Any]:
        offering = self._offerings[resource.offering_uuid]
        row: dict[str, Any] = {
            "url": f"{self.url}/api/marketplace-provider-resources/{resource.uuid}/",
            "uuid": resource.uuid,
            "name": resource.name,
            "backend_id": resource.backend_id,
            "state": resource.state,
            "offering": self._offering_url(offering.uuid),
            "offering_uuid": offering.uuid,
            "offering_name": offering.name,
            "offering_type": "Marketplace.Slurm",
            **self._ownership_json(),
            "created": resource.created,
            "modified": resource.created,
        }
        if self.version == "8":
            row["offering_backend_id"] = offering.backend_id
        return row

    def _component_usage_json(self, row: _ComponentUsage) -> dict[str, Any]:
        resource = self._resources[row.resource_uuid]
        offering = self._offerings[resource.offering_uuid]
        component = offering.components[row.component_type]
        return {
            "uuid": row.uuid,
            "created": row.created,
            "description": row.description,
            "type": component.type,
            "name": component.name,
            "measured_unit": component.measured_unit,
            # DecimalField -> "10.50" like the real server (the schema says integer; see module doc).
            "usage": row.usage,
            "date": row.date,
            "recurring": row.recurring,
            "resource_name": resource.name,
            "resource_uuid": resource.uuid,
            "offering_name": offering.name,
            "offering_uuid": offering.uuid,
            **self._ownership_json(),
            "billing_period": row.billing_period,
            "modified_by": row.modified_by,
        }

    def _user_usage_json(self, user_usage: _UserUsage) -> dict[str, Any]:
        parent = self._component_usages[user_usage.component_usage_uuid]
        resource = self._resources[parent.resource_uuid]
        offering = self._offerings[resource.offering_uuid]
        return {
            "uuid": user_usage.uuid,
            "user": (
                self._offering_user_url(user_usage.offering_user_uuid)
                if user_usage.offering_user_uuid
                else None
            ),
            "username": user_usage.username,
            "component_usage": f"{self.url}/api/marketplace-component-usages/{parent.uuid}/",
            "usage": user_usage.usage,
            "measured_unit": offering.components[parent.component_type].measured_unit,
            "description": "",
            "created": user_usage.created,
            "modified": user_usage.modified,
            "backend_id": "",
            "resource_name": resource.name,
            "resource_uuid": resource.uuid,
            "offering_name": offering.name,
            "offering_uuid": offering.uuid,
            **self._ownership_json(),
            "component_type": parent.component_type,
            "date": parent.date,
            "billing_period": parent.billing_period,
        }

    def _offering_user_json(self, offering_user: _OfferingUser) -> dict[str, Any]:
        offering = self._offerings[offering_user.offering_uuid]
        row: dict[str, Any] = {
            "url": self._offering_user_url(offering_user.uuid),
            "uuid": offering_user.uuid,
            "user": f"{self.url}/api/users/{offering_user.user_uuid}/",
            "offering": self._offering_url(offering.uuid),
            "username": offering_user.username,
            "offering_uuid": offering.uuid,
            "offering_name": offering.name,
            "user_uuid": offering_user.user_uuid,
            "user_username": offering_user.username,
            "user_full_name": offering_user.username.title(),
            "created": offering_user.created,
            "modified": offering_user.created,
        }
        if self.version == "8":
            row["state"] = "OK"
        return row

    # ------------------------------------------------------------------ admin API

    def _handle_admin(self, method: str, path: str, query: dict[str, list[str]], raw_body: bytes) -> _Reply:
        try:
            body = json.loads(raw_body, parse_float=Decimal) if raw_body else {}
            return self._admin_route(method, path, query, body)
        except (KeyError, ValueError, TypeError) as error:
            return _json_reply(400, {"error": f"{type(error).__name__}: {error}"})

    def _admin_route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> _Reply:
        if (method, path) == ("GET", "/sandbox/info"):
            return _json_reply(
                200,
                {
                    "url": self.url,
                    "version": self.version,
                    "today": self.today,
                    "staff_token": self.staff_token,
                    "provider_token": self.provider_token,
                },
            )
        if (method, path) == ("POST", "/sandbox/offerings"):
            uuid_ = self.add_offering(
                body["name"],
                body["components"],
                backend_id=body.get("backend_id", ""),
                offering_uuid=body.get("uuid"),
            )
            return _json_reply(201, {"uuid": uuid_})
        if (method, path) == ("POST", "/sandbox/resources"):
            uuid_ = self.add_resource(
                body["offering_uuid"],
                body["backend_id"],
                name=body.get("name"),
                state=body.get("state", "OK"),
            )
            return _json_reply(201, {"uuid": uuid_})
        if (method, path) == ("POST", "/sandbox/offering-users"):
            return _json_reply(201, {"url": self.add_offering_user(body["offering_uuid"], body["username"])})
        if (method, path) == ("GET", "/sandbox/usages"):
            arguments = (query["resource_uuid"][-1], query["component_type"][-1], query["billing_period"][-1])
            return _json_reply(
                200, {"usage": self.usage(*arguments), "user_usages": self.user_usages(*arguments)}
            )
        if (method, path) == ("GET", "/sandbox/state"):
            return _json_reply(200, self._state_dump())
        if (method, path) == ("GET", "/sandbox/schema-violations"):
            with self._lock:
                return _json_reply(200, {"schema_violations": list(self.schema_violations)})
        if (method, path) == ("POST", "/sandbox/today"):
            self.today = date.fromisoformat(body["today"])
            return _json_reply(200, {"today": self.today})
        return _json_reply(404, {"error": f"no admin endpoint {method} {path}"})

    def _state_dump(self) -> dict[str, Any]:
        with self._lock:
            return {
                "offerings": [
                    {**asdict(o), "components": [asdict(c) for c in o.components.values()]}
                    for o in self._offerings.values()
                ],
                "resources": [asdict(r) for r in self._resources.values()],
                "offering_users": [asdict(u) for u in self._offering_users.values()],
                "component_usages": [asdict(u) for u in self._component_usages.values()],
                "user_usages": [asdict(u) for u in self._user_usages.values()],
            }


def _parse_usage_items(body: Mapping[str, Any], errors: dict[str, Any]) -> list[_UsageInput] | None:
    """The ``usages`` of a set_usage body, DRF style: per-item errors listed in item order."""
    raw_items = body.get("usages")
    if raw_items is None:
        errors["usages"] = ["This field is required."]
        return None
    if not isinstance(raw_items, list):
        errors["usages"] = {
            "non_field_errors": [f'Expected a list of items but got type "{type(raw_items).__name__}".']
        }
        return None
    parsed: list[_UsageInput] = []
    item_errors: list[dict[str, list[str]]] = []
    for raw in raw_items:
        if not isinstance(raw, dict):
            item_errors.append({"non_field_errors": ["Invalid data. Expected a dictionary."]})
            continue
        problems: dict[str, list[str]] = {}
        component_type, type_errors = (
            _char_field(raw["type"]) if "type" in raw else (None, ["This field is required."])
        )
        amount, amount_errors = (
            _decimal_field(raw["amount"]) if "amount" in raw else (None, ["This field is required."])
        )
        for name, field_errors in (("type", type_errors), ("amount", amount_errors)):
            if field_errors:
                problems[name] = field_errors
        if not isinstance(raw.get("recurring", False), bool):
            problems["recurring"] = ["Must be a valid boolean."]
        item_errors.append(problems)
        if not problems and component_type is not None and amount is not None:
            parsed.append(
                _UsageInput(
                    component_type, amount, str(raw.get("description", "")), raw.get("recurring", False)
                )
            )
    if any(item_errors):
        errors["usages"] = item_errors
        return None
    return parsed


def _uuid_filter(
    query: Mapping[str, list[str]], name: str, *, comma_separated: bool = False
) -> set[str] | None:
    """The set of undashed uuids a filter asks for (None = no filter); 400 like django-filter."""
    if name not in query:
        return None
    raw_values = [
        part for value in query[name] for part in (value.split(",") if comma_separated else [value])
    ]
    keys = {_uuid_key(value) for value in raw_values}
    if None in keys:
        raise _error(400, {name: ["Enter a valid UUID."]})
    return {key for key in keys if key is not None}


def _date_filter(query: Mapping[str, list[str]], name: str) -> date | None:
    if name not in query:
        return None
    try:
        return date.fromisoformat(query[name][-1])
    except ValueError:
        raise _error(400, {name: ["Enter a valid date."]}) from None


def _page_size(values: list[str] | None) -> int:
    # DRF falls back to the default page size for a missing, invalid or non-positive page_size.
    try:
        requested = int(values[-1]) if values else _DEFAULT_PAGE_SIZE
    except ValueError:
        return _DEFAULT_PAGE_SIZE
    return min(requested, _MAX_PAGE_SIZE) if requested > 0 else _DEFAULT_PAGE_SIZE


def _page_number(values: list[str] | None, page_count: int) -> int:
    try:
        page = int(values[-1]) if values else 1
    except ValueError:
        raise _error(404, {"detail": "Invalid page."}) from None
    if not 1 <= page <= page_count:
        raise _error(404, {"detail": "Invalid page."})
    return page


def _parse_json_body(raw_body: bytes) -> Any:
    if not raw_body:
        return {}
    try:
        return json.loads(raw_body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as error:
        raise _error(400, {"detail": f"JSON parse error - {error}"}) from None


def _recorded_json(raw_body: bytes) -> Any:
    if not raw_body:
        return None
    try:
        return json.loads(raw_body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return raw_body.decode("utf-8", errors="replace")


class _RequestHandler(SandboxRequestHandler):
    """All logic lives in ``WaldurSandbox._answer_http``."""

    def _serve(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._write(_json_reply(411, {"detail": "Send a Content-Length."}))
            return
        raw_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = urlsplit(self.path)
        query = parse_qs(target.query, keep_blank_values=True)
        self._write(
            self.server.sandbox._answer_http(self.command, target.path, query, self.headers, raw_body)
        )


def main(argv: list[str] | None = None) -> int:
    """Run a sandbox until SIGINT/SIGTERM; print ``{"url", "version", "staff_token", "provider_token"}``."""
    parser = argparse.ArgumentParser(description="In-memory Waldur test server (seeds nothing).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--version", choices=("7", "8"), default="8")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept before every /api answer")
    parser.add_argument(
        "--today", type=date.fromisoformat, default=None, help="the server's date, YYYY-MM-DD"
    )
    parser.add_argument("--no-validate", action="store_true", help="do not check requests against the schema")
    arguments = parser.parse_args(argv)
    sandbox = WaldurSandbox(
        version=arguments.version,
        latency_seconds=arguments.latency,
        validate=not arguments.no_validate,
        host=arguments.host,
        port=arguments.port,
        today=arguments.today,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    with sandbox:
        info = {
            "url": sandbox.url,
            "version": sandbox.version,
            "staff_token": sandbox.staff_token,
            "provider_token": sandbox.provider_token,
        }
        print(json.dumps(info), flush=True)
        stopping.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
