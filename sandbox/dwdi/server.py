"""DWDISandbox: the DWDI API double on loopback (compute, storage and inference endpoints).

Order of checks for ``/api`` requests: request target longer than ``max_url_bytes`` -> 414;
``delay_next`` sleeps; the token is checked (for recording); ``fail_next`` answers (a gateway fault
precedes authentication); an unknown path, or the path of a family switched off with
``set_endpoint_available`` (an older DWDI release), -> 404; another method -> 405;
``reject_next_token`` or an invalid token -> 401; raw response; then the query and the data (a
bad query is 400 ``{"detail": ...}``). Every ``/api`` request is recorded in ``requests``.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox._serving import BackgroundServing, SandboxRequestHandler
from sandbox.dwdi import admin
from sandbox.dwdi import compute as compute_endpoint
from sandbox.dwdi.auth import AuthResult, BearerVerifier, log
from sandbox.dwdi.inference import INFERENCE_PATH, inference_entries
from sandbox.dwdi.inference_data import InferenceDataset
from sandbox.dwdi.query import QueryError
from sandbox.dwdi.replies import Queued, Reply, json_reply, not_found, take, unauthorized
from sandbox.dwdi.storage import STORAGE_PATH, storage_entries
from sandbox.dwdi.storage_data import StorageDataset
from sandbox.dwdi_data import DwdiDataset, parse_month

FAMILIES = ("compute", "storage", "inference")
"""The endpoint families; ``set_endpoint_available(family, False)`` makes one answer 404."""


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


def _family(path: str) -> str | None:
    if path in compute_endpoint.PATHS:
        return "compute"
    return {STORAGE_PATH: "storage", INFERENCE_PATH: "inference"}.get(path)


class DWDISandbox(BackgroundServing):
    """The DWDI API on loopback; see the module docstring and :mod:`sandbox.dwdi` for its behaviour.

    The socket is bound on construction (``url`` is known at once, ``port=0`` lets the OS pick);
    :meth:`start` serves it from a daemon thread. State is guarded by one lock, so tests may
    configure faults while a client is calling. ``storage`` and ``inference`` are the datasets of
    those endpoints (None: they answer empty lists); bad values are injected on the datasets.
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
        storage: StorageDataset | None = None,
        inference: InferenceDataset | None = None,
        unavailable_endpoints: Collection[str] = (),
    ) -> None:
        self.verifier = BearerVerifier(
            jwks_url=jwks_url, issuer=issuer, audience=audience, static_token=static_token
        )
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.dataset = dataset
        self.storage = storage
        self.inference = inference
        self.max_url_bytes = max_url_bytes
        self.today: date = today or (dataset.today if dataset else datetime.now(UTC).date())
        self.static_token = static_token
        self.requests: list[RecordedRequest] = []
        self._entries: dict[str, list[dict[str, Any]]] = {}
        self._faults: list[Queued] = []
        self._delays: list[Queued] = []
        self._raw_responses: list[Queued] = []
        self._rejections = 0
        self._unavailable: set[str] = set()
        self._lock = threading.RLock()
        for family in unavailable_endpoints:
            self.set_endpoint_available(family, False)
        self.bind(host, port, _RequestHandler)

    @classmethod
    def for_dataset(
        cls,
        dataset: DwdiDataset,
        *,
        storage: StorageDataset,
        inference: InferenceDataset,
        jwks_url: str | None,
        issuer: str | None,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Any,
    ) -> DWDISandbox:
        """The sandbox of one generated day: the compute ``dataset`` and the storage and inference
        datasets, all dated on the dataset's ``today`` (the sandbox's own day).

        :param options: the other constructor arguments (``audience``, ``static_token``,
            ``max_url_bytes``, ``unavailable_endpoints``).
        :raises ValueError: a dataset dated on another day (its months would end elsewhere).
        """
        for name, other in (("storage", storage.today), ("inference", inference.today)):
            if other != dataset.today:
                raise ValueError(
                    f"the {name} dataset ends on {other}, the compute dataset on {dataset.today}"
                )
        return cls(
            jwks_url=jwks_url,
            issuer=issuer,
            dataset=dataset,
            host=host,
            port=port,
            today=dataset.today,
            storage=storage,
            inference=inference,
            **options,
        )

    # ------------------------------------------------------------------ lifecycle: start, stop and `with` come from BackgroundServing

    def __repr__(self) -> str:
        return f"DWDISandbox(url={self.url!r}, auth={self.auth_mode!r})"

    @property
    def auth_mode(self) -> str:
        """``"jwt"``, ``"static"`` or ``"none"``."""
        return self.verifier.mode

    # ------------------------------------------------------------------ data and faults

    def set_entries(self, month: str, entries: list[dict[str, Any]] | None) -> None:
        """Serve compute ``entries`` (raw, JSON-serialisable) for ``month`` instead of the
        dataset's; None goes back to the dataset."""
        parse_month(month)
        with self._lock:
            if entries is None:
                self._entries.pop(month, None)
            else:
                self._entries[month] = copy.deepcopy(entries)

    def set_endpoint_available(self, family: str, available: bool) -> None:
        """Switch an endpoint family (``compute``, ``storage``, ``inference``) off (404 on its
        paths, like a DWDI release without it) or back on."""
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
        with self._lock:
            if available:
                self._unavailable.discard(family)
            else:
                self._unavailable.add(family)

    def set_raw_response(self, body: bytes, content_type: str, status: int = 200, *, count: int = 1) -> None:
        """Answer the next ``count`` authorised usage calls (any family) with exactly ``body``."""
        with self._lock:
            self._raw_responses.append(Queued(count, Reply(status, body, content_type)))

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
        reply = Reply(status, body, content_type, tuple((headers or {}).items()))
        with self._lock:
            self._faults.append(Queued(count, reply))

    def reject_next_token(self, count: int = 1) -> None:
        """Answer the next ``count`` requests that carry a bearer token 401, even a valid token
        (a revoked token: the client has to fetch a new one)."""
        with self._lock:
            self._rejections += count

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """Sleep ``seconds`` before answering each of the next ``count`` ``/api`` requests."""
        with self._lock:
            self._delays.append(Queued(count, seconds=seconds))

    def reset_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()

    def recorded_requests(self) -> list[dict[str, Any]]:
        """The recorded ``/api`` requests as JSON-ready mappings, oldest first."""
        with self._lock:
            return [asdict(request) for request in self.requests]

    def unavailable_endpoints(self) -> list[str]:
        """The endpoint families switched off with :meth:`set_endpoint_available`, sorted."""
        with self._lock:
            return sorted(self._unavailable)

    def expected_totals(
        self, month: str, accounts: Collection[str] | None = None, clusters: Collection[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """The dataset's exact compute totals for ``month`` (see :meth:`DwdiDataset.expected_totals`)."""
        if self.dataset is None:
            raise RuntimeError("this sandbox has no dataset")
        return self.dataset.expected_totals(month, accounts=accounts, clusters=clusters)

    # ------------------------------------------------------------------ request handling

    def _answer_http(self, method: str, target: str, headers: Mapping[str, str], raw_body: bytes) -> Reply:
        """Answer one HTTP request (called by a handler thread)."""
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True)
        if split.path.startswith("/sandbox/"):
            return admin.handle(self, method, split.path, query, raw_body)
        # http.server decodes the request line as latin-1: one character per byte.
        url_length = len(target)
        auth = AuthResult(False)
        try:
            if url_length > self.max_url_bytes:
                reply = json_reply(414, {"detail": f"Request-URI longer than {self.max_url_bytes} bytes"})
            else:
                reply, auth = self._handle_api(method, split.path, query, headers)
        except Exception as error:
            # A sandbox bug must surface as a 500 naming it, not as a dropped connection that a
            # client would retry as a transient network failure.
            log.exception("DWDI sandbox error")
            reply = json_reply(500, {"detail": f"DWDI sandbox error: {type(error).__name__}: {error}"})
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
    ) -> tuple[Reply, AuthResult]:
        with self._lock:
            delay = take(self._delays)
        if delay is not None:
            time.sleep(delay.seconds)
        authorization = headers.get("Authorization")
        auth = self.verifier.authenticate(authorization)
        with self._lock:
            fault = take(self._faults)
            family = _family(path)
            switched_off = family in self._unavailable
        if fault is not None and fault.reply is not None:
            return fault.reply, auth
        if family is None or switched_off:
            return not_found(), auth
        if method != "GET":
            return json_reply(405, {"detail": "Method Not Allowed"}, (("Allow", "GET"),)), auth
        if authorization and authorization.lower().startswith("bearer "):
            with self._lock:
                rejected = self._rejections > 0
                if rejected:
                    self._rejections -= 1
            if rejected:
                return unauthorized("Token has been revoked (injected)"), AuthResult(False)
        if not auth.ok:
            return unauthorized(auth.detail), auth
        with self._lock:
            raw = take(self._raw_responses)
        if raw is not None and raw.reply is not None:
            return raw.reply, auth
        try:
            if family == "storage":
                return json_reply(200, {"storage": storage_entries(query, self.storage)}), auth
            if family == "inference":
                return json_reply(200, {"inference": inference_entries(query, self.inference)}), auth
            compute = compute_endpoint.compute_entries(path, query, self.dataset, self._explicit_entries)
        except QueryError as error:
            return json_reply(400, {"detail": str(error)}), auth
        return json_reply(200, {"compute": compute}), auth

    def _explicit_entries(self, month: str) -> list[Any] | None:
        with self._lock:
            return copy.deepcopy(self._entries.get(month))


class _RequestHandler(SandboxRequestHandler):
    """All logic lives in ``DWDISandbox._answer_http``."""

    def _serve(self) -> None:
        raw_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply = self.server.sandbox._answer_http(self.command, self.path, self.headers, raw_body)
        if reply.status == 414:
            # Like a front proxy: the rest of such a connection is not trusted.
            self.close_connection = True
        self._write(reply)
