"""DWDI compute-API double on loopback: bearer-JWT checked against an OIDC issuer's JWKS.

A test double for the tests, the demo and docker-compose; the provider never imports it. It
serves the compute endpoints of ``/work/shared/reference/dwdi-api.md`` from a
:class:`~sandbox.dwdi_data.DwdiDataset` (generated, deterministic) and/or explicit entries.

Endpoints (``GET`` only; the response is ``{"compute": [...]}`` written with ``json.dumps``)
    ``/api/v1/compute/usage-month-multiaccount`` (seed-era) and ``/api/v1/compute/usage-month/account``:
    ``from``, ``to`` = ``YYYY-MM`` (inclusive), repeated ``account``, repeated ``cluster``. A range
    gives one entry per account, cluster and month. ``/api/v1/compute/usage-day/account``: ``from``,
    ``to`` = ``YYYY-MM-DD``; generated rows are cut to those days and the totals recomputed.
    A missing or malformed ``from``/``to`` (or ``from`` after ``to``) is 400 ``{"detail": ...}``;
    an unknown path 404, another method 405.

Data
    ``set_entries(month, entries)`` replaces the generated data of one month by raw entries, served
    as they are (deep-copied) and only filtered: an entry is dropped by an ``account``/``cluster``
    filter only when it is an object whose ``account``/``cluster`` is a string outside the filter,
    so malformed entries always reach the client. The day endpoint serves them unchanged (no cut).
    ``set_raw_response(body, content_type, status)`` answers the next ``count`` authorised usage
    calls with exactly those bytes.

Authentication
    ``Authorization: Bearer <jwt>``, verified with PyJWT against ``jwks_url`` (RS256, ``exp``
    required and checked without leeway, ``iss`` == ``issuer`` when given, ``aud`` contains
    ``audience`` when given). Anything else is 401 ``{"detail": ...}`` with
    ``WWW-Authenticate: Bearer error="invalid_token"``; a JWKS that cannot be fetched is logged and
    answered 401 too. Without ``jwks_url``: with ``static_token`` the bearer must equal it, without
    it there is no authentication at all (quick unit use).

Order of checks for ``/api`` requests: request target longer than ``max_url_bytes`` -> 414;
``delay_next`` sleeps; the token is checked (for recording); ``fail_next`` answers (a gateway fault
precedes authentication); ``reject_next_token`` or an invalid token -> 401; raw response; then the
query and the data. Every ``/api`` request is recorded in ``requests``.

Admin API (not under ``/api``, no authentication, not recorded). JSON in and out:
    ``GET  /sandbox/info``            -> ``{"url", "today", "accounts", "clusters", "auth"}``
    ``GET  /sandbox/expected?month=YYYY-MM[&account=..][&cluster=..]`` -> ``expected_totals`` as strings
    ``GET  /sandbox/requests``        -> ``{"requests": [...]}``; ``POST /sandbox/reset-requests``
    ``POST /sandbox/entries``         ``{"month", "entries": [...] | null}``
    ``POST /sandbox/fail-next``       ``{"status", "count"?, "body"?: str, "headers"?}``
    ``POST /sandbox/reject-next-token`` ``{"count"?}``; ``POST /sandbox/delay-next`` ``{"seconds", "count"?}``
    Errors answer 400 ``{"error": "..."}``.

Command line (serves in the foreground until SIGINT/SIGTERM, after printing ``READY <url>``)::

    python -m sandbox.dwdi_server --host 0.0.0.0 --port 8081 --jwks-url URL --issuer URL \\
        [--accounts g1,g2 | --accounts-count N] [--seed 7]

``--issuer`` defaults to ``$SANDBOX_OIDC_ISSUER`` and ``--jwks-url`` to ``$SANDBOX_OIDC_JWKS_URL``;
with an issuer but no JWKS URL, the ``jwks_uri`` of the issuer's discovery document is used.
"""

from __future__ import annotations

import argparse
import copy
import hmac
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from sandbox._serving import BackgroundServing, SandboxRequestHandler
from sandbox.dwdi_data import GPU_FIELD, NODE_FIELD, DwdiDataset, parse_month

log = logging.getLogger(__name__)

