"""OAuth2 client credentials against the OIDC issuer, with a token cache shared by every API call.

One token serves every call until shortly before it expires (see :func:`renewal_delay`), a lock
makes concurrent callers share one token request, and :meth:`TokenMixin.invalidate_token` lets the
API client drop a token the API refused (revoked or expired early).
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
from airflow.sdk.log import mask_secret

from airflow_provider_cscs_dwdi.hooks._http import RetryPolicy, TransientHTTPError
from airflow_provider_cscs_dwdi.hooks.dwdi.errors import (
    DWDIAuthenticationError,
    DWDIIssuerUnreachableError,
    DWDITokenError,
)
from airflow_provider_cscs_dwdi.hooks.dwdi.settings import DWDISettings, display_url

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

DEFAULT_TOKEN_LIFETIME = 300.0
"""Assumed lifetime (seconds) of a token whose response has no usable ``expires_in``."""

RENEW_BEFORE_EXPIRY = 300.0
"""A token is renewed this many seconds before it expires ...."""
SHORT_LIVED_THRESHOLD = 600.0
"""... unless it lives less than this; then it is renewed at half its lifetime."""

BAD_CREDENTIAL_ERRORS = frozenset({"invalid_client", "unauthorized_client"})


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


def token_lifetime(value: Any) -> float:
    """``expires_in`` as seconds; missing or unusable -> the documented default (300 s)."""
    if isinstance(value, bool) or value is None:
        return DEFAULT_TOKEN_LIFETIME
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_TOKEN_LIFETIME
    return seconds if seconds == seconds and seconds != float("inf") else DEFAULT_TOKEN_LIFETIME


@dataclass
class CachedToken:
    """An access token and when (on the hook's clock) it is due for renewal."""

    value: str
    renew_at: float
    lifetime: float


class TokenMixin:
    """The token half of DWDIHook: ``get_token`` / ``invalidate_token`` over a locked cache.

    The host class (DWDIHook) provides the attributes declared below: the connection, the retry
    policy, the clock, the cache slot and its lock, and the transport helpers.
    """

    retry_policy: RetryPolicy
    token_requests: int
    _clock: Callable[[], float]
    _token: CachedToken | None
    _token_lock: threading.Lock
    _send: Callable[..., requests.Response]
    _redact: Callable[[str], str]
    _excerpt: Callable[[bytes], str]

    if TYPE_CHECKING:  # provided by DWDIHook (BaseHook's logger, the parsed connection)

        @property
        def settings(self) -> DWDISettings: ...

        @property
        def log(self) -> Logger: ...

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

    def _request_token(self) -> CachedToken:
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
        lifetime = token_lifetime(payload.get("expires_in"))
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
        return CachedToken(value=access_token, renew_at=started + reuse, lifetime=lifetime)
