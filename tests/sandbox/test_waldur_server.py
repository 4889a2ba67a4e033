"""The Waldur sandbox behaves like the real server (waldur-api.md) and enforces the OpenAPI schema."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.openapi_check import load_document
from sandbox.waldur_server import (
    BACKFILL_REFUSED,
    EXPIRED_TOKEN,
    INVALID_TOKEN,
    NO_CREDENTIALS,
    SCHEMA_PATH,
    WaldurSandbox,
    waldur_api_checker,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 23)
NOVEMBER = "2026-11-01"
OCTOBER = "2026-10-01"
NODE_HOURS = {"type": "nodeHours", "billing_type": "usage", "measured_unit": "node-hours", "unit_factor": 1}
STORAGE = {"type": "storage", "billing_type": "limit", "measured_unit": "TB"}
LICENCE = {"type": "licence", "billing_type": "fixed", "measured_unit": "seat"}
SET_USAGE = "/api/marketplace-component-usages/set_usage/"
COMPONENT_USAGES = "/api/marketplace-component-usages/"
RESOURCES = "/api/marketplace-provider-resources/"

MakeSandbox = Callable[..., WaldurSandbox]


def session(sandbox: WaldurSandbox, token: str | None = None) -> requests.Session:
    """A client session authenticated with ``token`` (the staff token by default)."""
    client = requests.Session()
    client.headers["Authorization"] = f"Token {token or sandbox.staff_token}"
    return client


def seeded(sandbox: WaldurSandbox, resources: int = 1, **resource_kwargs: Any) -> tuple[str, list[str]]:
    """An offering with nodeHours (usage), storage (limit) and licence (fixed) plus resources."""
    offering = sandbox.add_offering("Eiger", [NODE_HOURS, STORAGE, LICENCE], backend_id="eiger")
    return offering, [
        sandbox.add_resource(offering, f"g{i:03d}", **resource_kwargs) for i in range(resources)
    ]


def set_usage(
    sandbox: WaldurSandbox,
    resource: str,
    usages: list[dict[str, Any]],
    *,
    token: str | None = None,
    **extra: Any,
) -> requests.Response:
    return session(sandbox, token).post(
        sandbox.url + SET_USAGE, json={"resource": resource, "usages": usages, **extra}
    )


def node_hours(amount: str) -> list[dict[str, str]]:
    return [{"type": "nodeHours", "amount": amount}]


def component_usage_uuid(sandbox: WaldurSandbox, offering: str, billing_period: str) -> str:
    rows = session(sandbox).get(
        sandbox.url + COMPONENT_USAGES, params={"offering_uuid": offering, "billing_period": billing_period}
    )
    assert rows.status_code == 200
    (row,) = rows.json()
    return row["uuid"]


# --------------------------------------------------------------------------- pagination


def test_pagination_follows_link_headers_across_pages(waldur_sandbox: WaldurSandbox) -> None:
    offering, resources = seeded(waldur_sandbox, resources=25)
    client = session(waldur_sandbox)
    url: str | None = waldur_sandbox.url + RESOURCES
    params: dict[str, Any] | None = {"offering_uuid": offering, "state": ["OK", "Updating"], "page_size": 10}
    seen: list[str] = []
    pages: list[requests.Response] = []
    while url:
        page = client.get(url, params=params)
        assert page.status_code == 200
        pages.append(page)
        seen += [row["uuid"] for row in page.json()]
        url, params = page.links.get("next", {}).get("url"), None

    assert seen == resources
    assert [len(page.json()) for page in pages] == [10, 10, 5]
    assert {page.headers["X-Result-Count"] for page in pages} == {"25"}
    assert set(pages[0].links) == {"first", "next", "last"}
    assert set(pages[1].links) == {"first", "prev", "next", "last"}
    assert set(pages[2].links) == {"first", "prev", "last"}
    assert "page=3" in pages[0].links["last"]["url"]
    assert "state=OK&state=Updating" in pages[0].links["next"]["url"]


def test_default_page_size_is_10_and_is_capped_at_100(waldur_sandbox: WaldurSandbox) -> None:
    seeded(waldur_sandbox, resources=105)
    client = session(waldur_sandbox)

    default = client.get(waldur_sandbox.url + RESOURCES)
    capped = client.get(waldur_sandbox.url + RESOURCES, params={"page_size": 1000})

    assert len(default.json()) == 10
    assert len(capped.json()) == 100
    assert "next" in capped.links


def test_page_past_the_end_is_404_and_an_empty_listing_is_one_page(waldur_sandbox: WaldurSandbox) -> None:
    client = session(waldur_sandbox)

    empty = client.get(waldur_sandbox.url + RESOURCES)
    past_end = client.get(waldur_sandbox.url + RESOURCES, params={"page": 2})

    assert (empty.status_code, empty.json(), empty.headers["X-Result-Count"]) == (200, [], "0")
    assert "next" not in empty.links
    assert (past_end.status_code, past_end.json()) == (404, {"detail": "Invalid page."})


def test_listing_filters_by_state_and_limits_fields(waldur_sandbox: WaldurSandbox) -> None:
    offering = waldur_sandbox.add_offering("Eiger", [NODE_HOURS], backend_id="eiger")
    ok = waldur_sandbox.add_resource(offering, "g001")
    waldur_sandbox.add_resource(offering, "g002", state="Erred")

    rows = session(waldur_sandbox).get(
        waldur_sandbox.url + RESOURCES,
        params={
            "offering_uuid": offering,
            "state": "OK",
            "field": ["uuid", "backend_id", "offering_backend_id"],
        },
    )

    assert rows.json() == [{"uuid": ok, "backend_id": "g001", "offering_backend_id": "eiger"}]


# --------------------------------------------------------------------------- schema enforcement


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param({"usages": node_hours("1.234")}, "does not match", id="three-decimals"),
        pytest.param({"usages": node_hours("NaN")}, "does not match", id="nan"),
        pytest.param({"usages": node_hours("1" * 19)}, "does not match", id="twenty-one-digits"),
        pytest.param(
            {"usages": [{"type": "nodeHours", "amount": 1.5}]}, "is not of type 'string'", id="number"
        ),
        pytest.param({"usages": [{"amount": "1.00"}]}, "'type' is a required property", id="missing-type"),
        pytest.param({"resource": "not-a-uuid"}, "is not a 'uuid'", id="bad-uuid"),
    ],
)
def test_schema_rejects_bad_set_usage_bodies(
    waldur_sandbox: WaldurSandbox, body: dict[str, Any], problem: str
) -> None:
    _, (resource,) = seeded(waldur_sandbox)

    answer = session(waldur_sandbox).post(
        waldur_sandbox.url + SET_USAGE, json={"resource": resource, "usages": node_hours("1.00"), **body}
    )

    assert answer.status_code == 400
    assert problem in " ".join(answer.json()["schema_violations"])
    assert len(waldur_sandbox.schema_violations) == 1
    assert problem in waldur_sandbox.schema_violations[0]
    assert waldur_sandbox.usage(resource, "nodeHours", NOVEMBER) is None


def test_schema_rejects_missing_body_field_unknown_query_parameter_and_unknown_path(
    waldur_sandbox: WaldurSandbox,
) -> None:
    client = session(waldur_sandbox)

    no_usages = client.post(waldur_sandbox.url + SET_USAGE, json={"resource": "a" * 32})
    typo_filter = client.get(waldur_sandbox.url + COMPONENT_USAGES, params={"billing_periode": NOVEMBER})
    bad_state = client.get(waldur_sandbox.url + RESOURCES, params={"state": "ok"})
    no_slash = client.post(waldur_sandbox.url + SET_USAGE.rstrip("/"), json={"usages": []})

    assert [no_usages.status_code, typo_filter.status_code, bad_state.status_code] == [400, 400, 400]
    assert no_slash.status_code == 404
    violations = "\n".join(waldur_sandbox.schema_violations)
    assert len(waldur_sandbox.schema_violations) == 4
    assert "'usages' is a required property" in violations
    assert "'billing_periode' is not declared" in violations
    assert "'ok' is not an allowed value" in violations
    assert "no path template" in violations


def test_without_validation_the_server_still_validates_amounts_like_drf(
    make_waldur_sandbox: MakeSandbox,
) -> None:
    sandbox = make_waldur_sandbox(validate=False, today=TODAY)
    _, (resource,) = seeded(sandbox)

    answers = [set_usage(sandbox, resource, node_hours(amount)) for amount in ("1.234", "NaN", "1" * 21)]

    assert [answer.status_code for answer in answers] == [400, 400, 400]
    assert [answer.json()["usages"][0]["amount"] for answer in answers] == [
        ["Ensure that there are no more than 2 decimal places."],
        ["A valid number is required."],
        ["Ensure that there are no more than 20 digits in total."],
    ]
    assert sandbox.schema_violations == []


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


# --------------------------------------------------------------------------- per-user usage


def test_bulk_user_usages_upsert_per_username_and_link_offering_users(
    make_waldur_sandbox: MakeSandbox,
) -> None:
    sandbox = make_waldur_sandbox(today=TODAY)
    offering, (resource,) = seeded(sandbox)
    alice_url = sandbox.add_offering_user(offering, "alice")
    set_usage(sandbox, resource, node_hours("10.00"))
    bulk_url = (
        f"{sandbox.url}{COMPONENT_USAGES}{component_usage_uuid(sandbox, offering, NOVEMBER)}/set_user_usages/"
    )
    client = session(sandbox)

    first = client.post(
        bulk_url,
        json={
            "usages": [
                {"username": "alice", "usage": "4.00", "user": alice_url},
                {"username": "bob", "usage": "6.00"},
            ]
        },
    )
    second = client.post(
        bulk_url, json={"usages": [{"username": "alice", "usage": "5.00", "user": alice_url}]}
    )

    assert (first.status_code, first.content, second.status_code) == (201, b"", 201)
    # bob is not in the second report and keeps his value: the client must zero him explicitly.
    assert sandbox.user_usages(resource, "nodeHours", NOVEMBER) == {
        "alice": Decimal("5.00"),
        "bob": Decimal("6.00"),
    }
    listed = client.get(
        sandbox.url + "/api/marketplace-component-user-usages/",
        params={"offering_uuid": offering, "component_usage__billing_period": NOVEMBER},
    ).json()
    assert {row["username"]: (row["usage"], row["user"]) for row in listed} == {
        "alice": ("5.00", alice_url),
        "bob": ("6.00", None),
    }


def test_bulk_user_usages_are_atomic_and_refuse_an_empty_list(make_waldur_sandbox: MakeSandbox) -> None:
    sandbox = make_waldur_sandbox(today=TODAY, validate=False)
    offering, (resource,) = seeded(sandbox)
    set_usage(sandbox, resource, node_hours("10.00"))
    bulk_url = (
        f"{sandbox.url}{COMPONENT_USAGES}{component_usage_uuid(sandbox, offering, NOVEMBER)}/set_user_usages/"
    )
    client = session(sandbox)

    one_bad = client.post(
        bulk_url,
        json={"usages": [{"username": "alice", "usage": "4.00"}, {"username": "bob", "usage": "6.001"}]},
    )
    empty = client.post(bulk_url, json={"usages": []})

    assert (one_bad.status_code, one_bad.json()) == (
        400,
        {"usages": [{}, {"usage": ["Ensure that there are no more than 2 decimal places."]}]},
    )
    assert empty.status_code == 400
    assert sandbox.user_usages(resource, "nodeHours", NOVEMBER) == {}


def test_7x_has_only_the_single_user_usage_endpoint(make_waldur_sandbox: MakeSandbox) -> None:
    sandbox = make_waldur_sandbox(version="7", today=TODAY)
    offering, (resource,) = seeded(sandbox)
    set_usage(sandbox, resource, node_hours("10.00"))
    usage_url = f"{sandbox.url}{COMPONENT_USAGES}{component_usage_uuid(sandbox, offering, NOVEMBER)}"
    client = session(sandbox)

    bulk = client.post(
        f"{usage_url}/set_user_usages/", json={"usages": [{"username": "alice", "usage": "4.00"}]}
    )
    single = client.post(f"{usage_url}/set_user_usage/", json={"username": "alice", "usage": "4.00"})

    assert bulk.status_code == 404
    assert single.status_code == 201
    assert sandbox.user_usages(resource, "nodeHours", NOVEMBER) == {"alice": Decimal("4.00")}
    assert sandbox.schema_violations == []


def test_user_usage_for_an_unknown_component_usage_is_404(waldur_sandbox: WaldurSandbox) -> None:
    answer = session(waldur_sandbox).post(
        f"{waldur_sandbox.url}{COMPONENT_USAGES}{'e' * 32}/set_user_usage/",
        json={"username": "a", "usage": "1.00"},
    )

    assert (answer.status_code, answer.json()) == (404, {"detail": "Not found."})


# --------------------------------------------------------------------------- faults, auth, latency


def test_fault_injection_answers_first_then_lets_requests_through(make_waldur_sandbox: MakeSandbox) -> None:
    sandbox = make_waldur_sandbox(today=TODAY)
    _, (resource,) = seeded(sandbox)
    sandbox.fail_next("post", r"/set_usage/$", 503, times=2, headers={"Retry-After": "1"})

    answers = [set_usage(sandbox, resource, node_hours("2.00")) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [503, 503, 201]
    assert answers[0].headers["Retry-After"] == "1"
    assert [request.status for request in sandbox.requests] == [503, 503, 201]
    assert sandbox.usage(resource, "nodeHours", NOVEMBER) == Decimal("2.00")


def test_fault_after_processing_lets_the_write_happen(make_waldur_sandbox: MakeSandbox) -> None:
    sandbox = make_waldur_sandbox(today=TODAY)
    _, (resource,) = seeded(sandbox)
    sandbox.fail_next("POST", r"/set_usage/$", 504, body={"detail": "Gateway Timeout"}, after_processing=True)

    answer = set_usage(sandbox, resource, node_hours("9.00"))

    assert (answer.status_code, answer.json()) == (504, {"detail": "Gateway Timeout"})
    assert sandbox.usage(resource, "nodeHours", NOVEMBER) == Decimal("9.00")


def test_authentication_errors_have_the_drf_messages(waldur_sandbox: WaldurSandbox) -> None:
    me = waldur_sandbox.url + "/api/users/me/"

    missing = requests.get(me)
    unknown = requests.get(me, headers={"Authorization": "Token " + "0" * 40})
    waldur_sandbox.expire_token(waldur_sandbox.provider_token)
    expired = session(waldur_sandbox, waldur_sandbox.provider_token).get(me)
    staff = session(waldur_sandbox).get(me)

    assert [(r.status_code, r.json()["detail"]) for r in (missing, unknown, expired)] == [
        (401, NO_CREDENTIALS),
        (401, INVALID_TOKEN),
        (401, EXPIRED_TOKEN),
    ]
    assert (staff.status_code, staff.json()["is_staff"]) == (200, True)
    assert [request.status for request in waldur_sandbox.requests] == [401, 401, 401, 200]


def test_users_me_reflects_the_token(waldur_sandbox: WaldurSandbox) -> None:
    me = waldur_sandbox.url + "/api/users/me/"

    provider = session(waldur_sandbox, waldur_sandbox.provider_token).get(me).json()
    staff = session(waldur_sandbox, waldur_sandbox.staff_token).get(me).json()

    assert (provider["is_staff"], staff["is_staff"]) == (False, True)
    assert len(waldur_sandbox.staff_token) == len(waldur_sandbox.provider_token) == 40
    assert waldur_sandbox.staff_token not in repr(waldur_sandbox)


def test_latency_is_added_to_every_request(make_waldur_sandbox: MakeSandbox) -> None:
    sandbox = make_waldur_sandbox(latency_seconds=0.05)
    client = session(sandbox)

    started = time.perf_counter()
    client.get(sandbox.url + "/api/users/me/")

    assert time.perf_counter() - started >= 0.05


def test_requests_are_recorded_with_query_and_json(waldur_sandbox: WaldurSandbox) -> None:
    _, (resource,) = seeded(waldur_sandbox)
    set_usage(waldur_sandbox, resource, node_hours("1.50"))
    session(waldur_sandbox).get(waldur_sandbox.url + RESOURCES, params={"state": ["OK", "Updating"]})

    posted, listed = waldur_sandbox.requests
    assert (posted.method, posted.path, posted.status) == ("POST", SET_USAGE, 201)
    assert posted.json == {"resource": resource, "usages": [{"type": "nodeHours", "amount": "1.50"}]}
    assert (listed.method, listed.query) == ("GET", {"state": ["OK", "Updating"]})
    waldur_sandbox.reset_requests()
    assert waldur_sandbox.requests == []


# --------------------------------------------------------------------------- responses vs schema


def test_every_response_conforms_to_the_schema_with_the_documented_deviations(
    make_waldur_sandbox: MakeSandbox,
) -> None:
    checker = waldur_api_checker()
    for version in ("7", "8"):
        sandbox = make_waldur_sandbox(version=version, today=TODAY)
        offering, resources = seeded(sandbox, resources=2)
        alice_url = sandbox.add_offering_user(offering, "alice")
        set_usage(sandbox, resources[0], [*node_hours("10.50"), {"type": "storage", "amount": "3.00"}])
        usage_uuid = (
            session(sandbox)
            .get(sandbox.url + COMPONENT_USAGES, params={"offering_uuid": offering, "type": "nodeHours"})
            .json()[0]["uuid"]
        )
        session(sandbox).post(
            f"{sandbox.url}{COMPONENT_USAGES}{usage_uuid}/set_user_usage/",
            json={"username": "alice", "usage": "4.25", "user": alice_url},
        )
        session(sandbox).post(
            f"{sandbox.url}{COMPONENT_USAGES}{usage_uuid}/set_user_usage/",
            json={"username": "ghost", "usage": "1.00"},
        )
        for path in (
            RESOURCES,
            f"{RESOURCES}{resources[0]}/",
            f"/api/marketplace-provider-offerings/{offering}/",
            COMPONENT_USAGES,
            "/api/marketplace-component-user-usages/",
            "/api/marketplace-offering-users/",
            "/api/users/me/",
        ):
            answer = session(sandbox).get(sandbox.url + path)
            assert answer.status_code == 200, path
            assert answer.json(), path
            assert checker.check_response("GET", path, 200, answer.json()) == [], (version, path)


def test_the_documented_usage_deviation_is_real() -> None:
    """The published schema says integer; the real server (and the sandbox) send "10.50"."""
    schemas = load_document(SCHEMA_PATH)["components"]["schemas"]

    assert schemas["ComponentUsage"]["properties"]["usage"]["type"] == "integer"
    assert schemas["ComponentUserUsage"]["properties"]["usage"]["type"] == "integer"
    problems = waldur_api_checker().check_response("GET", COMPONENT_USAGES, 200, [{"usage": 10}])
    assert problems
    assert "is not of type 'string'" in problems[0]


# --------------------------------------------------------------------------- admin API and CLI


def test_admin_endpoints_seed_and_read_back_from_another_process_view(waldur_sandbox: WaldurSandbox) -> None:
    admin = requests.Session()
    base = waldur_sandbox.url + "/sandbox"
    offering = admin.post(f"{base}/offerings", json={"name": "Eiger", "components": [NODE_HOURS]}).json()[
        "uuid"
    ]
    resource = admin.post(f"{base}/resources", json={"offering_uuid": offering, "backend_id": "g001"}).json()[
        "uuid"
    ]
    admin.post(f"{base}/offering-users", json={"offering_uuid": offering, "username": "alice"})
    admin.post(f"{base}/today", json={"today": "2026-11-23"})
    set_usage(waldur_sandbox, resource, node_hours("8.00"))

    usages = admin.get(
        f"{base}/usages",
        params={"resource_uuid": resource, "component_type": "nodeHours", "billing_period": NOVEMBER},
    ).json()
    state = admin.get(f"{base}/state").json()
    bad = admin.post(f"{base}/resources", json={"offering_uuid": "nope", "backend_id": "x"})

    assert usages == {"usage": "8.00", "user_usages": {}}
    assert [u["username"] for u in state["offering_users"]] == ["alice"]
    assert bad.status_code == 400
    assert [r.path for r in waldur_sandbox.requests] == [SET_USAGE]


def test_command_line_prints_url_and_tokens_and_serves() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.waldur_server", "--port", "0", "--version", "7"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        me = requests.get(
            info["url"] + "/api/users/me/", headers={"Authorization": f"Token {info['staff_token']}"}
        )
        assert info["version"] == "7"
        assert (me.status_code, me.json()["is_staff"]) == (200, True)
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
