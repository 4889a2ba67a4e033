"""The Waldur sandbox pages listings like DRF behind Waldur: bare arrays, X-Result-Count, Link."""

from __future__ import annotations

from typing import Any

import requests

from sandbox.waldur_server import WaldurSandbox
from tests.sandbox.waldur_support import NODE_HOURS, RESOURCES, seeded, session


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
