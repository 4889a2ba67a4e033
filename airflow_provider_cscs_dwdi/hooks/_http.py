"""One retry loop for every HTTP call this provider makes (DWDI, OIDC issuer, Waldur), and the
session-owning hook base (:class:`SessionHook`) both hooks stand on.

Both APIs bill money, so the rules are deliberately narrow: only failures that cannot have changed
anything on the server side, or that the server asks us to repeat, are retried (connection errors,
timeouts, 429 and 502/503/504). Every other answer goes back to the caller, which knows whether a
401 deserves a fresh token or a 4xx must be reported. Attempts and total time are both bounded so a
stuck API cannot hold a worker slot forever.

The connection-level transport comes from apache-airflow-providers-http: :func:`keep_alive_adapter`
is the TCP keep-alive adapter ``HttpHook`` mounts on its sessions, with ``HttpHook``'s settings.
``HttpHook`` itself is not the base of the hooks (it sends connection extras as headers and the
login as Basic auth, builds a session per call and retries on its own rules).
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

import requests
from airflow.sdk import BaseHook
from requests.adapters import HTTPAdapter
from requests.compat import json as requests_json
from requests.cookies import RequestsCookieJar
from requests.exceptions import InvalidJSONError
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity

from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError
from airflow_provider_cscs_dwdi.core.logs import Log

if TYPE_CHECKING:
    from airflow.sdk import Connection

DEFAULT_RETRY_STATUSES = frozenset({429, 502, 503, 504})


class TransientHTTPError(CscsDwdiError):
    """Retries ran out on connection errors or on answers the server asked us to repeat."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry transient failures.

    The delay before retry ``n`` (0-based) is ``min(backoff_cap, backoff_base * 2**n)`` scaled by a
    random factor in [0.5, 1.0] ("equal jitter"), so many workers retrying at once spread out. A
    ``Retry-After`` header replaces the computed delay. No retry starts if it would end after
    ``max_total_seconds`` from the first attempt.
    """

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_total_seconds: float = 120.0
    retry_statuses: frozenset[int] = field(default_factory=lambda: DEFAULT_RETRY_STATUSES)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_base < 0 or self.backoff_cap < 0 or self.max_total_seconds < 0:
            raise ValueError("backoff and time bounds must not be negative")

    def backoff(self, retry_number: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry ``retry_number`` (0-based) when the server gave no hint."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2.0**retry_number))
        return ceiling * (0.5 + rng() / 2)


def keep_alive_adapter() -> HTTPAdapter:
    """The adapter ``HttpHook`` of apache-airflow-providers-http mounts for TCP keep-alive.

    Built by ``HttpHook`` itself, so its probe settings (idle time, count, interval) are the ones
    the HTTP provider ships, not a copy of them. Firewalls and NAT gateways drop a connection that
    stays silent for minutes, as one waiting for a large DWDI month query does, unless the kernel
    sends keep-alive probes on it.
    """
    # Imported here: parsing a DAG file imports the hooks but never opens a session, and the HTTP
    # provider's module pulls in aiohttp and tenacity.
    from airflow.providers.http.hooks.http import HttpHook

    adapter: HTTPAdapter | None = HttpHook(method="GET", tcp_keep_alive=True).keep_alive_adapter
    if adapter is None:  # only when tcp_keep_alive is off or an adapter is passed in
        raise RuntimeError("HttpHook built no keep-alive adapter")
    return adapter


class LeanSession(requests.Session):
    """A ``requests.Session`` whose plain calls skip the generic request-merging pipeline.

    ``Session.request`` merges session and request settings through ``Mapping`` and runtime
    ``Protocol`` checks, a cookie policy and the environment: about a third of the client CPU of
    a small JSON request. For the calls the hooks make (a URL, query ``params``, a ``json`` body,
    a ``timeout``) on a session with no cookies, auth, params or hooks of its own and with
    ``trust_env`` off, the prepared request is built directly here, header for header and byte
    for byte what ``Session.request`` would send. Any other call, or such a session, goes the
    ordinary way.
    """

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        params: Any = None,
        json: Any = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request (the ordinary ``Session.request`` for anything beyond the plain calls)."""
        if kwargs or not self._is_plain():
            return super().request(method, url, params=params, json=json, timeout=timeout, **kwargs)
        prepared = requests.PreparedRequest()
        prepared.method = method.upper()
        prepared.prepare_url(url, params)
        if "@" in (prepared.url or "").split("/")[2]:
            # Credentials in the URL become Basic auth in prepare_auth: the ordinary way handles it.
            return super().request(method, url, params=params, json=json, timeout=timeout)
        for header in self.headers.items():
            check_header_validity(header)
        prepared.headers = CaseInsensitiveDict(self.headers)
        prepared._cookies = RequestsCookieJar()  # the session's jar is empty: no Cookie header
        prepared.body = None
        if json is not None:
            try:
                text = requests_json.dumps(json, allow_nan=False)
            except ValueError as error:
                raise InvalidJSONError(error, request=prepared) from error
            prepared.body = text if isinstance(text, bytes) else text.encode("utf-8")
            prepared.headers["Content-Length"] = str(len(prepared.body))
            prepared.headers.setdefault("Content-Type", "application/json")
        elif prepared.method not in ("GET", "HEAD") and prepared.headers.get("Content-Length") is None:
            prepared.headers["Content-Length"] = "0"
        prepared.hooks = default_hooks()
        return self.send(
            prepared,
            timeout=timeout,
            allow_redirects=True,
            proxies={scheme: proxy for scheme, proxy in self.proxies.items() if proxy is not None},
            stream=self.stream,
            verify=self.verify,
            cert=self.cert,
        )

    def _is_plain(self) -> bool:
        return (
            not self.trust_env
            and self.auth is None
            and not self.params
            and not any(self.hooks.values())
            and len(self.cookies) == 0
            and all(value is not None for value in self.headers.values())
        )


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header (delay in seconds or an HTTP date); None if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def send_with_retries(
    session: requests.Session,
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    log: Log,
    describe: str,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    **request_kwargs: Any,
) -> requests.Response:
    """Send one request, retrying transient failures according to ``policy``.

    Returns the first response whose status is not retryable (the caller judges it). Raises
    :class:`TransientHTTPError` when attempts or time run out. ``describe`` names the call in logs
    and errors (for example ``"DWDI compute usage 2026-11 (part 2/4)"``); URLs, headers and bodies
    are never logged because they can carry credentials.
    """
    started = clock()
    last_problem = ""
    last_status: int | None = None
    for attempt in range(policy.max_attempts):
        try:
            response = session.request(method, url, **request_kwargs)
        except (requests.ConnectionError, requests.Timeout) as error:
            last_problem = f"{type(error).__name__}"
            last_status = None
            server_hint = None
        else:
            if response.status_code not in policy.retry_statuses:
                return response
            last_status = response.status_code
            last_problem = f"HTTP {response.status_code}"
            server_hint = retry_after_seconds(response.headers.get("Retry-After"))
            response.close()

        if attempt + 1 >= policy.max_attempts:
            break
        delay = server_hint if server_hint is not None else policy.backoff(attempt)
        elapsed = clock() - started
        if elapsed + delay > policy.max_total_seconds:
            log.warning(
                "%s: %s; not retrying, waiting %.1fs would exceed the %.0fs time bound",
                describe,
                last_problem,
                delay,
                policy.max_total_seconds,
            )
            break
        log.warning(
            "%s: %s; retry %d/%d in %.2fs",
            describe,
            last_problem,
            attempt + 1,
            policy.max_attempts - 1,
            delay,
        )
        sleep(delay)

    raise TransientHTTPError(
        f"{describe} failed after {attempt + 1} attempt(s) in {clock() - started:.1f}s: {last_problem}",
        status=last_status,
    )


