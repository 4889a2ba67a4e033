"""WaldurHook against the in-memory Waldur sandbox over loopback (every request schema-checked)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.months import usage_date
from airflow_provider_cscs_dwdi.get_provider_info import WALDUR_CONNECTION_FIELDS
from airflow_provider_cscs_dwdi.hooks._http import RetryPolicy
from airflow_provider_cscs_dwdi.hooks.waldur import (
    DEFAULT_WRITE_CONCURRENCY,
    MAX_WRITE_CONCURRENCY,
    IncompleteListingError,
    WaldurAPIError,
    WaldurAuthError,
    WaldurHook,
    normalise_api_url,
    parse_settings,
    relink,
)
from sandbox.waldur_server import WaldurSandbox

NODE_HOURS = {"type": "nodeHours", "billing_type": "usage", "measured_unit": "node-hours"}
INSTANT_RETRIES = RetryPolicy(max_attempts=4, backoff_base=0.0, max_total_seconds=5.0)
CURRENT = "/api/marketplace-provider-resources/"

HookFactory = Callable[..., WaldurHook]


@pytest.fixture
def make_hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[HookFactory]:
    """``make_hook(sandbox, token=..., **extras)``: a hook on a fresh env-var connection."""
    hooks: list[WaldurHook] = []

    def make(sandbox: WaldurSandbox, *, token: str | None = None, **extra: Any) -> WaldurHook:
        connection = Connection(
            conn_id="waldur_test",
            conn_type="waldur",
            host=sandbox.url,
            password=token or sandbox.staff_token,
            extra=json.dumps(extra),
        )
        monkeypatch.setenv("AIRFLOW_CONN_WALDUR_TEST", connection.as_json())
        hook = WaldurHook("waldur_test", retry_policy=INSTANT_RETRIES)
        hooks.append(hook)
        return hook

    yield make
    for hook in hooks:
        hook.close()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("waldur.example.org", "https://waldur.example.org/api/"),
        ("https://waldur.example.org/", "https://waldur.example.org/api/"),
        ("https://waldur.example.org/api", "https://waldur.example.org/api/"),
        ("http://127.0.0.1:8080/api/", "http://127.0.0.1:8080/api/"),
        ("https://example.org/waldur", "https://example.org/waldur/api/"),
    ],
)
def test_host_is_normalised_to_the_api_root(host: str, expected: str) -> None:
    assert normalise_api_url(host) == expected


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"page_size": 101}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"write_concurrency": 0}, "write_concurrency"),
        ({"usage_date_support": "maybe"}, "usage_date_support"),
        ({"verify_tls": "yes please"}, "verify_tls"),
        ({"timeout_seconds": -1}, "timeout_seconds"),
        ({"timeout_seconds": "nan"}, "timeout_seconds"),
    ],
)
def test_bad_extras_are_configuration_errors(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_settings("https://waldur.example.org", None, "t0ken", extra)


def test_settings_repr_hides_the_token() -> None:
    settings = parse_settings("https://waldur.example.org", None, "very-secret-token", {})

    assert "very-secret-token" not in repr(settings)
    assert (settings.page_size, settings.write_concurrency, settings.verify_tls) == (
        100,
        DEFAULT_WRITE_CONCURRENCY,
        True,
    )


def test_the_connection_form_offers_the_hook_defaults() -> None:
    schema = WALDUR_CONNECTION_FIELDS["write_concurrency"]["schema"]

    assert (schema["default"], schema["maximum"]) == (DEFAULT_WRITE_CONCURRENCY, MAX_WRITE_CONCURRENCY)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_listing_reads_every_page_once_in_order(
    waldur_sandbox: WaldurSandbox, make_hook: HookFactory, concurrency: int
) -> None:
    offering = waldur_sandbox.add_offering("HPC", [NODE_HOURS])
    expected = {waldur_sandbox.add_resource(offering, f"g{i:03d}"): f"g{i:03d}" for i in range(250)}
    waldur_sandbox.add_resource(offering, "erred", state="Erred")
    hook = make_hook(waldur_sandbox, page_size=7, write_concurrency=concurrency)

    resources = hook.list_resources(offering)

    assert [(r["uuid"], r["backend_id"]) for r in resources] == list(expected.items())
    assert set(resources[0]) == {"uuid", "backend_id", "name", "state"}
    listing_requests = [r for r in waldur_sandbox.requests if r.path == CURRENT]
    assert len(listing_requests) == 36  # ceil(250 / 7): one request per page, no more
    assert waldur_sandbox.schema_violations == []


def test_503_bursts_and_429_are_retried(waldur_sandbox: WaldurSandbox, make_hook: HookFactory) -> None:
    offering = waldur_sandbox.add_offering("HPC", [NODE_HOURS])
    waldur_sandbox.add_resource(offering, "g1")
    waldur_sandbox.fail_next("GET", CURRENT, 503, times=2)
    waldur_sandbox.fail_next("GET", CURRENT, 429, headers={"Retry-After": "0"})
    hook = make_hook(waldur_sandbox)

    assert [r["backend_id"] for r in hook.list_resources(offering)] == ["g1"]
    assert [r.status for r in waldur_sandbox.requests] == [503, 503, 429, 200]
    assert waldur_sandbox.schema_violations == []


def test_a_400_is_not_retried_and_carries_wald_urs_reason(
    waldur_sandbox: WaldurSandbox, make_hook: HookFactory
) -> None:
    offering = waldur_sandbox.add_offering("HPC", [NODE_HOURS])
    resource = waldur_sandbox.add_resource(offering, "g1")
    hook = make_hook(waldur_sandbox)

    with pytest.raises(WaldurAPIError, match="These components are invalid: gpuHours") as raised:
        hook.set_usage(resource, [{"type": "gpuHours", "amount": "1.00"}], usage_date=None)

    assert raised.value.status == 400
    assert len(waldur_sandbox.requests) == 1
    assert waldur_sandbox.schema_violations == []


def test_expired_token_says_to_use_a_non_expiring_token(
    waldur_sandbox: WaldurSandbox, make_hook: HookFactory
) -> None:
    offering = waldur_sandbox.add_offering("HPC", [NODE_HOURS])
    waldur_sandbox.expire_token(waldur_sandbox.provider_token)
    hook = make_hook(waldur_sandbox, token=waldur_sandbox.provider_token)

    with pytest.raises(WaldurAuthError, match="non-expiring") as raised:
        hook.list_resources(offering)

    assert "service account" in str(raised.value)
    assert waldur_sandbox.provider_token not in str(raised.value)
    assert len(waldur_sandbox.requests) == 1


def test_set_usage_then_bulk_user_usages_on_8x(waldur_sandbox: WaldurSandbox, make_hook: HookFactory) -> None:
    offering = waldur_sandbox.add_offering("HPC", [NODE_HOURS])
    resource = waldur_sandbox.add_resource(offering, "g1")
    alice_url = waldur_sandbox.add_offering_user(offering, "alice")
    hook = make_hook(waldur_sandbox)
    period = f"{waldur_sandbox.today:%Y-%m}-01"

    hook.set_usage(resource, [{"type": "nodeHours", "amount": "7.50"}], usage_date=f"{period}T00:00:00Z")
    (row,) = hook.list_component_usages(offering, period)
    hook.set_user_usages(
        row["uuid"],
        [{"username": "alice", "usage": "5.00", "user": alice_url}, {"username": "bob", "usage": "2.50"}],
    )

    assert Decimal(row["usage"]) == Decimal("7.50")
    assert waldur_sandbox.user_usages(resource, "nodeHours", period) == {
        "alice": Decimal("5.00"),
        "bob": Decimal("2.50"),
    }
    assert {(u["username"], Decimal(u["usage"])) for u in hook.list_user_usages(offering, period)} == {
        ("alice", Decimal("5.00")),
        ("bob", Decimal("2.50")),
    }
    assert hook.list_offering_users(offering) == {"alice": alice_url}
    assert [r.path.rsplit("/", 2)[-2] for r in waldur_sandbox.requests if r.method == "POST"] == [
        "set_usage",
        "set_user_usages",
    ]
    assert waldur_sandbox.schema_violations == []


def test_user_usages_fall_back_to_the_single_form_on_7x(
    make_waldur_sandbox: Callable[..., WaldurSandbox], make_hook: HookFactory
) -> None:
    sandbox = make_waldur_sandbox(version="7")
    offering = sandbox.add_offering("HPC", [NODE_HOURS])
    first, second = sandbox.add_resource(offering, "g1"), sandbox.add_resource(offering, "g2")
    hook = make_hook(sandbox)
    period = f"{sandbox.today:%Y-%m}-01"
    for resource in (first, second):
        hook.set_usage(resource, [{"type": "nodeHours", "amount": "3.00"}], usage_date=None)
    rows = {row["resource_uuid"]: row["uuid"] for row in hook.list_component_usages(offering, period)}

    for resource in (first, second):
        hook.set_user_usages(
            rows[resource], [{"username": "alice", "usage": "1.00"}, {"username": "bob", "usage": "2.00"}]
        )

    for resource in (first, second):
        assert sandbox.user_usages(resource, "nodeHours", period) == {
            "alice": Decimal("1.00"),
            "bob": Decimal("2.00"),
        }
    user_writes = [r.path.rsplit("/", 2)[-2] for r in sandbox.requests if "user_usage" in r.path]
    # The bulk endpoint is tried once; after its 404 every write uses the single form.
    assert user_writes == ["set_user_usages"] + ["set_user_usage"] * 4
    assert sandbox.schema_violations == []


@pytest.mark.parametrize(
    ("version", "setting", "expected"),
    [("8", "auto", True), ("7", "auto", False), ("7", "honoured", True), ("8", "ignored", False)],
)
def test_date_support_is_detected_or_taken_from_the_connection(
    make_waldur_sandbox: Callable[..., WaldurSandbox],
    make_hook: HookFactory,
    version: str,
    setting: str,
    expected: bool,
) -> None:
    sandbox = make_waldur_sandbox(version=version)
    offering = sandbox.add_offering("HPC", [NODE_HOURS])
    sandbox.add_resource(offering, "g1")
    hook = make_hook(sandbox, usage_date_support=setting)

    assert hook.usage_date_honoured(offering) is expected
    assert hook.usage_date_honoured() is expected  # the offering is found through a resource
    assert sandbox.schema_violations == []


def test_test_connection_reports_success_and_failure(
    waldur_sandbox: WaldurSandbox, make_hook: HookFactory
) -> None:
    assert make_hook(waldur_sandbox).test_connection() == (True, "Connected to Waldur as staff (staff).")

    wrong = make_hook(waldur_sandbox, token="0" * 40)
    ok, message = wrong.test_connection()

    assert not ok
    assert "Invalid token." in message
    # The UI tests a copy stored under a random id: the message names no connection id ...
    assert "refused the API token of this connection" in message
    assert "waldur_test" not in message
    # ... while a task's error names the connection to fix.
    with pytest.raises(WaldurAuthError, match="refused the API token of connection 'waldur_test'"):
        wrong.list_resources(waldur_sandbox.add_offering("HPC", [NODE_HOURS]))
    assert waldur_sandbox.schema_violations == []


BULK_USER_USAGES = "POST /api/marketplace-component-usages/{uuid}/set_user_usages/"
SINGLE_USER_USAGE = "POST /api/marketplace-component-usages/{uuid}/set_user_usage/"


def _write_concurrently(hook: WaldurHook, rows: list[str], items: list[dict[str, str]], threads: int) -> None:
    """Every row's user usages, written by ``threads`` threads released at the same instant."""
    start = threading.Barrier(threads)

    def write(row: str) -> None:
        start.wait()
        hook.set_user_usages(row, items)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(write, rows[:threads]))
        list(pool.map(hook.set_user_usages, rows[threads:], [items] * len(rows[threads:])))


