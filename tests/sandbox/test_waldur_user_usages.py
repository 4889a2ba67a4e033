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