MONTH_PATHS = ("/api/v1/compute/usage-month-multiaccount", "/api/v1/compute/usage-month/account")
DAY_PATH = "/api/v1/compute/usage-day/account"
WWW_AUTHENTICATE = 'Bearer error="invalid_token"'
MAX_RANGE_MONTHS = 120
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class RecordedRequest:
    """One ``/api`` request as the sandbox received and answered it.

    ``authorized``: the request carried credentials the sandbox accepted and was not answered 401
    (always True when the sandbox has no authentication). ``token_subject``: the JWT's ``sub``
    (else ``client_id``, else ``azp``) of an accepted token.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    url_length: int
    authorized: bool
    status: int
    token_subject: str | None


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class _Queued:
    """A one-shot behaviour (fault, delay, raw response) used by the next ``remaining`` requests."""

    remaining: int
    reply: _Reply | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class _AuthResult:
    ok: bool
    detail: str = ""
    subject: str | None = None


class _QueryError(Exception):
    """A bad query parameter: answered 400 ``{"detail": message}``."""


def _json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> _Reply:
    return _Reply(status, json.dumps(payload).encode(), "application/json", headers)


def _unauthorized(detail: str) -> _Reply:
    return _json_reply(401, {"detail": detail}, (("WWW-Authenticate", WWW_AUTHENTICATE),))


def _take(queue: list[_Queued]) -> _Queued | None:
    """Consume one use of the first queued item that has uses left (FIFO)."""
    for item in queue:
        if item.remaining > 0:
            item.remaining -= 1
            return item
    return None


def _months(first: str, last: str) -> list[str]:
    year, month = parse_month(first)
    end = parse_month(last)
    months: list[str] = []
    while (year, month) <= end:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _single(query: Mapping[str, list[str]], name: str) -> str:
    values = query.get(name)
    if not values or not values[-1]:
        raise _QueryError(f"query parameter '{name}' is required")
    if len(values) > 1:
        raise _QueryError(f"query parameter '{name}' is given {len(values)} times")
    return values[0]


def _month_range(query: Mapping[str, list[str]]) -> list[str]:
    first, last = _single(query, "from"), _single(query, "to")
    for name, value in (("from", first), ("to", last)):
        try:
            parse_month(value)
        except ValueError:
            raise _QueryError(f"query parameter '{name}' must be YYYY-MM, got {value!r}") from None
    if parse_month(first) > parse_month(last):
        raise _QueryError(f"'from' ({first}) is after 'to' ({last})")
    months = _months(first, last)
    if len(months) > MAX_RANGE_MONTHS:
        raise _QueryError(f"the range spans {len(months)} months, at most {MAX_RANGE_MONTHS} are served")
    return months


def _day_range(query: Mapping[str, list[str]]) -> tuple[date, date]:
    bounds: list[date] = []
    for name in ("from", "to"):
        value = _single(query, name)
        try:
            if not _DAY.match(value):
                raise ValueError(value)
            bounds.append(date.fromisoformat(value))
        except ValueError:
            raise _QueryError(f"query parameter '{name}' must be YYYY-MM-DD, got {value!r}") from None
    first, last = bounds
    if first > last:
        raise _QueryError(f"'from' ({first}) is after 'to' ({last})")
    if (last.year - first.year) * 12 + last.month - first.month >= MAX_RANGE_MONTHS:
        raise _QueryError(f"the range is longer than {MAX_RANGE_MONTHS} months")
    return first, last


def _keeps(entry: Any, key: str, wanted: set[str] | None) -> bool:
    if wanted is None or not isinstance(entry, dict):
        return True
    value = entry.get(key)
    return not isinstance(value, str) or value in wanted


def _cut_to_days(entries: Iterable[dict[str, Any]], first: date, last: date) -> list[dict[str, Any]]:
    """Generated entries restricted to rows dated ``first``..``last``, with recomputed totals."""
    kept: list[dict[str, Any]] = []
    low, high = first.isoformat(), last.isoformat()
    for entry in entries:
        rows = [row for row in entry["users"] if low <= row["usageDate"] <= high]
        if not rows:
            continue
        for key in list(entry):
            if key.endswith("NodeHours") or key.endswith("GpuHours"):
                field = NODE_FIELD if key.endswith("NodeHours") else GPU_FIELD
                # repr() is the exact decimal; float(Decimal) of a short decimal repr()s back to it.
                entry[key] = float(
                    sum((Decimal(repr(row[field])) for row in rows if field in row), Decimal(0))
                )
        entry["users"] = rows
        kept.append(entry)
    return kept


def _decimal_strings(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: _decimal_strings(item) for key, item in value.items()}
    return value


class DWDISandbox(BackgroundServing):
    """The DWDI compute API on loopback; see the module docstring for its behaviour.

    The socket is bound on construction (``url`` is known at once, ``port=0`` lets the OS pick);
    :meth:`start` serves it from a daemon thread. State is guarded by one lock, so tests may
    configure faults while a client is calling.
    """

    def __init__(
        self,
        *,
        jwks_url: str | None,
        issuer: str | None,
        audience: str | None = "dwdi-api",
        dataset: DwdiDataset | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_url_bytes: int = 8192,
        today: date | None = None,
        static_token: str | None = None,
    ) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.dataset = dataset
        self.max_url_bytes = max_url_bytes
        self.today: date = today or (dataset.today if dataset else datetime.now(timezone.utc).date())
        self.static_token = static_token
        # A short cooldown lets a restarted issuer's new key be picked up quickly.
        self._jwks_client = (
            jwt.PyJWKClient(jwks_url, lifespan=60, timeout=5, cooldown_duration=1.0) if jwks_url else None
        )
        self.requests: list[RecordedRequest] = []
        self._entries: dict[str, list[dict[str, Any]]] = {}
        self._faults: list[_Queued] = []
        self._delays: list[_Queued] = []
        self._raw_responses: list[_Queued] = []
        self._rejections = 0
        self._lock = threading.RLock()
        self.bind(host, port, _RequestHandler)

    # ------------------------------------------------------------------ lifecycle: start, stop and `with` come from BackgroundServing

    def __repr__(self) -> str:
        return f"DWDISandbox(url={self.url!r}, auth={self.auth_mode!r})"

    @property
    def auth_mode(self) -> str:
        """``"jwt"``, ``"static"`` or ``"none"``."""
        if self._jwks_client is not None:
            return "jwt"
        return "static" if self.static_token is not None else "none"

    # ------------------------------------------------------------------ data and faults

    def set_entries(self, month: str, entries: list[dict[str, Any]] | None) -> None:
        """Serve ``entries`` (raw, JSON-serialisable) for ``month`` instead of the dataset's;
        None goes back to the dataset."""
        parse_month(month)
        with self._lock:
            if entries is None:
                self._entries.pop(month, None)
            else:
                self._entries[month] = copy.deepcopy(entries)

    def set_raw_response(self, body: bytes, content_type: str, status: int = 200, *, count: int = 1) -> None:
        """Answer the next ``count`` authorised usage calls with exactly ``body``."""
        with self._lock:
            self._raw_responses.append(_Queued(count, _Reply(status, body, content_type)))

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        body: bytes = b'{"detail":"injected"}',
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``count`` ``/api`` requests with ``status`` before authentication, e.g.
        ``fail_next(503)`` or ``fail_next(429, headers={"Retry-After": "1"})``."""
        reply = _Reply(status, body, content_type, tuple((headers or {}).items()))
        with self._lock:
            self._faults.append(_Queued(count, reply))

    def reject_next_token(self, count: int = 1) -> None:
        """Answer the next ``count`` requests that carry a bearer token 401, even a valid token
        (a revoked token: the client has to fetch a new one)."""
        with self._lock:
            self._rejections += count

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """Sleep ``seconds`` before answering each of the next ``count`` ``/api`` requests."""
        with self._lock:
            self._delays.append(_Queued(count, seconds=seconds))

    def reset_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()

    def expected_totals(
        self, month: str, accounts: Collection[str] | None = None, clusters: Collection[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """The dataset's exact totals for ``month`` (see :meth:`DwdiDataset.expected_totals`)."""
        if self.dataset is None:
            raise RuntimeError("this sandbox has no dataset")
        return self.dataset.expected_totals(month, accounts=accounts, clusters=clusters)

    # ------------------------------------------------------------------ request handling

    def _answer_http(self, method: str, target: str, headers: Mapping[str, str], raw_body: bytes) -> _Reply:
        """Answer one HTTP request (called by a handler thread)."""
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True)
        if split.path.startswith("/sandbox/"):
            return self._handle_admin(method, split.path, query, raw_body)
        # http.server decodes the request line as latin-1: one character per byte.
        url_length = len(target)
        auth = _AuthResult(False)
        try:
            if url_length > self.max_url_bytes:
                reply = _json_reply(414, {"detail": f"Request-URI longer than {self.max_url_bytes} bytes"})
            else:
                reply, auth = self._handle_api(method, split.path, query, headers)
        except Exception as error:
            # A sandbox bug must surface as a 500 naming it, not as a dropped connection that a
            # client would retry as a transient network failure.
            log.exception("DWDI sandbox error")
            reply = _json_reply(500, {"detail": f"DWDI sandbox error: {type(error).__name__}: {error}"})
        authorized = auth.ok and reply.status != 401
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    method=method,
                    path=split.path,
                    query=query,
                    url_length=url_length,
                    authorized=authorized,
                    status=reply.status,
                    token_subject=auth.subject if authorized else None,
                )
            )
        return reply

    def _handle_api(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str]
    ) -> tuple[_Reply, _AuthResult]:
        with self._lock:
            delay = _take(self._delays)
        if delay is not None:
            time.sleep(delay.seconds)
        authorization = headers.get("Authorization")
        auth = self._authenticate(authorization)
        with self._lock:
            fault = _take(self._faults)
        if fault is not None and fault.reply is not None:
            return fault.reply, auth
        if path not in (*MONTH_PATHS, DAY_PATH):
            return _json_reply(404, {"detail": "Not Found"}), auth
        if method != "GET":
            return _json_reply(405, {"detail": "Method Not Allowed"}, (("Allow", "GET"),)), auth
        if authorization and authorization.lower().startswith("bearer "):
            with self._lock:
                rejected = self._rejections > 0
                if rejected:
                    self._rejections -= 1
            if rejected:
                return _unauthorized("Token has been revoked (injected)"), _AuthResult(False)
        if not auth.ok:
            return _unauthorized(auth.detail), auth
        with self._lock:
            raw = _take(self._raw_responses)
        if raw is not None and raw.reply is not None:
            return raw.reply, auth
        try:
            compute = self._compute(path, query)
        except _QueryError as error:
            return _json_reply(400, {"detail": str(error)}), auth
        return _json_reply(200, {"compute": compute}), auth

    def _authenticate(self, authorization: str | None) -> _AuthResult:
        if self.auth_mode == "none":
            return _AuthResult(True)
        if not authorization:
            return _AuthResult(False, "Not authenticated")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            return _AuthResult(False, "Invalid authorization header: expected 'Bearer <token>'")
        if self._jwks_client is None:
            assert self.static_token is not None
            if hmac.compare_digest(token.encode(), self.static_token.encode()):
                return _AuthResult(True)
            return _AuthResult(False, "Invalid token")
        try:
            signing_key = self._jwks_client.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            return _AuthResult(False, "Token has expired")
        except jwt.PyJWKClientConnectionError as error:
            log.warning("DWDI sandbox: cannot fetch the issuer's JWKS from %s: %s", self.jwks_url, error)
            return _AuthResult(False, "Invalid token: the issuer's signing keys are unavailable")
        except jwt.PyJWTError as error:
            return _AuthResult(False, f"Invalid token: {error}")
        subject = claims.get("sub") or claims.get("client_id") or claims.get("azp")
        return _AuthResult(True, subject=str(subject) if subject is not None else None)

    def _compute(self, path: str, query: Mapping[str, list[str]]) -> list[Any]:
        accounts = set(query["account"]) if "account" in query else None
        clusters = set(query["cluster"]) if "cluster" in query else None
        days: tuple[date, date] | None = None
        if path == DAY_PATH:
            days = _day_range(query)
            months = _months(f"{days[0]:%Y-%m}", f"{days[1]:%Y-%m}")
        else:
            months = _month_range(query)
        compute: list[Any] = []
        for month in months:
            with self._lock:
                override = copy.deepcopy(self._entries.get(month))
            if override is not None:
                compute.extend(
                    entry
                    for entry in override
                    if _keeps(entry, "account", accounts) and _keeps(entry, "cluster", clusters)
                )
            elif self.dataset is not None:
                entries = self.dataset.entries(month, accounts=accounts, clusters=clusters)
                if days is not None:
                    entries = _cut_to_days(entries, *days)
                compute.extend(entries)
        return compute

    # ------------------------------------------------------------------ admin API

    def _handle_admin(self, method: str, path: str, query: dict[str, list[str]], raw_body: bytes) -> _Reply:
        try:
            body = json.loads(raw_body) if raw_body else {}
            return self._admin_route(method, path, query, body)
        except (KeyError, ValueError, TypeError, RuntimeError) as error:
            return _json_reply(400, {"error": f"{type(error).__name__}: {error}"})

    def _admin_route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> _Reply:
        if (method, path) == ("GET", "/sandbox/info"):
            return _json_reply(
                200,
                {
                    "url": self.url,
                    "today": self.today.isoformat(),
                    "accounts": list(self.dataset.accounts) if self.dataset else [],
                    "clusters": list(self.dataset.clusters) if self.dataset else [],
                    "auth": self.auth_mode,
                },
            )
        if (method, path) == ("GET", "/sandbox/expected"):
            totals = self.expected_totals(query["month"][-1], query.get("account"), query.get("cluster"))
            return _json_reply(200, _decimal_strings(totals))
        if (method, path) == ("GET", "/sandbox/requests"):
            with self._lock:
                return _json_reply(200, {"requests": [asdict(request) for request in self.requests]})
        if (method, path) == ("POST", "/sandbox/reset-requests"):
            self.reset_requests()
            return _json_reply(200, {})
        if (method, path) == ("POST", "/sandbox/entries"):
            self.set_entries(body["month"], body["entries"])
            return _json_reply(200, {})
        if (method, path) == ("POST", "/sandbox/fail-next"):
            self.fail_next(
                int(body["status"]),
                count=int(body.get("count", 1)),
                body=str(body.get("body", '{"detail":"injected"}')).encode(),
                headers=body.get("headers"),
            )
            return _json_reply(200, {})
        if (method, path) == ("POST", "/sandbox/reject-next-token"):
            self.reject_next_token(int(body.get("count", 1)))
            return _json_reply(200, {})
        if (method, path) == ("POST", "/sandbox/delay-next"):
            self.delay_next(float(body["seconds"]), int(body.get("count", 1)))
            return _json_reply(200, {})
        return _json_reply(404, {"error": f"no admin endpoint {method} {path}"})


