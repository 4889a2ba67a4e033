"""DWDIHook: OAuth2 client credentials against an OIDC issuer, then the DWDI compute usage API.

Why not ``HttpHook``: it sends every unknown connection extra as an HTTP header and the login /
password as Basic auth, builds a new session per call and has its own retry rules (airflow-3.md).
This hook owns one pooled :class:`requests.Session` for the issuer and the API (the proxy and TLS
settings apply to both) and sends every request through :func:`send_with_retries`.

Tokens are cached: one token serves every call until shortly before it expires (see
:func:`renewal_delay`), a lock makes concurrent callers share one token request, and a 401 from the
API drops the cached token and retries once with a fresh one (a token revoked or expired early).

Account lists are split so that no request URL exceeds :data:`MAX_URL_BYTES`: the real encoded URL
is measured, so long or non-ASCII account names are accounted for exactly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret
from requests_toolbelt.adapters.socket_options import TCPKeepAliveAdapter

from airflow_provider_cscs_dwdi import __version__
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError, CscsDwdiError
from airflow_provider_cscs_dwdi.get_provider_info import DEFAULT_COMPUTE_USAGE_PATH
from airflow_provider_cscs_dwdi.hooks._extras import flag_extra, http_base_url, seconds_extra
from airflow_provider_cscs_dwdi.hooks._http import RetryPolicy, TransientHTTPError, send_with_retries

MAX_URL_BYTES = 8192
# HttpHook's keep-alive defaults (seconds idle before probing, probes, seconds between probes).
TCP_KEEP_ALIVE_IDLE = 120
TCP_KEEP_ALIVE_COUNT = 20
TCP_KEEP_ALIVE_INTERVAL = 30
"""Longest request URL the hook sends (common server and proxy limit for the request line)."""

DEFAULT_SCOPE = "openid"
DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_TOKEN_LIFETIME = 300.0
"""Assumed lifetime (seconds) of a token whose response has no usable ``expires_in``."""

RENEW_BEFORE_EXPIRY = 300.0
"""A token is renewed this many seconds before it expires ...."""
SHORT_LIVED_THRESHOLD = 600.0
"""... unless it lives less than this; then it is renewed at half its lifetime."""

CONNECTION_TEST_ACCOUNT = "__connection_test__"
"""Account name of the connection test query: it matches no real account, so the answer is tiny."""

BODY_EXCERPT_BYTES = 200
BAD_CREDENTIAL_ERRORS = frozenset({"invalid_client", "unauthorized_client"})
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
_DATE_OR_MONTH = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")
_REDACTED = "***"


# ---------------------------------------------------------------------------------------- errors


class DWDIError(CscsDwdiError):
    """Base class of the errors DWDIHook raises on purpose."""


class DWDIConfigurationError(ConfigurationError, DWDIError):
    """The ``cscs_dwdi`` connection is incomplete or wrong; the message names the field."""


class DWDITokenError(DWDIError):
    """No access token could be obtained from the OIDC issuer."""


class DWDIAuthenticationError(DWDITokenError):
    """The issuer (bad client id / secret) or the API (token refused twice) rejected our credentials.

    Not retried: the same credentials would be rejected again.
    """


class DWDIIssuerUnreachableError(DWDITokenError):
    """The OIDC issuer could not be reached, or kept answering 5xx, within the retry policy."""


class DWDIAPIError(DWDIError):
    """The DWDI API answered with a final error status (or not at all, after retries).

    ``status`` is the HTTP status (None when no answer came), ``excerpt`` the first 200 bytes of the
    body (decoded, secrets redacted).
    """

    def __init__(self, message: str, *, status: int | None = None, excerpt: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.excerpt = excerpt


class DWDIResponseError(DWDIAPIError):
    """A 200 answer whose body is not JSON or not the documented ``{"compute": [...]}`` shape."""

    def __init__(self, message: str, *, status: int | None, content_type: str, excerpt: str) -> None:
        super().__init__(message, status=status, excerpt=excerpt)
        self.content_type = content_type


# ---------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class DWDISettings:
    """The ``cscs_dwdi`` connection, validated."""

    api_url: str  # scheme://host[:port][/prefix], no trailing slash
    client_id: str
    client_secret: str
    token_url: str
    scope: str
    compute_usage_path: str  # starts with "/"
    timeout_seconds: float
    verify: bool | str  # requests' ``verify``: False, True or a CA bundle path
    proxy_url: str | None

    def __repr__(self) -> str:
        # The client secret (and a proxy password) must never reach a log or traceback via repr.
        return (
            f"DWDISettings(api_url={self.api_url!r}, client_id={self.client_id!r}, "
            f"token_url={self.token_url!r}, scope={self.scope!r}, "
            f"compute_usage_path={self.compute_usage_path!r}, timeout_seconds={self.timeout_seconds}, "
            f"verify={self.verify!r}, proxy_url={display_url(self.proxy_url) if self.proxy_url else None!r})"
        )

    @property
    def compute_usage_url(self) -> str:
        """Absolute URL of the compute usage endpoint (no query)."""
        return f"{self.api_url}{self.compute_usage_path}"


def display_url(url: str) -> str:
    """``url`` without user info (``user:password@``), safe for logs and messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=f"{_REDACTED}@{netloc}"))