@pytest.mark.parametrize("concurrency", [4, 8])
def test_concurrent_writes_probe_the_bulk_endpoint_once_on_7x(
    make_waldur_sandbox: Callable[..., WaldurSandbox], make_hook: HookFactory, concurrency: int
) -> None:
    # The latency keeps the probe in flight while the other threads arrive.
    sandbox = make_waldur_sandbox(version="7", latency_seconds=0.02)
    offering = sandbox.add_offering("HPC", [NODE_HOURS])
    resources = [sandbox.add_resource(offering, f"g{i:02d}") for i in range(concurrency + 3)]
    hook = make_hook(sandbox, write_concurrency=concurrency)
    for resource in resources:
        hook.set_usage(resource, [{"type": "nodeHours", "amount": "3.00"}], usage_date=None)
    period = f"{sandbox.today:%Y-%m}-01"
    rows = {row["resource_uuid"]: row["uuid"] for row in hook.list_component_usages(offering, period)}
    items = [{"username": "alice", "usage": "1.00"}, {"username": "bob", "usage": "2.00"}]

    _write_concurrently(hook, [rows[resource] for resource in resources], items, concurrency)

    counts = sandbox.request_counts()
    assert counts[BULK_USER_USAGES] == 1
    assert counts[SINGLE_USER_USAGE] == 2 * len(resources)
    for resource in resources:
        assert sandbox.user_usages(resource, "nodeHours", period) == {
            "alice": Decimal("1.00"),
            "bob": Decimal("2.00"),
        }
    assert sandbox.schema_violations == []