class ConnectionSettings(Protocol):
    """What :class:`SessionHook` needs of a hook's validated connection."""

    @property
    def timeout_seconds(self) -> float:
        """Seconds one request may take (the ``timeout`` of every request of the hook)."""
        ...


SettingsT = TypeVar("SettingsT", bound=ConnectionSettings)


class SessionHook(BaseHook, Generic[SettingsT]):
    """A hook that owns one pooled :class:`requests.Session` and sends through :func:`send_with_retries`.

    What the DWDI and Waldur hooks share: the retry policy and the sleep between retries, the
    connection read and validated once (:meth:`_read_settings`, under the id named by the hook's
    ``conn_name_attr``), one session built on first use (:meth:`_new_session`) and shared by every
    thread of the hook (hence the lock), ``close`` and the context-manager form that calls it, and
    ``_send``: one request with the connection's timeout and the policy's retries.

    :param retry_policy: how transient failures are retried.
    :param sleep: the sleep between retries (tests make it instant or record it).
    :param logger_name: the hook's logger (``airflow.task.hooks.<logger_name>``).
    """

    #: The attribute holding the connection id (Airflow's hook convention, set by each hook).
    conn_name_attr: str

    def __init__(
        self,
        *,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        logger_name: str | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.retry_policy = retry_policy or RetryPolicy()
        self._sleep = sleep
        self._settings: SettingsT | None = None
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    def _read_settings(self, connection: Connection) -> SettingsT:
        """The hook's settings from its Airflow connection; masks the secrets it finds."""

    @abstractmethod
    def _new_session(self, settings: SettingsT) -> requests.Session:
        """A session for these settings (adapters, TLS, proxies, default headers)."""

    @property
    def settings(self) -> SettingsT:
        """The validated connection (read once)."""
        if self._settings is None:
            self._settings = self._read_settings(self.get_connection(getattr(self, self.conn_name_attr)))
        return self._settings

    @property
    def session(self) -> requests.Session:
        """The hook's pooled session, built on first use."""
        with self._session_lock:
            if self._session is None:
                self._session = self._new_session(self.settings)
            return self._session

    def close(self) -> None:
        """Release the pooled connections (a later request opens a new session)."""
        with self._session_lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def _send(
        self,
        method: str,
        url: str,
        *,
        describe: str,
        policy: RetryPolicy | None = None,
        **request_kwargs: Any,
    ) -> requests.Response:
        """One request with the connection's timeout, retried by ``policy`` (default the hook's).

        The final answer goes through :meth:`_checked` (a hook may refuse one at once, e.g. a 401).
        """
        response = send_with_retries(
            self.session,
            method,
            url,
            policy=policy or self.retry_policy,
            log=self.log,
            describe=describe,
            sleep=self._sleep,
            timeout=self.settings.timeout_seconds,
            **{**request_kwargs, **self._request_options()},
        )
        return self._checked(response, describe)

    def _request_options(self) -> dict[str, Any]:
        """Keyword arguments every request of the hook carries (none by default)."""
        return {}

    def _checked(self, response: requests.Response, describe: str) -> requests.Response:
        """The final answer of a request, or an error raised for it (none by default)."""
        return response