def _text_extra(extra: Mapping[str, Any], name: str) -> str | None:
    """A string extra; an absent or empty form field (None, "", blanks) means "not set"."""
    value = extra.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DWDIConfigurationError(f"DWDI connection extra {name!r} must be a string, got {value!r}")
    return value.strip() or None


def _http_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DWDIConfigurationError(f"DWDI connection: {what} must be an http(s) URL, got {value!r}")
    return value


def _api_base_url(host: str, port: int | None) -> str:
    scheme, netloc, path = http_base_url(
        host, port, what="DWDI API URL", where="DWDI connection", error=DWDIConfigurationError
    )
    return urlunsplit((scheme, netloc, path, "", ""))


def _verify(extra: Mapping[str, Any]) -> bool | str:
    if not flag_extra(extra, "verify_tls", True, where="DWDI connection", error=DWDIConfigurationError):
        return False
    ca_bundle = _text_extra(extra, "ca_bundle_path")
    if ca_bundle is None:
        return True
    if not os.path.exists(ca_bundle):
        raise DWDIConfigurationError(
            f"DWDI connection extra 'ca_bundle_path': {ca_bundle!r} does not exist on this worker"
        )
    return ca_bundle


def _proxy(extra: Mapping[str, Any]) -> str | None:
    proxy = _text_extra(extra, "proxy_url")
    if proxy is None:
        return None
    parts = urlsplit(proxy)
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
        raise DWDIConfigurationError(
            f"DWDI connection extra 'proxy_url' must be a {', '.join(s + '://' for s in PROXY_SCHEMES)} URL, "
            f"got {display_url(proxy)!r}"
        )
    return proxy


def parse_settings(
    host: str | None,
    port: int | None,
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any],
) -> DWDISettings:
    """Validate a ``cscs_dwdi`` connection; raises DWDIConfigurationError naming the bad field."""
    if not host or not host.strip():
        raise DWDIConfigurationError("DWDI connection: the host (DWDI API URL) is missing")
    if not login or not login.strip():
        raise DWDIConfigurationError("DWDI connection: the login (OIDC client ID) is missing")
    if not password:
        raise DWDIConfigurationError("DWDI connection: the password (OIDC client secret) is missing")
    token_url = _text_extra(extra, "oidc_endpoint_url")
    if token_url is None:
        raise DWDIConfigurationError(
            "DWDI connection: the extra 'oidc_endpoint_url' (OIDC token endpoint URL) is missing"
        )
    path = _text_extra(extra, "compute_usage_path") or DEFAULT_COMPUTE_USAGE_PATH
    if "?" in path or "#" in path or "://" in path:
        raise DWDIConfigurationError(
            f"DWDI connection extra 'compute_usage_path' must be a plain path, got {path!r}"
        )
    return DWDISettings(
        api_url=_api_base_url(host, port),
        client_id=login.strip(),
        client_secret=password,
        token_url=_http_url(token_url, "the extra 'oidc_endpoint_url'"),
        scope=_text_extra(extra, "oidc_scope") or DEFAULT_SCOPE,
        compute_usage_path="/" + path.lstrip("/"),
        timeout_seconds=seconds_extra(
            extra,
            "timeout_seconds",
            DEFAULT_TIMEOUT_SECONDS,
            where="DWDI connection",
            error=DWDIConfigurationError,
        ),
        verify=_verify(extra),
        proxy_url=_proxy(extra),
    )


