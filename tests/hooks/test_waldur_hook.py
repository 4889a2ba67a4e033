"""WaldurHook against the in-memory Waldur sandbox over loopback (every request schema-checked)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.hooks._http import RetryPolicy
from airflow_provider_cscs_dwdi.hooks.waldur import (
    WaldurAPIError,
    WaldurAuthError,
    WaldurHook,
    normalise_api_url,
    parse_settings,
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
    assert (settings.page_size, settings.write_concurrency, settings.verify_tls) == (100, 4, True)


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

    ok, message = make_hook(waldur_sandbox, token="0" * 40).test_connection()

    assert not ok
    assert "Invalid token." in message
    assert waldur_sandbox.schema_violations == []
