"""The Waldur sandbox pages listings like DRF behind Waldur: bare arrays, X-Result-Count, Link."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from sandbox.waldur import WaldurSandbox
from tests.sandbox.waldur_support import (
    NODE_HOURS,
    NOVEMBER,
    RESOURCES,
    TODAY,
    MakeSandbox,
    component_usage_url,
    node_hours,
    seeded,
    session,
    set_usage,
)


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


def test_default_page_size_is_10_and_a_larger_one_is_cut_to_300(waldur_sandbox: WaldurSandbox) -> None:
    # Waldur's max_page_size is 300: DRF answers a larger page_size with pages of 300.
    seeded(waldur_sandbox, resources=305)
    client = session(waldur_sandbox)

    default = client.get(waldur_sandbox.url + RESOURCES)
    capped = client.get(waldur_sandbox.url + RESOURCES, params={"page_size": 1000})

    assert len(default.json()) == 10
    assert len(capped.json()) == 300
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


def test_an_advertised_url_replaces_scheme_and_host_of_links_and_hyperlinks(
    make_waldur_sandbox: MakeSandbox,
) -> None:
    advertised = "http://waldur.internal:8080"
    sandbox = make_waldur_sandbox(today=TODAY, advertised_url=advertised + "/")
    offering, (resource, *_) = seeded(sandbox, resources=15)
    alice_url = sandbox.add_offering_user(offering, "alice")
    client = session(sandbox)

    first = client.get(sandbox.url + RESOURCES, params={"offering_uuid": offering})
    next_url = first.links["next"]["url"]
    # A client behind the proxy reaches the advertised address at the server's real one.
    second = client.get(sandbox.url + next_url.removeprefix(advertised))
    set_usage(sandbox, resource, node_hours("3.00"))
    linked = client.post(
        component_usage_url(sandbox, offering, NOVEMBER) + "set_user_usage/",
        json={"username": "alice", "usage": "3.00", "user": alice_url},
    )

    assert next_url == f"{advertised}{RESOURCES}?offering_uuid={offering}&page=2"
    assert first.json()[0]["url"] == f"{advertised}{RESOURCES}{resource}/"
    assert alice_url.startswith(f"{advertised}/api/marketplace-offering-users/")
    assert (second.status_code, len(second.json())) == (200, 5)
    assert linked.status_code == 201
    listed = client.get(sandbox.url + "/api/marketplace-component-user-usages/").json()
    assert [row["user"] for row in listed] == [alice_url]


def test_an_advertised_url_needs_a_scheme_and_a_host() -> None:
    with pytest.raises(ValueError, match="scheme and a host"):
        WaldurSandbox(advertised_url="waldur.internal")
