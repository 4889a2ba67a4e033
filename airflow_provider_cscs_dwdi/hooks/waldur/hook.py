"""WaldurHook: the usage-reporting part of Waldur's marketplace API over one pooled session.

Every call goes through :func:`send_with_retries` (connection errors, timeouts, 429 and
502/503/504 are retried with backoff; other answers are final). Listings follow the ``Link:
rel="next"`` header. Writes raise :class:`WaldurAPIError` carrying the status and Waldur's own
error text, so the operator can report one resource's 400 and go on with the others. A 401 raises
:class:`WaldurAuthError` at once: with a bad token nothing else can succeed either.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any
from urllib.parse import urljoin

import requests
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret
from requests.adapters import HTTPAdapter

from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError
from airflow_provider_cscs_dwdi.core.waldur_state import (
    UNSTABLE_LISTING,
    USAGE_ACCEPTING_STATES,
    UserUsageListing,
    resources_on_several_pages,
    row_key,
)
from airflow_provider_cscs_dwdi.hooks._http import LeanSession, RetryPolicy, send_with_retries
from airflow_provider_cscs_dwdi.hooks.waldur.errors import (
    EXPIRED_TOKEN_DETAIL,
    IncompleteListingError,
    WaldurAPIError,
    WaldurAuthError,
    error_detail,
)
from airflow_provider_cscs_dwdi.hooks.waldur.links import relink, with_page
from airflow_provider_cscs_dwdi.hooks.waldur.settings import WaldurSettings, checked_uuid, parse_settings

_RESOURCE_FIELDS = ("uuid", "backend_id", "name", "state")
_COMPONENT_USAGE_FIELDS = ("uuid", "resource_uuid", "type", "usage", "billing_period")
# uuid tells the rows apart, date and component_type are the listing's sort key (7.0.7 ignores
# field= here and returns all 20 keys anyway).
_USER_USAGE_FIELDS = ("uuid", "resource_uuid", "component_type", "username", "usage", "date")
_OFFERING_USER_FIELDS = ("url", "username")
#: Waldur's ``max_page_size``: a larger ``page_size`` is cut to it. Every page of the user-usage
#: listing is a chance to lose tied rows, and one page of a resource is complete by construction.
MAX_PAGE_SIZE = 300
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


class WaldurHook(BaseHook):
    """Talk to Waldur's usage-reporting API with the token of an Airflow connection.

    Connection type ``waldur``: host = Waldur API URL (with or without scheme and ``/api``),
    password = API token (sent as ``Authorization: Token ...``), extras ``timeout_seconds``,
    ``verify_tls``, ``page_size`` (<= 100), ``write_concurrency`` and ``usage_date_support``
    (``auto`` | ``honoured`` | ``ignored``). The session is shared by all threads of one push.

    :param waldur_conn_id: the Airflow connection id.
    :param retry_policy: how transient failures are retried.
    :param sleep: the sleep used between retries (tests make it instant).
    """

    conn_name_attr = "waldur_conn_id"
    default_conn_name = "waldur_default"
    conn_type = "waldur"
    hook_name = "Waldur"

    def __init__(
        self,
        waldur_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(logger_name=LOGGER_NAME)
        self.waldur_conn_id = waldur_conn_id
        self.retry_policy = retry_policy or RetryPolicy()
        self._sleep = sleep
        self._settings: WaldurSettings | None = None
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()
        # Whether the bulk set_user_usages endpoint exists (None: not known yet). One write probes
        # it while the others wait on the lock for the verdict: a 7.x server sees a single 404.
        self._bulk_user_usages: bool | None = None
        self._bulk_probe_lock = threading.Lock()
        self._relinking_logged = False
        # The UI's Test button runs test_connection on a copy of the connection stored under a
        # random id: naming that id would send the user looking for a connection that does not exist.
        self._naming_the_connection = True

    # ------------------------------------------------------------------ connection and session

    @property
    def settings(self) -> WaldurSettings:
        """The validated connection (read once)."""
        if self._settings is None:
            connection = self.get_connection(self.waldur_conn_id)
            self._settings = parse_settings(
                connection.host, connection.port, connection.password, connection.extra_dejson
            )
            # Airflow masks connection passwords it loads; masking here too covers every secrets
            # backend and keeps the token out of logs even if it is echoed in an error body.
            mask_secret(self._settings.token)
        return self._settings

    @property
    def session(self) -> requests.Session:
        """One pooled session, large enough for ``write_concurrency`` parallel writes."""
        with self._session_lock:
            if self._session is None:
                settings = self.settings
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
                session.headers.update(
                    {"Authorization": f"Token {settings.token}", "Accept": "application/json"}
                )
                self._session = session
            return self._session

    def close(self) -> None:
        """Release the pooled connections."""
        with self._session_lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def _send(self, method: str, url: str, *, describe: str, **request_kwargs: Any) -> requests.Response:
        response = send_with_retries(
            self.session,
            method,
            url,
            policy=self.retry_policy,
            log=self.log,
            describe=describe,
            sleep=self._sleep,
            timeout=self.settings.timeout_seconds,
            **request_kwargs,
        )
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
        """Yield every distinct item of a listing read in full (see :meth:`_read_listing`)."""
        yield from self._read_listing(path, params, describe=describe).rows

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

    # ------------------------------------------------------------------ reads

    def list_resources(
        self, offering_uuid: str, states: Sequence[str] = USAGE_ACCEPTING_STATES
    ) -> list[dict[str, Any]]:
        """The offering's resources in ``states`` (uuid, backend_id, name, state), verified complete."""
        params = {
            "offering_uuid": checked_uuid(offering_uuid, "offering_uuid"),
            "state": list(states),
            "field": list(_RESOURCE_FIELDS),
        }
        return self._read_in_full("marketplace-provider-resources/", params, describe="Waldur resources")

    def get_offering_components(self, offering_uuid: str) -> list[dict[str, Any]]:
        """The offering's components (type, billing_type, measured_unit, 8.x unit_factor, ...)."""
        offering = self._get(
            f"marketplace-provider-offerings/{checked_uuid(offering_uuid, 'offering_uuid')}/",
            {"field": ["components"]},
            "Waldur offering components",
        )
        return list(offering.get("components") or [])

    def list_component_usages(
        self, offering_uuid: str, billing_period: str, *, resource_uuids: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """Every component usage row of the offering for ``billing_period`` (``YYYY-MM-01``).

        The listing is ordered by date and component type only; on a server that stores the date
        the client sends (8.x), every resource of a month ties. When its distinct rows fall short of
        ``X-Result-Count``, each resource is read on its own (a few rows: one page, complete): those
        of ``resource_uuids``, by default the offering's resources in usage-accepting states.

        :raises ~airflow_provider_cscs_dwdi.hooks.waldur.errors.IncompleteListingError: even a resource's own listing fell short.
        """
        describe = f"Waldur usages {billing_period}"
        params = {
            "offering_uuid": checked_uuid(offering_uuid, "offering_uuid"),
            "billing_period": billing_period,
            "field": list(_COMPONENT_USAGE_FIELDS),
        }
        listing = self._read_listing("marketplace-component-usages/", params, describe=describe)
        if listing.complete:
            return listing.rows
        resources = sorted(
            {str(r["uuid"]) for r in self.list_resources(offering_uuid)}
            if resource_uuids is None
            else set(resource_uuids)
        )
        self.log.warning(
            "%s: %s (rows of equal date and component type page in no fixed order); reading the "
            "%d resource(s) one by one.",
            describe,
            listing.shortfall(),
            len(resources),
        )

        def of_resource(resource_uuid: str) -> list[dict[str, Any]]:
            return self._read_in_full(
                "marketplace-component-usages/",
                {**params, "resource_uuid": resource_uuid},
                describe=f"{describe} of resource {resource_uuid}",
            )

        with ThreadPoolExecutor(max_workers=self.settings.write_concurrency) as pool:
            return [row for rows in pool.map(of_resource, resources) for row in rows]

    def list_user_usages(self, offering_uuid: str, billing_period: str) -> list[dict[str, Any]]:
        """Every per-user usage of the offering for ``billing_period`` that could be read."""
        return [dict(row) for row in self.read_user_usages(offering_uuid, billing_period).rows]

    def read_user_usages(
        self,
        offering_uuid: str,
        billing_period: str,
        *,
        component_usages: Sequence[Mapping[str, Any]] | None = None,
    ) -> UserUsageListing:
        """The offering's user usages for ``billing_period`` (``YYYY-MM-01``), read completely.

        Waldur orders this listing by date and component type only, and its database returns rows
        of equal key in a new order for each page: a group of tied rows that straddles a page
        boundary can lose rows and repeat others. One offering-wide read (pages of
        ``MAX_PAGE_SIZE`` (300)) is checked against ``X-Result-Count``; on a shortfall the resources
        of the groups that straddle a page boundary are read one by one (a resource's page is
        complete when it holds all its rows), then, if the union still falls short, every other
        resource of ``component_usages`` (read here when not given). A resource with more rows than a
        page is read per component type; where a single type still has more, its user usages stay
        incomplete and the listing says so in ``incomplete``.
        """
        describe = f"Waldur user usages {billing_period}"
        params = {
            "offering_uuid": checked_uuid(offering_uuid, "offering_uuid"),
            "component_usage__billing_period": billing_period,
            "field": list(_USER_USAGE_FIELDS),
        }
        path = "marketplace-component-user-usages/"
        listing = self._read_listing(path, params, describe=describe, page_size=MAX_PAGE_SIZE)
        if listing.complete:
            return UserUsageListing(tuple(listing.rows))
        if component_usages is None:
            component_usages = self.list_component_usages(offering_uuid, billing_period)
        types_of: dict[str, set[str]] = {}
        for row in [*component_usages, *listing.rows]:
            component_type = row.get("type", row.get("component_type"))
            types_of.setdefault(str(row["resource_uuid"]), set()).add(str(component_type))
        rows = {row_key(row): row for row in listing.rows}
        incomplete: dict[str, str] = {}
        reread_already: set[str] = set()

        def of_resource(resource_uuid: str) -> tuple[list[dict[str, Any]], str | None]:
            where = {**params, "resource_uuid": resource_uuid}
            own = self._read_listing(
                path, where, describe=f"{describe} of resource {resource_uuid}", page_size=MAX_PAGE_SIZE
            )
            if own.complete:
                return own.rows, None
            # All rows of one component type tie: more than a page of them is read per type.
            read, short = list(own.rows), []
            for component_type in sorted(types_of.get(resource_uuid, ())):
                typed = self._read_listing(
                    path,
                    {**where, "type": component_type},
                    describe=f"{describe} of resource {resource_uuid} {component_type}",
                    page_size=MAX_PAGE_SIZE,
                )
                read += typed.rows
                if not typed.complete:
                    short.append(f"{component_type}: {typed.shortfall()}")
            return read, "; ".join(short) or None

        def reread(resources: Iterable[str]) -> None:
            chosen = sorted(set(resources))
            with ThreadPoolExecutor(max_workers=self.settings.write_concurrency) as pool:
                for resource_uuid, (resource_rows, reason) in zip(
                    chosen, pool.map(of_resource, chosen), strict=True
                ):
                    rows.update((row_key(row), row) for row in resource_rows)
                    if reason is not None:
                        incomplete[resource_uuid] = f"{UNSTABLE_LISTING}: {reason}"
            reread_already.update(chosen)

        straddling = resources_on_several_pages(listing.pages)
        self.log.warning(
            "%s: %s (rows of equal date and component type page in no fixed order); reading %d "
            "resource(s) whose rows straddle a page boundary one by one.",
            describe,
            listing.shortfall(),
            len(straddling),
        )
        reread(straddling)
        if listing.total is not None and len(rows) < listing.total:
            others = types_of.keys() - reread_already
            self.log.warning(
                "%s: still %d of %d rows; reading the other %d resource(s) one by one.",
                describe,
                len(rows),
                listing.total,
                len(others),
            )
            reread(others)
        if listing.total is not None and len(rows) < listing.total and not incomplete:
            # Every resource with a usage row was read on its own: what is missing belongs to
            # resources the month's usage listing did not show (none the push writes to).
            self.log.warning(
                "%s: %d of %d rows after reading every resource of the month's usages one by one.",
                describe,
                len(rows),
                listing.total,
            )
        return UserUsageListing(tuple(rows.values()), incomplete)

    def list_offering_users(self, offering_uuid: str) -> dict[str, str]:
        """``{username: offering user url}`` of the offering (to link user usages), verified complete."""
        params = {
            "offering_uuid": checked_uuid(offering_uuid, "offering_uuid"),
            "field": list(_OFFERING_USER_FIELDS),
        }
        return {
            str(row["username"]): str(row["url"])
            for row in self._read_in_full(
                "marketplace-offering-users/", params, describe="Waldur offering users"
            )
            if row.get("username")
        }

    def usage_date_honoured(
        self, offering_uuid: str | None = None, *, components: Sequence[Mapping[str, Any]] | None = None
    ) -> bool:
        """Whether ``set_usage`` writes the month of ``date`` (Waldur 8.x) rather than the current one.

        The connection extra ``usage_date_support`` decides; with ``auto`` the server is Waldur 8.x
        when offering components carry ``unit_factor``. ``components`` (already read) avoids a
        request; without an offering, the offering of any visible resource is inspected, and with
        no resource at all the safe answer is False.
        """
        support = self.settings.usage_date_support
        if support != "auto":
            return support == "honoured"
        if components is None:
            offering_uuid = offering_uuid or self._any_offering_uuid()
            if offering_uuid is None:
                self.log.warning("No Waldur resource visible: treating `date` as ignored (Waldur 7.x).")
                return False
            components = self.get_offering_components(offering_uuid)
        honoured = any("unit_factor" in component for component in components)
        self.log.info(
            "Waldur %s the usage `date` (detected from the offering components).",
            "honours" if honoured else "ignores",
        )
        return honoured

    def _any_offering_uuid(self) -> str | None:
        first_page = self._get(
            "marketplace-provider-resources/",
            {"page_size": 1, "field": ["offering_uuid"]},
            "Waldur resources (date support)",
        )
        return str(first_page[0]["offering_uuid"]) if first_page else None

    # ------------------------------------------------------------------ writes

    def set_usage(
        self, resource_uuid: str, usages: Sequence[Mapping[str, str]], *, usage_date: str | None
    ) -> None:
        """Write absolute component totals of one resource (``[{"type", "amount"}]``)."""
        body: dict[str, Any] = {
            "resource": checked_uuid(resource_uuid, "resource uuid"),
            "usages": list(usages),
        }
        if usage_date is not None:
            body["date"] = usage_date
        describe = f"Waldur set_usage for resource {resource_uuid}"
        response = self._send(
            "POST", self._url("marketplace-component-usages/set_usage/"), json=body, describe=describe
        )
        self._raise_for_status(response, describe, expected=201)

    def set_user_usages(self, component_usage_uuid: str, items: Sequence[Mapping[str, str]]) -> None:
        """Write per-user usages of one component usage row (``[{"username", "usage", "user"?}]``).

        Uses the 8.x bulk endpoint (one atomic request); where it answers 404 (Waldur 7.x) the
        items are sent one by one to ``set_user_usage`` instead.
        """
        if not items:
            return
        row = checked_uuid(component_usage_uuid, "component usage uuid")
        if self._bulk_user_usages is None:
            with self._bulk_probe_lock:
                if self._bulk_user_usages is None:
                    # A write that ends in an exception leaves the verdict open for the next one.
                    self._bulk_user_usages = self._post_user_usages_in_bulk(row, component_usage_uuid, items)
                    if self._bulk_user_usages:
                        return
                    self.log.info("Waldur has no bulk set_user_usages (7.x): writing user usages one by one.")
                    self._post_user_usages_one_by_one(row, component_usage_uuid, items)
                    return
        if self._bulk_user_usages:
            self._post_user_usages_in_bulk(row, component_usage_uuid, items)
        else:
            self._post_user_usages_one_by_one(row, component_usage_uuid, items)

    def _post_user_usages_in_bulk(
        self, row: str, component_usage_uuid: str, items: Sequence[Mapping[str, str]]
    ) -> bool:
        """One ``set_user_usages`` request; False when the endpoint does not exist (Waldur 7.x)."""
        describe = f"Waldur set_user_usages for usage {component_usage_uuid}"
        url = self._url(f"marketplace-component-usages/{row}/set_user_usages/")
        response = self._send("POST", url, json={"usages": list(items)}, describe=describe)
        if response.status_code == 404 and self._bulk_user_usages is None:
            return False
        self._raise_for_status(response, describe, expected=201)
        return True

    def _post_user_usages_one_by_one(
        self, row: str, component_usage_uuid: str, items: Sequence[Mapping[str, str]]
    ) -> None:
        for item in items:
            describe = f"Waldur set_user_usage {item['username']!r} for usage {component_usage_uuid}"
            url = self._url(f"marketplace-component-usages/{row}/set_user_usage/")
            response = self._send("POST", url, json=dict(item), describe=describe)
            self._raise_for_status(response, describe, expected=201)

    # ------------------------------------------------------------------ Airflow UI

    def test_connection(self) -> tuple[bool, str]:
        """Check the URL and the token with ``GET /api/users/me/`` (the UI's "Test" button).

        The messages say "this connection": Airflow tests the form's values under a random
        connection id, which the user never saw.
        """
        self._naming_the_connection = False
        try:
            me = self._get("users/me/", {"field": ["username", "is_staff"]}, "Waldur connection test")
        except (CscsDwdiError, requests.RequestException) as error:
            return False, str(error)
        finally:
            self._naming_the_connection = True
        role = "staff" if me.get("is_staff") else "not staff"
        return True, f"Connected to Waldur as {me.get('username')!s} ({role})."
