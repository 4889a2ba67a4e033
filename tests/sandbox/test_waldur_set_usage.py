"""set_usage on the Waldur sandbox: absolute totals, validation, and the billing period by version."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from sandbox.waldur import BACKFILL_REFUSED, WaldurSandbox
from tests.sandbox.waldur_support import (
    COMPONENT_USAGES,
    NOVEMBER,
    OCTOBER,
    RESOURCES,
    TODAY,
    MakeSandbox,
    node_hours,
    seeded,
    session,
    set_usage,
)


def test_set_usage_is_an_absolute_total_that_overwrites(make_waldur_sandbox: MakeSandbox) -> None:
    sandbox = make_waldur_sandbox(today=TODAY)
    offering, (resource,) = seeded(sandbox)

    first = set_usage(sandbox, resource, node_hours("10.00"))
    second = set_usage(sandbox, resource, node_hours("7.25"))

    assert (first.status_code, first.content, second.status_code) == (201, b"", 201)
    assert sandbox.usage(resource, "nodeHours", NOVEMBER) == Decimal("7.25")
    rows = session(sandbox).get(sandbox.url + COMPONENT_USAGES, params={"offering_uuid": offering}).json()
    assert [(row["usage"], row["billing_period"]) for row in rows] == [("7.25", NOVEMBER)]


def test_negative_amounts_are_accepted_like_the_real_server(make_waldur_sandbox: MakeSandbox) -> None:
    sandbox = make_waldur_sandbox(today=TODAY)
    _, (resource,) = seeded(sandbox)

    answer = set_usage(sandbox, resource, node_hours("-3.00"))

    assert answer.status_code == 201
    assert sandbox.usage(resource, "nodeHours", NOVEMBER) == Decimal("-3.00")


def test_amounts_waldur_cannot_hold_are_answered_like_waldur_7_0_7(waldur_sandbox: WaldurSandbox) -> None:
    """Measured on Waldur 7.0.7: the invoice quantity overflows at 10^12 (500, rolled back)."""
    _, (resource,) = seeded(waldur_sandbox)
    largest = set_usage(waldur_sandbox, resource, node_hours("999999999999.99"))

    overflow = set_usage(waldur_sandbox, resource, node_hours("1000000000000.00"))
    too_long = set_usage(waldur_sandbox, resource, node_hours("1000000000000000000.00"))

    assert largest.status_code == 201
    assert overflow.status_code == 500
    assert "Server Error (500)" in overflow.text
    # Refused before any write (the message is DRF's, see test_waldur_schema.py).
    assert too_long.status_code == 400
    # Rolled back: the row still holds the largest amount that was stored.
    billing_period = date.today().replace(day=1).isoformat()
    assert waldur_sandbox.usage(resource, "nodeHours", billing_period) == Decimal("999999999999.99")


def test_unknown_or_fixed_component_types_are_invalid(waldur_sandbox: WaldurSandbox) -> None:
    _, (resource,) = seeded(waldur_sandbox)
    usages = [
        {"type": "cpuHours", "amount": "1.00"},
        {"type": "licence", "amount": "1.00"},
        *node_hours("1.00"),
    ]

    answer = set_usage(waldur_sandbox, resource, usages)

    assert (answer.status_code, answer.json()) == (
        400,
        {"non_field_errors": ["These components are invalid: cpuHours, licence."]},
    )
    assert waldur_sandbox.usage(resource, "nodeHours", date.today().replace(day=1).isoformat()) is None


@pytest.mark.parametrize("state", ["Erred", "Creating", "Terminated"])
def test_usage_for_a_resource_in_a_bad_state_is_refused(waldur_sandbox: WaldurSandbox, state: str) -> None:
    _, (resource,) = seeded(waldur_sandbox, state=state)

    answer = set_usage(waldur_sandbox, resource, node_hours("1.00"))

    assert (answer.status_code, answer.json()) == (400, {"resource": ["Resource is not in valid state."]})


def test_unknown_resource_is_400_not_404(waldur_sandbox: WaldurSandbox) -> None:
    seeded(waldur_sandbox)

    answer = set_usage(waldur_sandbox, "f" * 32, node_hours("1.00"))

    assert answer.status_code == 400
    assert list(answer.json()) == ["resource"]


# --------------------------------------------------------------------------- billing period by version


@pytest.mark.parametrize(("version", "written"), [("8", OCTOBER), ("7", NOVEMBER)])
def test_past_month_date_is_honoured_by_8x_and_ignored_by_7x(
    make_waldur_sandbox: MakeSandbox, version: str, written: str
) -> None:
    sandbox = make_waldur_sandbox(version=version, today=TODAY)
    _, (resource,) = seeded(sandbox)

    answer = set_usage(sandbox, resource, node_hours("42.00"), date="2026-10-01T00:00:00Z")

    assert answer.status_code == 201
    assert sandbox.usage(resource, "nodeHours", written) == Decimal("42.00")
    other_month = NOVEMBER if written == OCTOBER else OCTOBER
    assert sandbox.usage(resource, "nodeHours", other_month) is None


def test_date_is_read_in_the_servers_utc_time_zone(make_waldur_sandbox: MakeSandbox) -> None:
    sandbox = make_waldur_sandbox(today=TODAY)
    _, (resource,) = seeded(sandbox)

    # Midnight of 1 November in Zurich is still 31 October in UTC.
    answer = set_usage(sandbox, resource, node_hours("5.00"), date="2026-11-01T00:00:00+01:00")

    assert answer.status_code == 201
    assert sandbox.usage(resource, "nodeHours", OCTOBER) == Decimal("5.00")


def test_today_is_settable(make_waldur_sandbox: MakeSandbox) -> None:
    sandbox = make_waldur_sandbox(version="7", today=TODAY)
    _, (resource,) = seeded(sandbox)

    sandbox.today = date(2026, 12, 2)
    set_usage(sandbox, resource, node_hours("1.00"))

    assert sandbox.usage(resource, "nodeHours", "2026-12-01") == Decimal("1.00")


def test_provider_token_cannot_backfill_a_usage_component_on_8x(make_waldur_sandbox: MakeSandbox) -> None:
    sandbox = make_waldur_sandbox(today=TODAY)
    _, (resource,) = seeded(sandbox)
    past = {"date": "2026-10-01T00:00:00Z"}

    refused = set_usage(sandbox, resource, node_hours("1.00"), token=sandbox.provider_token, **past)
    limit_backfill = set_usage(
        sandbox, resource, [{"type": "storage", "amount": "2.00"}], token=sandbox.provider_token, **past
    )
    current_month = set_usage(
        sandbox, resource, node_hours("3.00"), token=sandbox.provider_token, date="2026-11-05T00:00:00Z"
    )
    staff_backfill = set_usage(sandbox, resource, node_hours("4.00"), token=sandbox.staff_token, **past)

    assert (refused.status_code, refused.json()) == (400, {"date": [BACKFILL_REFUSED]})
    assert [limit_backfill.status_code, current_month.status_code, staff_backfill.status_code] == [
        201,
        201,
        201,
    ]
    assert sandbox.usage(resource, "storage", OCTOBER) == Decimal("2.00")
    assert sandbox.usage(resource, "nodeHours", NOVEMBER) == Decimal("3.00")
    assert sandbox.usage(resource, "nodeHours", OCTOBER) == Decimal("4.00")


def test_components_and_resources_carry_8x_fields_only_on_8x(make_waldur_sandbox: MakeSandbox) -> None:
    documents = {}
    for version in ("7", "8"):
        sandbox = make_waldur_sandbox(version=version)
        offering, _ = seeded(sandbox)
        client = session(sandbox)
        offering_doc = client.get(
            f"{sandbox.url}/api/marketplace-provider-offerings/{offering}/", params={"field": "components"}
        ).json()
        resource_doc = client.get(sandbox.url + RESOURCES).json()[0]
        documents[version] = (offering_doc, resource_doc)

    (components_7, resource_7), (components_8, resource_8) = documents["7"], documents["8"]
    assert list(components_8) == ["components"]
    assert [c["unit_factor"] for c in components_8["components"]] == [1, 1, 1]
    assert all("unit_factor" not in c for c in components_7["components"])
    assert resource_8["offering_backend_id"] == "eiger"
    assert "offering_backend_id" not in resource_7


def test_a_server_time_zone_files_the_date_at_its_month_there(make_waldur_sandbox: MakeSandbox) -> None:
    # A naive date breaks the schema's date-time format (the real server takes it), so no schema check.
    sandbox = make_waldur_sandbox(today=TODAY, time_zone="Europe/Zurich", validate=False)
    _, (aware_resource, naive_resource) = seeded(sandbox, resources=2)

    # 23:30 UTC on 31 October is already 1 November in Zurich; a naive date is Zurich time.
    aware = set_usage(sandbox, aware_resource, node_hours("5.00"), date="2026-10-31T23:30:00Z")
    naive = set_usage(sandbox, naive_resource, node_hours("6.00"), date="2026-11-01T00:30:00")

    assert [aware.status_code, naive.status_code] == [201, 201]
    assert sandbox.usage(aware_resource, "nodeHours", NOVEMBER) == Decimal("5.00")
    assert sandbox.usage(aware_resource, "nodeHours", OCTOBER) is None
    assert sandbox.usage(naive_resource, "nodeHours", NOVEMBER) == Decimal("6.00")
    rows = session(sandbox).get(sandbox.url + COMPONENT_USAGES, params={"type": "nodeHours"}).json()
    # Dates come back in the server's zone, as DRF renders them with USE_TZ.
    assert sorted(row["date"] for row in rows) == ["2026-11-01T00:30:00+01:00", "2026-11-01T00:30:00+01:00"]
