"""DWDIHook: OAuth2 client credentials against an OIDC issuer, then the DWDI usage APIs.

Why not ``HttpHook``: it sends every unknown connection extra as an HTTP header and the login /
password as Basic auth, builds a new session per call and has its own retry rules (airflow-3.md).
This hook owns one pooled :class:`requests.Session` for the issuer and the API (the proxy and TLS
settings apply to both), with the TCP keep-alive adapter ``HttpHook`` mounts; the session, its
retries and ``close`` come from :class:`~hooks._http.SessionHook`, the base the Waldur hook shares.

The hook is put together by concern: the token cache (:mod:`.token`), one mixin per endpoint
family (:mod:`.compute`, :mod:`.storage`, :mod:`.inference`), the URL splitting shared by them
(:mod:`.splitting`) and the answer check (:mod:`.pages`). This module holds what the families
share: the generic paging of a :class:`~.pages.Family` (split, ask, log, merge), the bearer
header and the one renewal after a 401, and ``test_connection``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from airflow.sdk.log import mask_secret

from airflow_provider_cscs_dwdi import __version__
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.hooks._http import (
    RetryPolicy,
    SessionHook,
    TransientHTTPError,
    keep_alive_adapter,
)
from airflow_provider_cscs_dwdi.hooks.dwdi.compute import ComputeMixin
from airflow_provider_cscs_dwdi.hooks.dwdi.errors import DWDIAPIError, DWDIAuthenticationError
from airflow_provider_cscs_dwdi.hooks.dwdi.inference import InferenceMixin
from airflow_provider_cscs_dwdi.hooks.dwdi.pages import (
    BODY_EXCERPT_BYTES,
    DWDIPage,
    Family,
    MissingEndpoint,
    check_answer,
)
from airflow_provider_cscs_dwdi.hooks.dwdi.settings import REDACTED, DWDISettings, display_url, parse_settings
from airflow_provider_cscs_dwdi.hooks.dwdi.splitting import (
    MAX_URL_BYTES,
    Query,
    request_url,
    split_values,
    unique_values,
)
from airflow_provider_cscs_dwdi.hooks.dwdi.storage import StorageMixin
from airflow_provider_cscs_dwdi.hooks.dwdi.token import CachedToken, TokenMixin

if TYPE_CHECKING:
    from airflow.sdk import Connection

LOGGER_NAME = "airflow_provider_cscs_dwdi.hooks.dwdi.DWDIHook"
"""Logged as ``airflow.task.hooks.<LOGGER_NAME>``, as before the hook became a package."""

CONNECTION_TEST_ACCOUNT = "__connection_test__"
"""Account name of the connection test query: it matches no real account, so the answer is tiny."""


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """Session auth that adds nothing (the hook sets its own Authorization header per request)."""
    return request


class DWDIHook(TokenMixin, ComputeMixin, StorageMixin, InferenceMixin, SessionHook[DWDISettings]):
    """Read CSCS-DWDI compute usage, storage usage and inference cost with the OIDC client
    credentials of an Airflow connection (``get_``/``iter_compute_usage``, ``_storage_usage``,
    ``_inference_cost``; one token, retry policy, proxy and URL splitting for all three).

    Connection type ``cscs_dwdi``: host = DWDI API base URL, login = OIDC client ID, password = OIDC
    client secret; extras ``oidc_endpoint_url`` (required: the token endpoint), ``oidc_scope``
    (default ``openid``), ``compute_usage_path`` (default the seed endpoint),
    ``storage_usage_path`` (default ``/api/v1/storage/usage-month``), ``inference_cost_path``
    (default ``/api/v1/inference/resource/cost``), ``timeout_seconds``
    (default 60, per request), ``verify_tls``, ``ca_bundle_path`` and ``proxy_url`` (http(s):// or
    socks5(h)://, used for the issuer and the API). Extras are never sent as headers and the secret
    only ever goes to the token endpoint, in the form body.

    :param dwdi_conn_id: the Airflow connection id.
    :param retry_policy: how transient failures (issuer and API) are retried.
    :param sleep: the sleep between retries (tests make it instant or record it).
    :param clock: monotonic clock for the token cache (tests advance it).
    :param max_url_bytes: longest request URL; account, path and UUID lists are split to fit it.
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
        # The logger name the hook had as one module (hooks/dwdi.py), so log routing keeps working.
        super().__init__(retry_policy=retry_policy, sleep=sleep, logger_name=LOGGER_NAME)
        self.dwdi_conn_id = dwdi_conn_id
        self.max_url_bytes = max_url_bytes
        self._clock = clock
        self._token: CachedToken | None = None
        # Held while a token is requested, so concurrent callers wait for that one request.
        self._token_lock = threading.Lock()
        self.token_requests = 0
        self.api_requests = 0

    # ------------------------------------------------------------------ connection and session

    def _read_settings(self, connection: Connection) -> DWDISettings:
        """The validated connection; the client secret is masked in logs from here on."""
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
        return settings

    def _new_session(self, settings: DWDISettings) -> requests.Session:
        """One pooled session for the issuer and the API (TLS and proxy settings of the connection)."""
        session = requests.Session()
        session.verify = settings.verify
        # A no-op auth: without it requests would fill in Basic auth from ~/.netrc, which
        # would replace the Bearer header (and put other credentials on the wire).
        session.auth = _no_auth
        # A month query can keep a connection silent for minutes (keep_alive_adapter).
        keep_alive = keep_alive_adapter()
        session.mount("http://", keep_alive)
        session.mount("https://", keep_alive)
        if settings.proxy_url:
            session.proxies = {"http": settings.proxy_url, "https": settings.proxy_url}
        session.headers.update(
            {"Accept": "application/json", "User-Agent": f"airflow-provider-cscs-dwdi/{__version__}"}
        )
        return session

    def _request_options(self) -> dict[str, Any]:
        proxy_url = self.settings.proxy_url
        # Per request too: requests lets HTTP(S)_PROXY from the environment override
        # session.proxies, and the connection's proxy must win (it may be the only way out).
        return {"proxies": {"http": proxy_url, "https": proxy_url}} if proxy_url else {}

    def _redact(self, text: str) -> str:
        """``text`` with the client secret and any token we hold replaced by ``***``."""
        for secret in self._known_secrets():
            text = text.replace(secret, REDACTED)
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

    # ------------------------------------------------------------------ API

    def _iter_family(
        self,
        family: Family,
        *,
        path: str,
        describe: str,
        fixed: Query,
        values: Sequence[str] | None,
        parse: bool,
        identity: Callable[[str], str] = str,
        scope: str = "",
    ) -> Iterator[DWDIPage]:
        """The pages of one query of ``family``: ``values=None`` asks for everything in one
        request, an empty list makes none, otherwise the de-duplicated values (by ``identity``)
        are split so that no URL exceeds ``max_url_bytes``. A 404 names ``family.extra`` (when the
        family has one); ``scope`` adds to the plan's log line (compute's clusters)."""
        endpoint = f"{self.settings.api_url}{path}"
        batches: list[list[str] | None]
        if values is None:
            batches = [None]
        else:
            unique = unique_values(values, family.item, identity=identity)
            if len(unique) < len(values):
                self.log.info(
                    "Ignoring %d repeated %s(s).", len(values) - len(unique), family.repeated or family.item
                )
            batches = list(
                split_values(
                    endpoint, fixed, family.key, unique, max_url_bytes=self.max_url_bytes, what=family.item
                )
            )
        self.log.info(
            "%s: %s %s(s)%s in %d request(s).",
            describe,
            "all" if values is None else sum(len(batch or ()) for batch in batches),
            family.item,
            scope,
            len(batches),
        )
        pages = self._fetch_pages(
            describe=describe,
            endpoint=endpoint,
            fixed=fixed,
            key=family.key,
            batches=batches,
            list_key=family.list_key,
            parse=parse,
            missing=family.missing(path),
        )
        for part, page in pages:
            self.log.debug(
                "%s: HTTP 200, %d %s(s) asked, %s, %d bytes.",
                part,
                len(page.keys) if page.keys is not None else -1,
                family.item,
                family.page_counts(page.raw),
                len(page.raw),
            )
            yield page

    def _merge_family(self, family: Family, describe: str, pages: Iterable[DWDIPage]) -> dict[str, Any]:
        """Parsed pages of one family merged into one ``{family.list_key: [...]}``."""
        merged: list[Any] = []
        requests_made = 0
        for page in pages:
            assert page.data is not None  # parsed pages always carry data
            merged.extend(page.data[family.list_key])
            requests_made += 1
        self.log.info("%s: %d request(s), %s.", describe, requests_made, family.merged_counts(merged))
        return {family.list_key: merged}

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

    def _fetch_pages(
        self,
        *,
        describe: str,
        endpoint: str,
        fixed: Query,
        key: str,
        batches: Sequence[list[str] | None],
        list_key: str,
        parse: bool,
        missing: MissingEndpoint | None = None,
    ) -> Iterator[tuple[str, DWDIPage]]:
        """GET one page per batch (``endpoint?<fixed>&key=..``), checked; yields ``(describe, page)``.

        ``describe`` names the call in logs and errors, with the part number appended; ``missing``
        turns a 404 into the message naming the extra that sets the family's path.
        """
        for index, batch in enumerate(batches):
            part = f"{describe} (part {index + 1}/{len(batches)})"
            response = self._api_get(request_url(endpoint, fixed, key, batch), describe=part)
            with response:
                status, raw = response.status_code, response.content
            data = check_answer(
                status,
                raw,
                response.headers.get("Content-Type", ""),
                describe=part,
                list_key=list_key,
                parse=parse,
                excerpt=self._excerpt,
                missing=missing,
            )
            yield part, DWDIPage(index=index, keys=batch, status=status, raw=raw, data=data)

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
            month = datetime.now(UTC).strftime("%Y-%m")
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
