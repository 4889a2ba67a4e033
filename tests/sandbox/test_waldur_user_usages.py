"""Per-user usages on the Waldur sandbox: single (7.x, 8.x) and bulk (8.x) writes, listing."""

from __future__ import annotations

from decimal import Decimal

from sandbox.waldur import WaldurSandbox
from tests.sandbox.waldur_support import (
    COMPONENT_USAGES,
    NOVEMBER,
    TODAY,
    MakeSandbox,
    component_usage_url,
    node_hours,
    seeded,
    session,
    set_usage,
)


def test_bulk_user_usages_upsert_per_username_and_link_offering_users(
    make_waldur_sandbox: MakeSandbox,
) -> None:
    sandbox = make_waldur_sandbox(today=TODAY)
    offering, (resource,) = seeded(sandbox)
    alice_url = sandbox.add_offering_user(offering, "alice")
    set_usage(sandbox, resource, node_hours("10.00"))
    bulk_url = component_usage_url(sandbox, offering, NOVEMBER) + "set_user_usages/"
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
    bulk_url = component_usage_url(sandbox, offering, NOVEMBER) + "set_user_usages/"
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
    usage_url = component_usage_url(sandbox, offering, NOVEMBER)
    client = session(sandbox)

    bulk = client.post(
        usage_url + "set_user_usages/", json={"usages": [{"username": "alice", "usage": "4.00"}]}
    )
    single = client.post(usage_url + "set_user_usage/", json={"username": "alice", "usage": "4.00"})

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


USER_USAGES = "/api/marketplace-component-user-usages/"


def _month_of_users(sandbox: WaldurSandbox, users: int) -> str:
    """One resource's November nodeHours with ``users`` user usages (all tied in the listing)."""
    offering, (resource,) = seeded(sandbox)
    assert set_usage(sandbox, resource, node_hours("1.00")).status_code == 201
    row_url = component_usage_url(sandbox, offering, NOVEMBER)
    client = session(sandbox)
    for number in range(users):
        reply = client.post(row_url + "set_user_usage/", json={"username": f"u{number:03d}", "usage": "1.00"})
        assert reply.status_code == 201
    return offering


def test_7x_pages_tied_user_usages_in_a_new_order_per_request_reproducibly(
    make_waldur_sandbox: MakeSandbox,
) -> None:
    def read(seed: int) -> tuple[list[list[str]], str]:
        sandbox = make_waldur_sandbox(version="7", today=TODAY, listing_seed=seed)
        offering = _month_of_users(sandbox, 30)
        query = {"offering_uuid": offering, "component_usage__billing_period": NOVEMBER, "page_size": 10}
        client = session(sandbox)
        pages = [
            [
                row["username"]
                for row in client.get(sandbox.url + USER_USAGES, params={**query, "page": page}).json()
            ]
            for page in (1, 2, 3, 1)
        ]
        count = client.get(sandbox.url + USER_USAGES, params=query).headers["X-Result-Count"]
        return pages, count

    pages, count = read(seed=3)
    seen = {username for page in pages[:3] for username in page}
    # The same page asked twice comes back in another order; paging loses and repeats rows.
    assert count == "30"
    assert pages[0] != pages[3]
    assert len(seen) < 30
    # From the seed, not the clock: a second server with the same seed answers the same.
    assert read(seed=3)[0] == pages
    assert read(seed=4)[0] != pages


def test_7x_user_usage_listing_ignores_field_and_username_and_cuts_pages_to_300(
    make_waldur_sandbox: MakeSandbox,
) -> None:
    sandbox = make_waldur_sandbox(version="7", today=TODAY)
    offering = _month_of_users(sandbox, 301)
    client = session(sandbox)
    query = {"offering_uuid": offering, "component_usage__billing_period": NOVEMBER}

    page = client.get(
        sandbox.url + USER_USAGES,
        params={**query, "username": "u007", "field": ["username"], "page_size": 1000},
    )

    assert page.status_code == 200
    assert page.headers["X-Result-Count"] == "301"
    assert len(page.json()) == 300
    assert len(page.json()[0]) == 20
    # 8.x (its API description) has the username filter and honours field=.
    sandbox8 = make_waldur_sandbox(version="8", today=TODAY)
    offering8 = _month_of_users(sandbox8, 3)
    rows = (
        session(sandbox8)
        .get(
            sandbox8.url + USER_USAGES,
            params={"offering_uuid": offering8, "username": "u001", "field": ["username"]},
        )
        .json()
    )
    assert rows == [{"username": "u001"}]


def test_offering_components_carry_the_keys_of_the_real_server(make_waldur_sandbox: MakeSandbox) -> None:
    real_7_0_7 = {
        "uuid", "billing_type", "type", "name", "description", "measured_unit", "limit_period",
        "limit_amount", "article_code", "max_value", "min_value", "max_available_limit", "is_boolean",
        "default_limit", "factor", "is_builtin",
    }  # fmt: skip
    for version, extra in (("7", set()), ("8", {"unit_factor", "is_prepaid"})):
        sandbox = make_waldur_sandbox(version=version, today=TODAY)
        offering, _ = seeded(sandbox)
        body = session(sandbox).get(f"{sandbox.url}/api/marketplace-provider-offerings/{offering}/").json()
        assert {frozenset(component) for component in body["components"]} == {frozenset(real_7_0_7 | extra)}
