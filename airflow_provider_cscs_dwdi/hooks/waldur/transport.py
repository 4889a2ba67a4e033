"""The Waldur hook's transport: one pooled session, the token, status and JSON checks, and paging.

Every call goes through :func:`~hooks._http.send_with_retries` (connection errors, timeouts, 429
and 502/503/504 are retried with backoff; other answers are final). A 401 raises
:class:`WaldurAuthError` at once: with a bad token nothing else can succeed either. Listings
follow the ``Link: rel="next"`` header (:mod:`.links`), pages after the first are fetched
``write_concurrency`` at a time, and a listing is checked against its ``X-Result-Count``. The
API surface (reads, writes, the connection test) is :class:`~.hook.WaldurHook`, built on this.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import requests
from airflow.sdk.log import mask_secret
from requests.adapters import HTTPAdapter

from airflow_provider_cscs_dwdi.core.waldur_state import row_key
from airflow_provider_cscs_dwdi.hooks._http import LeanSession, RetryPolicy, SessionHook
from airflow_provider_cscs_dwdi.hooks.waldur.errors import (
    EXPIRED_TOKEN_DETAIL,
    IncompleteListingError,
    WaldurAPIError,
    WaldurAuthError,
    error_detail,
)
from airflow_provider_cscs_dwdi.hooks.waldur.links import relink, with_page
from airflow_provider_cscs_dwdi.hooks.waldur.settings import WaldurSettings, parse_settings

if TYPE_CHECKING:
    from airflow.sdk import Connection

#: Logged as ``airflow.task.hooks.<LOGGER_NAME>``, as before the hook became a package.
LOGGER_NAME = "airflow_provider_cscs_dwdi.hooks.waldur.WaldurHook"


@dataclass(frozen=True)
class _Listing:
    """The pages of one listing read and its ``X-Result-Count`` (None: the server sent none)."""

    pages: list[list[dict[str, Any]]]
    total: int | None

    @cached_property
    def rows(self) -> list[dict[str, Any]]:
        """The distinct rows (by uuid), in the order first seen: a paged read can repeat rows."""
        distinct: dict[str, dict[str, Any]] = {}
        for number, page in enumerate(self.pages):
            for index, row in enumerate(page):
                # A row without uuid (a server ignoring field=uuid) cannot be told apart: kept.
                distinct.setdefault(row_key(row) or f"#{number}.{index}", row)
        return list(distinct.values())

    @property
    def complete(self) -> bool:
        """True when the distinct rows are as many as Waldur counts (unknown count: trusted)."""
        return self.total is None or len(self.rows) >= self.total

    def shortfall(self) -> str:
        """How the read fell short, for messages."""
        received = sum(len(page) for page in self.pages)
        return (
            f"{len(self.rows)} distinct of the {self.total} rows Waldur counts were returned "
            f"({received} rows on {len(self.pages)} page(s))"
        )


class WaldurTransport(SessionHook[WaldurSettings]):
    """The session, request and listing half of :class:`~.hook.WaldurHook`.

    :param waldur_conn_id: the Airflow connection id.
    :param retry_policy: how transient failures are retried.
    :param sleep: the sleep used between retries (tests make it instant).
    """

    conn_name_attr = "waldur_conn_id"

    def __init__(
        self,
        waldur_conn_id: str,
        *,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(retry_policy=retry_policy, sleep=sleep, logger_name=LOGGER_NAME)
        self.waldur_conn_id = waldur_conn_id
        self._relinking_logged = False
        # The UI's Test button runs test_connection on a copy of the connection stored under a
        # random id: naming that id would send the user looking for a connection that does not exist.
        self._naming_the_connection = True

    def _read_settings(self, connection: Connection) -> WaldurSettings:
        settings = parse_settings(
            connection.host, connection.port, connection.password, connection.extra_dejson
        )
        # Airflow masks connection passwords it loads; masking here too covers every secrets
        # backend and keeps the token out of logs even if it is echoed in an error body.
        mask_secret(settings.token)
        return settings

    def _new_session(self, settings: WaldurSettings) -> requests.Session:
        """One pooled session, large enough for ``write_concurrency`` parallel writes."""
        # Lean: the write rate of a push is bound by the client's CPU per request.
        session = LeanSession()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=settings.write_concurrency + 1)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # Proxy and CA-bundle variables are read once here. Left on, requests re-reads the
        # whole environment and stats ~/.netrc on every request (about 1 ms of CPU each,
        # which capped the write rate), and a ~/.netrc entry for the host would replace the
        # Token header with Basic auth.
        environment = session.merge_environment_settings(
            settings.api_url, {}, None, settings.verify_tls, None
        )
        session.proxies.update(environment["proxies"])
        session.verify = environment["verify"]
        session.trust_env = False
        session.headers.update({"Authorization": f"Token {settings.token}", "Accept": "application/json"})
        return session

    def _checked(self, response: requests.Response, describe: str) -> requests.Response:
        # With a bad token nothing else can succeed either: stop at the first 401.
        if response.status_code == 401:
            raise self._auth_error(response, describe)
        return response

    def _auth_error(self, response: requests.Response, describe: str) -> WaldurAuthError:
        detail = error_detail(response)
        if detail == EXPIRED_TOKEN_DETAIL:
            message = (
                f"{describe}: Waldur says the API token of {self._connection_name()} has expired. "
                "Ordinary Waldur tokens expire after an idle hour; a scheduled job needs a non-expiring "
                "token: the token of a service account whose token_lifetime is unset, or on Waldur 8.x "
                "a personal access token with a long expiry. Put it in the connection's password."
            )
        else:
            message = (
                f"{describe}: Waldur refused the API token of {self._connection_name()} (HTTP 401: {detail})"
            )
        return WaldurAuthError(message, status=401, detail=detail)

    def _connection_name(self) -> str:
        return f"connection {self.waldur_conn_id!r}" if self._naming_the_connection else "this connection"

    def _url(self, path: str) -> str:
        return urljoin(self.settings.api_url, path)

    @staticmethod
    def _raise_for_status(response: requests.Response, describe: str, expected: int = 200) -> None:
        if response.status_code != expected:
            detail = error_detail(response)
            raise WaldurAPIError(
                f"{describe}: HTTP {response.status_code}: {detail}",
                status=response.status_code,
                detail=detail,
            )

    @staticmethod
    def _json(response: requests.Response, describe: str) -> Any:
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise WaldurAPIError(f"{describe}: the answer is not JSON", status=response.status_code) from None

    def _get(self, path: str, params: Mapping[str, Any], describe: str) -> Any:
        response = self._send("GET", self._url(path), params=params, describe=describe)
        self._raise_for_status(response, describe)
        return self._json(response, describe)

    def paginate(self, path: str, params: Mapping[str, Any], *, describe: str) -> Iterator[dict[str, Any]]:
        """Yield every distinct item of a listing read in full (see :meth:`_read_in_full`).

        :raises ~airflow_provider_cscs_dwdi.hooks.waldur.errors.IncompleteListingError: both reads fell short; no row may be taken as absent.
        """
        yield from self._read_in_full(path, params, describe=describe)

    def _read_listing(
        self, path: str, params: Mapping[str, Any], *, describe: str, page_size: int | None = None
    ) -> _Listing:
        """Every page of a listing, following the ``Link`` headers, and its distinct rows.

        The first page's ``X-Result-Count`` tells how many pages follow; those are fetched
        ``write_concurrency`` at a time from the ``rel="next"`` link with its page number changed
        (a long listing then costs round trips / concurrency instead of one round trip per page).
        Whatever the last of them still links to as ``next`` is followed page by page.
        """
        size = page_size or self.settings.page_size
        items, response = self._page(self._url(path), {**params, "page_size": size}, describe, 1)
        pages = [items]
        total = self._result_count(response)
        next_url = self._next_link(response, describe)
        page_count = max(1, math.ceil(total / size)) if total is not None else 0
        number = 2
        if next_url is not None and page_count > 2 and self.settings.write_concurrency > 1:
            first_next = next_url

            def fetch(number: int) -> tuple[list[dict[str, Any]], requests.Response]:
                return self._page(with_page(first_next, number), None, describe, number)

            with ThreadPoolExecutor(max_workers=self.settings.write_concurrency) as pool:
                for items, page_response in pool.map(fetch, range(2, page_count + 1)):
                    pages.append(items)
                    response = page_response
            next_url = self._next_link(response, describe)
            number = page_count + 1
        while next_url is not None:
            items, response = self._page(next_url, None, describe, number)
            pages.append(items)
            next_url = self._next_link(response, describe)
            number += 1
        return _Listing(pages, total)

    def _read_in_full(self, path: str, params: Mapping[str, Any], *, describe: str) -> list[dict[str, Any]]:
        """A listing whose distinct rows match its ``X-Result-Count`` (read twice at most).

        :raises ~airflow_provider_cscs_dwdi.hooks.waldur.errors.IncompleteListingError: both reads fell short; no row may be taken as absent.
        """
        listing = self._read_listing(path, params, describe=describe)
        if not listing.complete:
            self.log.warning("%s: %s; reading it again.", describe, listing.shortfall())
            listing = self._read_listing(path, params, describe=describe)
        if not listing.complete:
            raise IncompleteListingError(
                f"{describe}: {listing.shortfall()} twice: Waldur's listing is unstable, so nothing "
                "is decided from it."
            )
        return listing.rows

    def _page(
        self, url: str, query: Mapping[str, Any] | None, describe: str, number: int
    ) -> tuple[list[dict[str, Any]], requests.Response]:
        page_describe = f"{describe} (page {number})"
        response = self._send("GET", url, params=query, describe=page_describe)
        self._raise_for_status(response, page_describe)
        items = self._json(response, page_describe)
        if not isinstance(items, list):
            raise WaldurAPIError(f"{page_describe}: expected a JSON array", status=response.status_code)
        return items, response

    def _next_link(self, response: requests.Response, describe: str) -> str | None:
        """The ``rel="next"`` URL, always on the configured scheme and host (None on the last page)."""
        url = response.links.get("next", {}).get("url")
        if url is None:
            return None
        relinked = relink(url, self.settings.api_url)
        if relinked is None:
            raise WaldurAPIError(f"{describe}: the next-page link leaves {self.settings.api_url}")
        if relinked != url and not self._relinking_logged:
            self._relinking_logged = True
            # Django behind a TLS-terminating proxy builds links from the scheme and host it was
            # reached by (http://, an internal name): only the path and query are Waldur's to say.
            self.log.debug(
                "%s: Waldur's next-page links name another scheme or host; following their path "
                "and query on %s.",
                describe,
                self.settings.api_url,
            )
        return relinked

    @staticmethod
    def _result_count(response: requests.Response) -> int | None:
        """The listing's ``X-Result-Count`` (None when the header is missing or bad)."""
        try:
            return int(response.headers.get("X-Result-Count", ""))
        except ValueError:
            return None