def test_concurrent_writes_all_use_the_bulk_endpoint_on_8x(
    make_waldur_sandbox: Callable[..., WaldurSandbox], make_hook: HookFactory
) -> None:
    sandbox = make_waldur_sandbox(version="8", latency_seconds=0.02)
    offering = sandbox.add_offering("HPC", [NODE_HOURS])
    resources = [sandbox.add_resource(offering, f"g{i:02d}") for i in range(10)]
    hook = make_hook(sandbox, write_concurrency=6)
    period = f"{sandbox.today:%Y-%m}-01"
    for resource in resources:
        hook.set_usage(resource, [{"type": "nodeHours", "amount": "3.00"}], usage_date=None)
    rows = {row["resource_uuid"]: row["uuid"] for row in hook.list_component_usages(offering, period)}

    _write_concurrently(hook, [rows[r] for r in resources], [{"username": "alice", "usage": "3.00"}], 6)

    counts = sandbox.request_counts()
    assert (counts[BULK_USER_USAGES], counts[SINGLE_USER_USAGE]) == (len(resources), 0)
    assert all(sandbox.user_usages(r, "nodeHours", period) == {"alice": Decimal("3.00")} for r in resources)


@pytest.mark.parametrize("time_zone", ["America/Los_Angeles", "Pacific/Kiritimati", "Etc/GMT+12", "UTC"])
@pytest.mark.parametrize("today", [date(2026, 11, 3), date(2026, 11, 20)])
def test_every_month_lands_in_its_billing_period_whatever_the_server_time_zone(
    make_waldur_sandbox: Callable[..., WaldurSandbox], make_hook: HookFactory, time_zone: str, today: date
) -> None:
    sandbox = make_waldur_sandbox(version="8", time_zone=time_zone, today=today)
    offering = sandbox.add_offering("HPC", [NODE_HOURS])
    resource = sandbox.add_resource(offering, "g1")
    hook = make_hook(sandbox)  # staff: past months of a usage component are accepted
    now = datetime(today.year, today.month, today.day, 9, 30, tzinfo=UTC)
    months = [f"2025-{number:02d}" for number in range(11, 13)] + [
        f"2026-{number:02d}" for number in range(1, 12)
    ]

    for index, month in enumerate(months):
        hook.set_usage(
            resource, [{"type": "nodeHours", "amount": f"{index + 1}.00"}], usage_date=usage_date(month, now)
        )

    assert {month: sandbox.usage(resource, "nodeHours", f"{month}-01") for month in months} == {
        month: Decimal(f"{index + 1}.00") for index, month in enumerate(months)
    }
    assert sandbox.schema_violations == []