# ---------------------------------------------------------------------------------------- helpers


def renewal_delay(lifetime: float) -> float:
    """Seconds a token of ``lifetime`` seconds is reused before a new one is requested.

    Renew 5 minutes before expiry (clock skew, slow requests and long pages all fit in that
    margin); a token living under 10 minutes would get no or almost no use that way, so it is
    renewed at half its lifetime instead (300 s -> 150 s, 2 s -> 1 s).
    """
    lifetime = max(0.0, lifetime)
    if lifetime < SHORT_LIVED_THRESHOLD:
        return lifetime / 2
    return lifetime - RENEW_BEFORE_EXPIRY


def _token_lifetime(value: Any) -> float:
    """``expires_in`` as seconds; missing or unusable -> the documented default (300 s)."""
    if isinstance(value, bool) or value is None:
        return DEFAULT_TOKEN_LIFETIME
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_TOKEN_LIFETIME
    return seconds if seconds == seconds and seconds != float("inf") else DEFAULT_TOKEN_LIFETIME


def compute_usage_url(
    endpoint: str,
    month_from: str,
    month_to: str,
    accounts: Sequence[str] | None = None,
    clusters: Sequence[str] | None = None,
) -> str:
    """The full request URL: ``from``, ``to``, then repeated ``cluster`` and ``account`` keys."""
    query: list[tuple[str, str]] = [("from", month_from), ("to", month_to)]
    query += [("cluster", cluster) for cluster in clusters or ()]
    query += [("account", account) for account in accounts or ()]
    return f"{endpoint}?{urlencode(query)}"


def split_accounts(
    endpoint: str,
    month_from: str,
    month_to: str,
    accounts: Sequence[str],
    clusters: Sequence[str] | None = None,
    *,
    max_url_bytes: int = MAX_URL_BYTES,
) -> list[list[str]]:
    """Split ``accounts`` greedily, in order, into batches whose request URL fits ``max_url_bytes``.

    The length is that of the URL actually sent (``compute_usage_url``; the encoding is ASCII so
    characters are bytes). An account that cannot fit even alone is a configuration error.
    """
    base = len(compute_usage_url(endpoint, month_from, month_to, None, clusters))
    batches: list[list[str]] = []
    current: list[str] = []
    length = base
    for account in accounts:
        # Every account adds "&account=<encoded>" (from/to always come first).
        cost = 1 + len(urlencode([("account", account)]))
        if base + cost > max_url_bytes:
            raise DWDIConfigurationError(
                f"account {account[:80]!r} alone makes the DWDI request URL longer than {max_url_bytes} bytes"
            )
        if current and length + cost > max_url_bytes:
            batches.append(current)
            current, length = [], base
        current.append(account)
        length += cost
    if current:
        batches.append(current)
    return batches


def _unique(values: Iterable[str], what: str) -> list[str]:
    """Values in first-seen order without duplicates (a repeated account in two batches would be
    returned twice by DWDI and billed twice)."""
    seen: dict[str, None] = {}
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise DWDIConfigurationError(f"{what} names must be non-empty strings, got {value!r}")
        seen.setdefault(value.strip(), None)
    return list(seen)


_ENTRY_KEY = re.compile(rb'"account"\s*:')
_USER_ROW_KEY = re.compile(rb'"username"\s*:')


def count_rows(raw: bytes) -> tuple[int, int]:
    """``(entries, user_rows)`` of a raw compute answer, counted from its keys without parsing it.

    In valid JSON a quoted name followed by a colon is always an object key (a string value is
    followed by ``,``, ``]`` or ``}``, and quotes inside strings are escaped), so the counts are exact.
    """
    return len(_ENTRY_KEY.findall(raw)), len(_USER_ROW_KEY.findall(raw))


@dataclass(frozen=True)
class UsagePage:
    """One DWDI compute usage answer: request ``index`` (0-based), the accounts it asked for (None =
    all), the HTTP status, the raw body exactly as received and the parsed body (floats as Decimal;
    None when the page was fetched with ``parse=False``)."""

    index: int
    accounts: list[str] | None
    status: int
    raw: bytes = field(repr=False)
    data: dict[str, Any] | None = field(repr=False)


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """Session auth that adds nothing (the hook sets its own Authorization header per request)."""
    return request


@dataclass
class _CachedToken:
    value: str
    renew_at: float  # on the hook's clock
    lifetime: float


