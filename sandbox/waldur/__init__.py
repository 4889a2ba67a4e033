"""In-memory Waldur Mastermind double that checks every request against Waldur's OpenAPI schema.

It reproduces the usage-reporting contract of Waldur's marketplace API (paths, query parameters,
bodies, status codes and DRF-style error bodies), including behaviour observed on real 7.x and 8.x
servers, so the WaldurHook and PushToWaldurOperator can be tested end to end over loopback HTTP.
Amounts are absolute totals (a resend overwrites); negative amounts are accepted like the real
server does, so refusing them is the client's job. Unknown resources are 400, not 404.

Layout (one concern per module)
    ``state``        the data model, seeding, writes, clock, time zone and version switches
    ``fields``       request parsing: DRF serializer fields, filters, write inputs
    ``handlers/``    one module per endpoint family: resources (and offerings with components),
                     component_usages (+ set_usage), user_usages, users (offering users, me)
    ``serialisers``  response rows; ``pagination``: Link / X-Result-Count pages
    ``routing``      route lookup, DRF token authentication, unimplemented filters
    ``schema``       the OpenAPI subset and the real server's known deviations from it
    ``recording``    recorded requests and injected faults; ``admin``: the ``/sandbox`` API
    ``server``       :class:`WaldurSandbox`, the HTTP server; ``cli``: ``python -m sandbox.waldur``

Versions
    ``"8"``: ``set_usage`` writes the month of ``date`` (in the server's time zone, UTC unless
    ``time_zone`` is set); bulk ``set_user_usages`` exists; components carry ``unit_factor``;
    resources carry ``offering_backend_id``; offering users carry ``state``; a service-provider
    token sending a past-month ``date`` for a usage-based (not prepaid) component gets 400 keyed
    ``date``.
    ``"7"``: ``date`` is ignored and the current month (the month of ``today``) is written; the
    bulk endpoint answers 404 (only ``set_user_usage`` exists); none of the 8.x fields.

Paging as Waldur 7.0.7 pages
    The component-usage and user-usage listings are ordered by (date, newest first; component
    type) only, and rows of equal key come back in a new order for each page request (seeded by
    ``listing_seed``, reproducible), so paging repeats some tied rows and skips others as the real
    server's database does. ``page_size`` is cut to 300 (Waldur's ``max_page_size``). On 7.x the
    user-usage listing ignores ``field=`` (its 20 keys) and the ``username`` filter (every row,
    as Django does with a filter the FilterSet lacks). Components carry 7.0.7's keys (``factor``,
    ``default_limit``, ``max_value``, ``min_value``, ``is_builtin``, ``max_available_limit``).

Schema checking (``validate=True``)
    Every ``/api/...`` request (path, query parameters, JSON body) is checked against
    ``waldur-openapi-8.0.5-usage-subset.yaml`` by :mod:`sandbox.openapi_check`. A failing request
    is appended to ``schema_violations`` and answered 400 ``{"detail": ..., "schema_violations":
    [...]}`` (404/405 when no such path/method exists). The sandbox is stricter than the real
    server in two ways, both to catch client bugs: unknown query parameters and unknown ``field``
    names are refused (the real server ignores them silently). Spec-valid filters the sandbox does
    not implement answer 501 rather than being ignored (an ignored filter would return wrong data).

Faults, timing and deployment shapes
    ``fail_next()`` answers matching requests with a chosen status, body and headers (before the
    request is handled, or after it with ``after_processing=True``: the write happens but the
    client sees the failure); ``latency_seconds`` is slept before every ``/api`` answer;
    ``request_counts()`` counts the requests per endpoint. Off by default: ``time_zone`` (the
    server's TIME_ZONE, which files ``set_usage`` dates) and ``advertised_url`` (absolute URLs
    built from another scheme/host, as behind a TLS-terminating proxy).

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

    python -m sandbox.waldur --port 8765 [--version 8] [--latency 0.005] [--today 2026-11-23]
        [--time-zone Europe/Zurich] [--advertised-url http://waldur.internal]
"""

from __future__ import annotations

from sandbox.waldur.cli import main
from sandbox.waldur.handlers.component_usages import BACKFILL_REFUSED
from sandbox.waldur.recording import RecordedRequest
from sandbox.waldur.routing import EXPIRED_TOKEN, INVALID_TOKEN, NO_CREDENTIALS
from sandbox.waldur.schema import RESPONSE_SCHEMA_DEVIATIONS, SCHEMA_PATH, waldur_api_checker
from sandbox.waldur.server import WaldurSandbox
from sandbox.waldur.state import BILLING_TYPES, RESOURCE_STATES

__all__ = [
    "BACKFILL_REFUSED",
    "BILLING_TYPES",
    "EXPIRED_TOKEN",
    "INVALID_TOKEN",
    "NO_CREDENTIALS",
    "RESOURCE_STATES",
    "RESPONSE_SCHEMA_DEVIATIONS",
    "SCHEMA_PATH",
    "RecordedRequest",
    "WaldurSandbox",
    "main",
    "waldur_api_checker",
]