@pytest.mark.parametrize("concurrency", [1, 4])
def test_next_links_on_another_scheme_and_host_are_followed_on_the_configured_url(
    make_waldur_sandbox: Callable[..., WaldurSandbox], make_hook: HookFactory, concurrency: int
) -> None:
    sandbox = make_waldur_sandbox(advertised_url="http://internal-host:8000")
    offering = sandbox.add_offering("HPC", [NODE_HOURS])
    expected = [sandbox.add_resource(offering, f"g{i:02d}") for i in range(30)]
    users = {f"u{i:02d}": sandbox.add_offering_user(offering, f"u{i:02d}") for i in range(17)}
    hook = make_hook(sandbox, page_size=7, write_concurrency=concurrency)

    resources = hook.list_resources(offering)
    offering_users = hook.list_offering_users(offering)

    assert [resource["uuid"] for resource in resources] == expected
    assert offering_users == users
    assert all(url.startswith("http://internal-host:8000/api/") for url in offering_users.values())
    counts = sandbox.request_counts()
    assert counts["GET /api/marketplace-provider-resources/"] == 5  # ceil(30 / 7)
    assert counts["GET /api/marketplace-offering-users/"] == 3  # ceil(17 / 7)
    assert sandbox.schema_violations == []


def test_a_next_link_leaving_the_api_path_is_refused(
    waldur_sandbox: WaldurSandbox, make_hook: HookFactory
) -> None:
    offering = waldur_sandbox.add_offering("HPC", [NODE_HOURS])
    waldur_sandbox.add_resource(offering, "g1")
    waldur_sandbox.fail_next(
        "GET",
        CURRENT,
        200,
        body=[],
        headers={"Link": '<http://internal-host:8000/admin/users/?page=2>; rel="next"'},
    )
    hook = make_hook(waldur_sandbox)

    with pytest.raises(WaldurAPIError, match="next-page link leaves"):
        hook.list_resources(offering)

    assert len(waldur_sandbox.requests) == 1


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://waldur.example.org/api/x/?page=2", "https://waldur.example.org/api/x/?page=2"),
        ("http://internal-host:8000/api/x/?page=2&a=b", "https://waldur.example.org/api/x/?page=2&a=b"),
        ("http://waldur.example.org/api/x/?page=3", "https://waldur.example.org/api/x/?page=3"),
        ("https://evil.example.com/api/x/?page=2", "https://waldur.example.org/api/x/?page=2"),
        ("https://waldur.example.org/admin/?page=2", None),
        ("https://waldur.example.org/api/../admin/?page=2", None),
        ("https://waldur.example.org/api/%2e%2e/admin/?page=2", None),
        ("https://waldur.example.org/apiary/?page=2", None),
    ],
)
def test_relink_keeps_path_and_query_on_the_configured_base(link: str, expected: str | None) -> None:
    assert relink(link, "https://waldur.example.org/api/") == expected