class _RequestHandler(SandboxRequestHandler):
    """All logic lives in ``DWDISandbox._answer_http``."""

    def _serve(self) -> None:
        raw_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply = self.server.sandbox._answer_http(self.command, self.path, self.headers, raw_body)
        if reply.status == 414:
            # Like a front proxy: the rest of such a connection is not trusted.
            self.close_connection = True
        self._write(reply)


def discover_jwks_url(issuer: str, *, timeout_seconds: float = 60.0) -> str:
    """The ``jwks_uri`` of ``issuer``'s discovery document, retried while the issuer starts."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(json.load(response)["jwks_uri"])
        except (OSError, ValueError, KeyError) as error:
            if time.monotonic() >= deadline:
                raise RuntimeError(f"cannot read {url}: {error}") from error
            time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    """Run a DWDI sandbox with a generated dataset until SIGINT/SIGTERM; prints ``READY <url>``."""
    parser = argparse.ArgumentParser(description="DWDI compute API test double (generated usage).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--issuer", default=os.environ.get("SANDBOX_OIDC_ISSUER"), help="expected iss")
    parser.add_argument(
        "--jwks-url",
        default=os.environ.get("SANDBOX_OIDC_JWKS_URL"),
        help="default: from the issuer's discovery",
    )
    parser.add_argument("--audience", default="dwdi-api", help="expected aud ('' = not checked)")
    parser.add_argument("--static-token", default=None, help="without an issuer: the accepted bearer token")
    accounts = parser.add_mutually_exclusive_group()
    accounts.add_argument("--accounts", default=None, help="comma-separated account names")
    accounts.add_argument("--accounts-count", type=int, default=20, help="accounts g001..gNNN (default 20)")
    parser.add_argument("--clusters", default="daint,eiger", help="comma-separated cluster names")
    parser.add_argument("--users-per-account", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--today", type=date.fromisoformat, default=None, help="last day with usage, YYYY-MM-DD"
    )
    parser.add_argument(
        "--total-field", default="totalNodeHours", choices=("totalNodeHours", "accountNodeHours")
    )
    parser.add_argument("--max-url-bytes", type=int, default=8192)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    names = (
        [name.strip() for name in arguments.accounts.split(",") if name.strip()]
        if arguments.accounts
        else [f"g{number:03d}" for number in range(1, arguments.accounts_count + 1)]
    )
    dataset = DwdiDataset(
        accounts=names,
        clusters=[name.strip() for name in arguments.clusters.split(",") if name.strip()],
        users_per_account=arguments.users_per_account,
        seed=arguments.seed,
        today=arguments.today,
        total_field=arguments.total_field,
    )
    jwks_url = arguments.jwks_url
    if jwks_url is None and arguments.issuer:
        jwks_url = discover_jwks_url(arguments.issuer)
    if jwks_url is None and arguments.static_token is None:
        print("WARNING: no --issuer/--jwks-url/--static-token: every request is accepted", file=sys.stderr)
    sandbox = DWDISandbox(
        jwks_url=jwks_url,
        issuer=arguments.issuer,
        audience=arguments.audience or None,
        dataset=dataset,
        host=arguments.host,
        port=arguments.port,
        max_url_bytes=arguments.max_url_bytes,
        today=dataset.today,
        static_token=arguments.static_token,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    with sandbox:
        print(f"READY {sandbox.url}", flush=True)
        stopping.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