# ---------------------------------------------------------------------------------------- hook


class DWDIHook(BaseHook):
    """Read CSCS-DWDI compute usage with the OIDC client credentials of an Airflow connection.

    Connection type ``cscs_dwdi``: host = DWDI API base URL, login = OIDC client ID, password = OIDC
    client secret; extras ``oidc_endpoint_url`` (required: the token endpoint), ``oidc_scope``
    (default ``openid``), ``compute_usage_path`` (default the seed endpoint), ``timeout_seconds``
    (default 60, per request), ``verify_tls``, ``ca_bundle_path`` and ``proxy_url`` (http(s):// or
    socks5(h)://, used for the issuer and the API). Extras are never sent as headers and the secret
    only ever goes to the token endpoint, in the form body.

    :param dwdi_conn_id: the Airflow connection id.
    :param retry_policy: how transient failures (issuer and API) are retried.
    :param sleep: the sleep between retries (tests make it instant or record it).
    :param clock: monotonic clock for the token cache (tests advance it).
    :param max_url_bytes: longest request URL; account lists are split to fit it.
    """

    conn_name_attr = "dwdi_conn_id"
    default_conn_name = "cscs_dwdi_default"
    conn_type = "cscs_dwdi"
    hook_name = "CSCS DWDI"

    def __init__(
        self,
        dwdi_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_url_bytes: int = MAX_URL_BYTES,
    ) -> None:
        super().__init__()
        self.dwdi_conn_id = dwdi_conn_id
        self.retry_policy = retry_policy or RetryPolicy()
        self.max_url_bytes = max_url_bytes
        self._sleep = sleep
        self._clock = clock
        self._settings: DWDISettings | None = None
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()
        self._token: _CachedToken | None = None
        # Held while a token is requested, so concurrent callers wait for that one request.
        self._token_lock = threading.Lock()
        self.token_requests = 0
        self.api_requests = 0

    def __enter__(self) -> DWDIHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ connection and session

    @property
    def settings(self) -> DWDISettings:
        """The validated connection (read once); the client secret is masked in logs from here on."""
        if self._settings is None:
            connection = self.get_connection(self.dwdi_conn_id)
            settings = parse_settings(
                connection.host,
                connection.port,
                connection.login,
                connection.password,
                connection.extra_dejson,
            )
            mask_secret(settings.client_secret)
            if settings.proxy_url and urlsplit(settings.proxy_url).password:
                mask_secret(urlsplit(settings.proxy_url).password)
            self._settings = settings
        return self._settings

    @property
    def session(self) -> requests.Session:
        """One pooled session for the issuer and the API (TLS and proxy settings of the connection)."""
        with self._session_lock:
            if self._session is None:
                settings = self.settings
                session = requests.Session()
                session.verify = settings.verify
                # A no-op auth: without it requests would fill in Basic auth from ~/.netrc, which
                # would replace the Bearer header (and put other credentials on the wire).
                session.auth = _no_auth
                # The keep-alive adapter of apache-airflow-providers-http, with its defaults: a
                # month query can keep a connection silent for minutes, and firewalls and NAT
                # gateways on the way to DWDI drop idle connections without TCP keep-alive probes.
                keep_alive = TCPKeepAliveAdapter(
                    idle=TCP_KEEP_ALIVE_IDLE, count=TCP_KEEP_ALIVE_COUNT, interval=TCP_KEEP_ALIVE_INTERVAL
                )
                session.mount("http://", keep_alive)
                session.mount("https://", keep_alive)
                if settings.proxy_url:
                    session.proxies = {"http": settings.proxy_url, "https": settings.proxy_url}
                session.headers.update(
                    {"Accept": "application/json", "User-Agent": f"airflow-provider-cscs-dwdi/{__version__}"}
                )
                self._session = session
            return self._session

    def close(self) -> None:
        """Release the pooled connections (the cached token is kept)."""
        with self._session_lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def _send(
        self, method: str, url: str, *, describe: str, policy: RetryPolicy, **kwargs: Any
    ) -> requests.Response:
        settings = self.settings
        if settings.proxy_url:
            # Per request too: requests lets HTTP(S)_PROXY from the environment override
            # session.proxies, and the connection's proxy must win (it may be the only way out).
            kwargs["proxies"] = {"http": settings.proxy_url, "https": settings.proxy_url}
        return send_with_retries(
            self.session,
            method,
            url,
            policy=policy,
            log=self.log,
            describe=describe,
            sleep=self._sleep,
            timeout=settings.timeout_seconds,
            **kwargs,
        )

    def _redact(self, text: str) -> str:
        """``text`` with the client secret and any token we hold replaced by ``***``."""
        for secret in self._known_secrets():
            text = text.replace(secret, _REDACTED)
        return text

    def _known_secrets(self) -> list[str]:
        secrets = [self._settings.client_secret] if self._settings else []
        if self._token is not None:
            secrets.append(self._token.value)
        return [secret for secret in secrets if secret]

    def _excerpt(self, body: bytes) -> str:
        """The first 200 bytes of ``body`` as text, secrets redacted (for error messages only).

        Redaction runs on the whole body before the cut: cutting first could leave a prefix of a
        secret that straddles byte 200.
        """
        redacted = self._redact(body.decode("utf-8", errors="replace"))
        return redacted.encode("utf-8")[:BODY_EXCERPT_BYTES].decode("utf-8", errors="ignore")

    # ------------------------------------------------------------------ token

    def get_token(self) -> str:
        """A valid access token: the cached one, or a new one when it is due for renewal.

        :raises DWDIAuthenticationError: the issuer rejected the client id / secret.
        :raises DWDIIssuerUnreachableError: the issuer did not answer usefully within the policy.
        :raises DWDIConfigurationError: the connection lacks a field (named in the message).
        """
        with self._token_lock:
            token = self._token
            if token is not None and self._clock() < token.renew_at:
                return token.value
            self._token = self._request_token()
            return self._token.value

    def invalidate_token(self, token: str | None = None) -> None:
        """Forget the cached token (only if it is still ``token``, when given).

        Comparing avoids a stampede: after a 401, the first caller renews, the others find a newer
        token in the cache and keep it.
        """
        with self._token_lock:
            if self._token is not None and (token is None or self._token.value == token):
                self._token = None

    def _request_token(self) -> _CachedToken:
        settings = self.settings
        issuer = display_url(settings.token_url)
        # Issuer 5xx answers are always transient from our side (a token request changes nothing).
        policy = dataclasses.replace(
            self.retry_policy, retry_statuses=self.retry_policy.retry_statuses | frozenset(range(500, 600))
        )
        started = self._clock()
        self.token_requests += 1
        try:
            response = self._send(
                "POST",
                settings.token_url,
                describe=f"OIDC token request for client {settings.client_id!r}",
                policy=policy,
                # The form carries the secret: never let a redirect take it somewhere else.
                allow_redirects=False,
                data={
                    "grant_type": "client_credentials",
                    "client_id": settings.client_id,
                    "client_secret": settings.client_secret,
                    "scope": settings.scope,
                },
            )
        except TransientHTTPError as error:
            raise DWDIIssuerUnreachableError(f"OIDC issuer unreachable at {issuer}: {error}") from None
        except requests.RequestException as error:
            # Not retryable (bad proxy scheme, TLS set-up, invalid URL): still "cannot reach it".
            raise DWDIIssuerUnreachableError(
                f"OIDC issuer unreachable at {issuer}: {type(error).__name__}: {self._redact(str(error))}"
            ) from None
        with response:
            status, body = response.status_code, response.content
        payload: Any
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        error_code = str(payload.get("error", "")) if isinstance(payload, dict) else ""
        if status != 200:
            description = str(payload.get("error_description", "")) if isinstance(payload, dict) else ""
            if status == 401 or (status == 400 and error_code in BAD_CREDENTIAL_ERRORS):
                raise DWDIAuthenticationError(
                    f"bad credentials: the OIDC issuer rejected client {settings.client_id!r} "
                    f"({error_code or f'HTTP {status}'})"
                )
            if status >= 500:
                raise DWDIIssuerUnreachableError(f"OIDC issuer unreachable at {issuer}: HTTP {status}")
            detail = self._redact(f"{error_code}: {description}" if error_code else self._excerpt(body))
            raise DWDITokenError(
                f"the OIDC issuer at {issuer} refused the token request of client {settings.client_id!r} "
                f"(HTTP {status}: {detail})"
            )
        access_token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(access_token, str) or not access_token:
            raise DWDITokenError(
                f"the OIDC issuer at {issuer} answered HTTP 200 without an access_token "
                f"(content type {response.headers.get('Content-Type', '?')!r})"
            )
        mask_secret(access_token)
        token_type = str(payload.get("token_type", "Bearer"))
        if token_type.lower() != "bearer":
            self.log.warning(
                "The OIDC issuer returned token_type %r; sending it as a Bearer token.", token_type
            )
        lifetime = _token_lifetime(payload.get("expires_in"))
        reuse = renewal_delay(lifetime)
        self.log.info(
            "Obtained an access token for OIDC client %r (expires in %.0fs, reused for %.0fs; "
            "token request %d of this hook).",
            settings.client_id,
            lifetime,
            reuse,
            self.token_requests,
        )
        # Counted from before the request: the issuer's clock started no later than that.
        return _CachedToken(value=access_token, renew_at=started + reuse, lifetime=lifetime)

    # ------------------------------------------------------------------ API

    def _api_get(self, url: str, *, describe: str) -> requests.Response:
        """GET ``url`` with a bearer token; a 401 is answered once with a fresh token."""
        for attempt in (1, 2):
            token = self.get_token()
            self.api_requests += 1
            try:
                response = self._send(
                    "GET",
                    url,
                    describe=describe,
                    policy=self.retry_policy,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except TransientHTTPError as error:
                if error.status is not None:
                    message = f"DWDI API answered {error.status} (retries exhausted): {error}"
                else:
                    message = f"DWDI API unreachable at {display_url(self.settings.api_url)}: {error}"
                raise DWDIAPIError(message, status=error.status) from None
            except requests.RequestException as error:
                raise DWDIAPIError(
                    f"DWDI API unreachable at {display_url(self.settings.api_url)}: "
                    f"{type(error).__name__}: {self._redact(str(error))}"
                ) from None
            if response.status_code != 401:
                return response
            excerpt = self._excerpt(response.content)
            response.close()
            if attempt == 1:
                self.log.info(
                    "%s: the API refused the token (HTTP 401); renewing it and retrying once.", describe
                )
                self.invalidate_token(token)
        raise DWDIAuthenticationError(
            f"{describe}: the DWDI API refused a freshly issued token of client "
            f"{self.settings.client_id!r} (HTTP 401: {excerpt!r}); check the client's audience and roles"
        )

    def _parse_page(
        self, response: requests.Response, describe: str, *, parse: bool = True
    ) -> tuple[bytes, dict[str, Any] | None]:
        """The body of a compute usage answer, raw and parsed; errors name status, type and bytes.

        With ``parse=False`` only a cheap check runs (a JSON object mentioning ``compute``): the
        caller archives the raw body and parses it once, later, where it is aggregated.
        """
        with response:
            status, body = response.status_code, response.content
        content_type = response.headers.get("Content-Type", "")
        if status != 200:
            excerpt = self._excerpt(body)
            raise DWDIAPIError(
                f"{describe}: DWDI API answered {status} ({content_type or 'no content type'}): {excerpt!r}",
                status=status,
                excerpt=excerpt,
            )
        problem = None
        data: Any = None
        if not parse:
            stripped = body.strip()
            if not (stripped.startswith(b"{") and stripped.endswith(b"}")):
                problem = "is not a JSON object"
            elif b'"compute"' not in stripped:
                problem = 'is not the documented {"compute": [...]} object'
            elif "json" not in content_type.lower():
                problem = "is not declared as JSON"
        else:
            try:
                data = json.loads(body, parse_float=Decimal)
            except ValueError:
                problem = "is not JSON"
            if problem is None and not (isinstance(data, dict) and isinstance(data.get("compute"), list)):
                problem = 'is not the documented {"compute": [...]} object'
        if problem is not None:
            excerpt = self._excerpt(body)
            raise DWDIResponseError(
                f"{describe}: the DWDI answer {problem} (HTTP {status}, content type "
                f"{content_type or 'none'!r}, {len(body)} bytes, first bytes: {excerpt!r})",
                status=status,
                content_type=content_type,
                excerpt=excerpt,
            )
        return body, data

    def iter_compute_usage(
        self,
        month_from: str,
        month_to: str,
        accounts: Sequence[str] | None = None,
        clusters: Sequence[str] | None = None,
        *,
        parse: bool = True,
    ) -> Iterator[UsagePage]:
        """Yield one :class:`UsagePage` per request, in order (bounded memory: one page at a time).

        ``parse=False`` skips the full JSON parse (``UsagePage.data`` is None) for callers that
        archive the raw bytes and parse them once later: parsing a large month costs more than
        fetching it.

        ``accounts=None`` asks for every account in one request; an empty list makes no request.
        Otherwise the (de-duplicated) accounts are split so that no URL exceeds ``max_url_bytes``.
        ``month_from`` / ``month_to`` are ``YYYY-MM`` (or ``YYYY-MM-DD`` for a daily path), inclusive.
        """
        for value, name in ((month_from, "month_from"), (month_to, "month_to")):
            if not isinstance(value, str) or not _DATE_OR_MONTH.match(value):
                raise DWDIConfigurationError(f"{name} must be YYYY-MM (or YYYY-MM-DD), got {value!r}")
        cluster_list = _unique(clusters, "cluster") if clusters else None
        endpoint = self.settings.compute_usage_url
        batches: list[list[str] | None]
        if accounts is None:
            batches = [None]
        else:
            unique = _unique(accounts, "account")
            if len(unique) < len(accounts):
                self.log.info("Ignoring %d repeated account name(s).", len(accounts) - len(unique))
            batches = list(
                split_accounts(
                    endpoint, month_from, month_to, unique, cluster_list, max_url_bytes=self.max_url_bytes
                )
            )
        self.log.info(
            "DWDI compute usage %s..%s: %s account(s)%s in %d request(s).",
            month_from,
            month_to,
            "all" if accounts is None else sum(len(b or ()) for b in batches),
            f", clusters {cluster_list}" if cluster_list else "",
            len(batches),
        )
        for index, batch in enumerate(batches):
            describe = f"DWDI compute usage {month_from}..{month_to} (part {index + 1}/{len(batches)})"
            url = compute_usage_url(endpoint, month_from, month_to, batch, cluster_list)
            response = self._api_get(url, describe=describe)
            raw, data = self._parse_page(response, describe, parse=parse)
            entries, user_rows = count_rows(raw)
            self.log.debug(
                "%s: HTTP 200, %d account(s) asked, %d entries, %d user rows, %d bytes.",
                describe,
                len(batch) if batch is not None else -1,
                entries,
                user_rows,
                len(raw),
            )
            yield UsagePage(index=index, accounts=batch, status=response.status_code, raw=raw, data=data)

    def get_compute_usage(
        self,
        month_from: str,
        month_to: str,
        accounts: Sequence[str] | None = None,
        clusters: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Every page of :meth:`iter_compute_usage` merged into one ``{"compute": [...]}``."""
        compute: list[Any] = []
        pages = 0
        for page in self.iter_compute_usage(month_from, month_to, accounts, clusters):
            assert page.data is not None  # parsed pages always carry data
            compute.extend(page.data["compute"])
            pages += 1
        self.log.info(
            "DWDI compute usage %s..%s: %d request(s), %d entries, %d user rows.",
            month_from,
            month_to,
            pages,
            len(compute),
            sum(len(e.get("users") or ()) for e in compute if isinstance(e, dict)),
        )
        return {"compute": compute}

    # ------------------------------------------------------------------ Airflow UI

    def test_connection(self) -> tuple[bool, str]:
        """Check the issuer, the credentials, the API and the compute path (the UI's "Test" button).

        Cheapest proof that a real run would work: a token, then ONE query on the configured compute
        path for the current month restricted to the account ``__connection_test__``, which matches
        no real account, so DWDI answers ``{"compute": []}`` without scanning usage. (The daily
        endpoint would be as cheap but may not exist on seed-era deployments; the configured path
        is the one the DAG uses.) Never raises: returns ``(False, reason)``.
        """
        try:
            settings = self.settings
            self.get_token()
            month = datetime.now(timezone.utc).strftime("%Y-%m")
            pages = list(self.iter_compute_usage(month, month, accounts=[CONNECTION_TEST_ACCOUNT]))
        except ConfigurationError as error:
            return False, f"configuration: {self._redact(str(error))}"
        except Exception as error:  # the UI shows the reason; any failure is a failed test
            return False, self._redact(str(error) or type(error).__name__)
        return True, (
            f"Connected: OIDC client {settings.client_id!r} got a token from "
            f"{display_url(settings.token_url)}, and {settings.compute_usage_path} at "
            f"{display_url(settings.api_url)} answered HTTP {pages[0].status} for {month}."
        )