@pytest.mark.parametrize("value", [0, "-1", "1.001", "abc", True, "1000000000000000000000"])
def test_max_usage_amount_must_be_a_positive_amount_waldur_can_hold(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="max_usage_amount"):
        parse_settings("https://waldur.example.org", None, "t0ken", {"max_usage_amount": value})


def test_max_usage_amount_defaults_below_waldurs_overflow_and_is_configurable() -> None:
    default = parse_settings("https://waldur.example.org", None, "t0ken", {})
    lowered = parse_settings("https://waldur.example.org", None, "t0ken", {"max_usage_amount": "5000.5"})

    assert default.max_usage_amount == Decimal("999999999999.99") < 10**12
    assert lowered.max_usage_amount == Decimal("5000.50")
    assert WALDUR_CONNECTION_FIELDS["max_usage_amount"]["schema"]["default"] == "999999999999.99"


def _offering_users_by_paginate(hook: WaldurHook, offering: str) -> dict[str, str]:
    params = {"offering_uuid": offering, "field": ["url", "username"]}
    rows = hook.paginate("marketplace-offering-users/", params, describe="Waldur offering users")
    return {str(row["username"]): str(row["url"]) for row in rows}


@pytest.mark.parametrize(
    "read",
    [WaldurHook.list_offering_users, _offering_users_by_paginate],
    ids=["list_offering_users", "paginate"],
)
def test_a_listing_short_of_its_count_is_read_again_and_never_taken_as_complete(
    waldur_sandbox: WaldurSandbox, make_hook: HookFactory, read: Callable[[WaldurHook, str], dict[str, str]]
) -> None:
    offering = waldur_sandbox.add_offering("HPC", [NODE_HOURS])
    urls = {name: waldur_sandbox.add_offering_user(offering, name) for name in ("alice", "bob", "carol")}
    hook = make_hook(waldur_sandbox)
    # A page that repeats one row where Waldur counts three: what tied rows do to a paged read.
    short = [{"url": urls["alice"], "username": "alice"}] * 3
    waldur_sandbox.fail_next(
        "GET", "marketplace-offering-users", 200, body=short, headers={"X-Result-Count": "3"}
    )

    assert read(hook, offering) == urls

    waldur_sandbox.fail_next(
        "GET", "marketplace-offering-users", 200, times=2, body=short, headers={"X-Result-Count": "3"}
    )
    with pytest.raises(IncompleteListingError, match=r"1 distinct of the 3 rows Waldur counts.*twice"):
        read(hook, offering)
