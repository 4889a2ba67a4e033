"""The Waldur double as an HTTP server: lifecycle, seeding, fault injection and inspection.

One request goes: admin API (``/sandbox/...``) or latency -> schema check -> fault -> router ->
handler, then it is recorded. See :mod:`sandbox.waldur` for the behaviour as a whole.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox._serving import BackgroundServing, SandboxRequestHandler
from sandbox.waldur.admin import handle_admin
from sandbox.waldur.api import Context
from sandbox.waldur.recording import Fault, Hold, RecordedRequest, fault_reply, recorded_json
from sandbox.waldur.replies import ApiError, Reply, json_reply
from sandbox.waldur.routing import Router
from sandbox.waldur.schema import waldur_api_checker
from sandbox.waldur.serialisers import Serialisers
from sandbox.waldur.state import (
    RESOURCE_STATES,
    Offering,
    OfferingUser,
    Resource,
    WaldurState,
    new_uuid,
    parse_components,
)


class WaldurSandbox(BackgroundServing):
    """An in-memory Waldur server on loopback; see :mod:`sandbox.waldur` for its behaviour.

    The socket is bound on construction (so ``url`` is known at once); :meth:`start` serves it
    from a daemon thread. All state lives in memory and is guarded by one lock.

    :param version: ``"8"`` or ``"7"`` (see the package docstring for what differs).
    :param latency_seconds: slept before every ``/api`` answer (benchmarks, timeouts).
    :param validate: check every ``/api`` request against the OpenAPI subset.
    :param today: the server's date (default: the real one); settable later as ``today``.
    :param staff_token: a fixed staff token (docker-compose); default random.
    :param time_zone: the server's ``TIME_ZONE`` (IANA name); default None = UTC, see
        :class:`~sandbox.waldur.state.WaldurState`.
    :param advertised_url: ``scheme://host[:port]`` the server builds absolute URLs from (``Link``
        headers and hyperlinks in bodies) instead of its own ``url``, like Django behind a
        TLS-terminating proxy (``http://`` links for ``https://`` clients, or an internal host).
    :param listing_seed: seeds the order of tied rows in the usage listings (each page request
        gets a new one, as on the real server).
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
        time_zone: str | None = None,
        advertised_url: str | None = None,
        listing_seed: int = 0,
    ) -> None:
        self._state = WaldurState(
            version=version,
            today=today or date.today(),
            staff_token=staff_token,
            time_zone=time_zone,
            listing_seed=listing_seed,
        )
        if advertised_url is not None and not all(urlsplit(advertised_url)[:2]):
            raise ValueError(f"advertised_url needs a scheme and a host, got {advertised_url!r}")
        self.latency_seconds = latency_seconds
        self.validate = validate
        self.staff_token = self._state.staff_token
        self.provider_token = self._state.provider_token
        self.requests: list[RecordedRequest] = []
        self.schema_violations: list[str] = []
        self._faults: list[Fault] = []
        self._holds: list[Hold] = []
        self._lock = self._state.lock
        self._checker = waldur_api_checker()
        self.bind(host, port, _RequestHandler)
        self._serialise = Serialisers(self._state, (advertised_url or self.url).rstrip("/"))
        self._router = Router(Context(self._state, self._serialise))

    # ------------------------------------------------------------------ lifecycle: start, stop and `with` come from BackgroundServing

    def __repr__(self) -> str:
        # Tokens stay out of reprs (they end up in test reports).
        return f"WaldurSandbox(url={self.url!r}, version={self.version!r})"

    @property
    def version(self) -> str:
        """``"7"`` or ``"8"``."""
        return self._state.version

    @property
    def today(self) -> date:
        """The server's date: the current month of 7.x writes and of the backfill rule."""
        return self._state.today

    @today.setter
    def today(self, value: date) -> None:
        self._state.today = value

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
        parsed = parse_components(components)
        fixed_uuid = uuid.UUID(offering_uuid).hex if offering_uuid else None
        offering = Offering(
            uuid=fixed_uuid or new_uuid(), name=name, backend_id=backend_id, components=parsed
        )
        self._state.add_offering(offering)
        return offering.uuid

    def add_resource(
        self, offering_uuid: str, backend_id: str, *, name: str | None = None, state: str = "OK"
    ) -> str:
        """Create a resource of an offering; returns its uuid."""
        if state not in RESOURCE_STATES:
            raise ValueError(f"state must be one of {RESOURCE_STATES}, got {state!r}")
        resource = Resource(
            uuid=new_uuid(),
            offering_uuid=self._state.offering(offering_uuid).uuid,
            backend_id=backend_id,
            name=name if name is not None else f"Allocation {backend_id}",
            state=state,
            created=self._state.now(),
        )
        self._state.add_resource(resource)
        return resource.uuid

    def add_offering_user(self, offering_uuid: str, username: str) -> str:
        """Create an offering user (an HPC login of the offering); returns its API url."""
        offering_user = OfferingUser(
            uuid=new_uuid(),
            offering_uuid=self._state.offering(offering_uuid).uuid,
            username=username,
            user_uuid=new_uuid(),
            created=self._state.now(),
        )
        self._state.add_offering_user(offering_user)
        return self._serialise.offering_user_url(offering_user.uuid)

    def expire_token(self, token: str) -> None:
        """From now on ``token`` is answered 401 "Token has expired."."""
        self._state.expire_token(token)

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
        reply = fault_reply(status, body, headers)
        with self._lock:
            self._faults.append(Fault(method.upper(), re.compile(path_regex), reply, times, after_processing))

    def hold(self, method: str, path_regex: str, *, timeout: float = 300.0) -> Hold:
        """Hold every request whose method and path (``re.search``) match until the returned
        :class:`Hold` is released (or ``timeout`` seconds pass): a window to kill the client mid-write.
        ``hold.arrived`` is set when the first request is held."""
        hold = Hold(method.upper(), re.compile(path_regex), timeout, threading.Event(), threading.Event())
        with self._lock:
            self._holds.append(hold)
        return hold

    # ------------------------------------------------------------------ inspection

    def reset_requests(self) -> None:
        """Forget the recorded requests and schema violations."""
        with self._lock:
            self.requests.clear()
            self.schema_violations.clear()

    def request_counts(self) -> Counter[str]:
        """How many ``/api`` requests each endpoint received (see :attr:`RecordedRequest.endpoint`),
        e.g. ``counts["POST /api/marketplace-component-usages/{uuid}/set_user_usages/"]``; a
        request answered 404 because the endpoint does not exist is counted too."""
        with self._lock:
            return Counter(request.endpoint for request in self.requests)

    def usage(self, resource_uuid: str, component_type: str, billing_period: str) -> Decimal | None:
        """The stored total of a (resource, component, ``YYYY-MM-01``) or None when never written."""
        return self._state.usage(resource_uuid, component_type, billing_period)

    def user_usages(self, resource_uuid: str, component_type: str, billing_period: str) -> dict[str, Decimal]:
        """The stored per-username usages of a (resource, component, ``YYYY-MM-01``)."""
        return self._state.usages_by_username(resource_uuid, component_type, billing_period)

    def state_dump(self) -> dict[str, Any]:
        """Every offering, resource, offering user, component usage and user usage, as plain data."""
        return self._state.dump()

    # ------------------------------------------------------------------ request handling

    def _answer_http(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], raw_body: bytes
    ) -> Reply:
        """Answer one HTTP request (called by the HTTP handler thread)."""
        if path.startswith("/sandbox/"):
            return handle_admin(self, method, path, query, raw_body)
        with self._lock:
            hold = next((hold for hold in self._holds if hold.matches(method, path)), None)
        if hold is not None:
            hold.wait()
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        reply = self._handle_api(method, path, query, headers, raw_body)
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, recorded_json(raw_body), reply.status))
        return reply

    def _handle_api(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], raw_body: bytes
    ) -> Reply:
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
            reply = self._router.dispatch(method, path, query, headers, raw_body, problems)
        except ApiError as error:
            reply = error.reply
        except Exception as error:
            # A sandbox bug must surface as a 500 naming it, not as a dropped connection that a
            # client would retry as a transient network failure.
            reply = json_reply(500, {"detail": f"Waldur sandbox error: {type(error).__name__}: {error}"})
        return fault.reply if fault is not None else reply

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
        return None


class _RequestHandler(SandboxRequestHandler):
    """All logic lives in ``WaldurSandbox._answer_http``."""

    def _serve(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._write(json_reply(411, {"detail": "Send a Content-Length."}))
            return
        raw_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = urlsplit(self.path)
        query = parse_qs(target.query, keep_blank_values=True)
        self._write(
            self.server.sandbox._answer_http(self.command, target.path, query, self.headers, raw_body)
        )
