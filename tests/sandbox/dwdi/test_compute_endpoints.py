"""The DWDI double's compute endpoints: the dataset, filters, month and day ranges, URL limit, explicit data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

from sandbox.dwdi_data import DwdiDataset
from sandbox.dwdi_server import DAY_PATH, MONTH_PATHS, DWDISandbox
from tests.sandbox.dwdi.helpers import (
    MONTH_PATH,
    TODAY,
    MakeSandbox,
    get,
    pairs,
)


@pytest.mark.parametrize("path", MONTH_PATHS)
def test_both_month_paths_serve_the_dataset(
    open_sandbox: DWDISandbox, dataset: DwdiDataset, session: requests.Session, path: str
) -> None:
    response = get(session, open_sandbox, path, **{"from": "2026-10", "to": "2026-10"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"compute": dataset.entries("2026-10")}
    # Floats go out as their exact three-decimal text.
    first = dataset.entries("2026-10")[0]
    assert f'"totalNodeHours": {first["totalNodeHours"]!r}' in response.text


def test_repeated_account_and_cluster_parameters_filter(
    open_sandbox: DWDISandbox, session: requests.Session
) -> None:
    month = {"from": "2026-10", "to": "2026-10"}
    both = get(session, open_sandbox, **month, account=["g001", "g002", "unknown"])
    assert pairs(both) == [("g001", "daint"), ("g001", "eiger"), ("g002", "daint"), ("g002", "eiger")]
    eiger = get(session, open_sandbox, **month, account=["g001", "g002"], cluster="eiger")
    assert pairs(eiger) == [("g001", "eiger"), ("g002", "eiger")]
    two_clusters = get(session, open_sandbox, **month, account="g001", cluster=["eiger", "daint"])
    assert pairs(two_clusters) == [("g001", "daint"), ("g001", "eiger")]
    assert pairs(get(session, open_sandbox, **month, cluster="alps")) == []
    assert open_sandbox.requests[0].query["account"] == ["g001", "g002", "unknown"]


def test_a_month_range_gives_one_entry_per_month(
    open_sandbox: DWDISandbox, dataset: DwdiDataset, session: requests.Session
) -> None:
    response = get(session, open_sandbox, **{"from": "2026-09", "to": "2026-12"}, account="g001")
    assert response.status_code == 200
    expected = [*dataset.entries("2026-09", ["g001"]), *dataset.entries("2026-10", ["g001"])]
    expected += dataset.entries("2026-11", ["g001"])  # and nothing for December (after today)
    assert response.json()["compute"] == expected
    assert len(expected) == 6


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"from": "2026-10"},
        {"to": "2026-10"},
        {"from": "2026-13", "to": "2026-13"},
        {"from": "2026-1", "to": "2026-01"},
        {"from": "2026-10-01", "to": "2026-10"},
        {"from": "", "to": "2026-10"},
        {"from": "2026-11", "to": "2026-10"},
        {"from": ["2026-10", "2026-11"], "to": "2026-11"},
        {"from": "1900-01", "to": "2100-12"},
    ],
)
def test_missing_or_bad_months_are_400(
    open_sandbox: DWDISandbox, session: requests.Session, query: dict[str, Any]
) -> None:
    response = get(session, open_sandbox, **query)
    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)
    assert open_sandbox.requests[-1].status == 400


def test_day_endpoint_cuts_rows_to_the_days_and_recomputes_totals(
    open_sandbox: DWDISandbox, dataset: DwdiDataset, session: requests.Session
) -> None:
    response = get(session, open_sandbox, DAY_PATH, **{"from": "2026-10-30", "to": "2026-11-02"})
    assert response.status_code == 200
    expected = []
    for month in ("2026-10", "2026-11"):
        for entry in dataset.entries(month):
            rows = [row for row in entry["users"] if "2026-10-30" <= row["usageDate"] <= "2026-11-02"]
            if rows:
                expected.append((entry["account"], entry["cluster"], rows))
    entries = response.json()["compute"]
    assert [(e["account"], e["cluster"], e["users"]) for e in entries] == expected
    assert len(expected) > 10
    for entry in entries:
        total = sum((Decimal(repr(row["nodeHours"])) for row in entry["users"]), Decimal(0))
        assert Decimal(repr(entry["totalNodeHours"])) == total
        if "totalGpuHours" in entry:
            gpu = sum((Decimal(repr(row["gpuHours"])) for row in entry["users"]), Decimal(0))
            assert Decimal(repr(entry["totalGpuHours"])) == gpu
    # One day ("ping"): only that day's rows.
    one_day = get(session, open_sandbox, DAY_PATH, **{"from": "2026-11-23", "to": "2026-11-23"})
    assert {row["usageDate"] for e in one_day.json()["compute"] for row in e["users"]} == {"2026-11-23"}


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-10", "to": "2026-10"},
        {"from": "2026-10-32", "to": "2026-11-01"},
        {"from": "2026-11-02", "to": "2026-11-01"},
    ],
)
def test_day_endpoint_bad_dates_are_400(
    open_sandbox: DWDISandbox, session: requests.Session, query: dict[str, str]
) -> None:
    assert get(session, open_sandbox, DAY_PATH, **query).status_code == 400


def test_unknown_path_is_404_and_other_methods_405(
    open_sandbox: DWDISandbox, session: requests.Session
) -> None:
    assert session.get(open_sandbox.url + "/api/v1/compute/nothing", timeout=10).status_code == 404
    response = session.post(open_sandbox.url + MONTH_PATH + "?from=2026-10&to=2026-10", timeout=10)
    assert response.status_code == 405


def test_long_request_targets_are_414(make_dwdi_sandbox: MakeSandbox, session: requests.Session) -> None:
    sandbox = make_dwdi_sandbox(max_url_bytes=300, dataset=DwdiDataset(accounts=["g1"], today=TODAY))
    base = f"{MONTH_PATH}?from=2026-10&to=2026-10"
    padding = "&account=" + "x" * (300 - len(base) - len("&account="))
    at_limit = base + padding
    assert len(at_limit) == 300
    assert session.get(sandbox.url + at_limit, timeout=10).status_code == 200
    response = session.get(sandbox.url + at_limit + "x", timeout=10)
    assert response.status_code == 414
    assert [(r.status, r.url_length) for r in sandbox.requests] == [(200, 300), (414, 301)]


def test_default_limit_counts_the_whole_query(open_sandbox: DWDISandbox, session: requests.Session) -> None:
    """About 800 account parameters do not fit in 8 KiB: the client has to split them."""
    accounts = [f"a{number:04d}" for number in range(800)]
    response = get(session, open_sandbox, **{"from": "2026-10", "to": "2026-10"}, account=accounts)
    assert response.status_code == 414
    assert response.headers["Connection"] == "close"  # the client must not reuse this socket
    assert open_sandbox.requests[-1].url_length > 8192
    assert get(session, open_sandbox, **{"from": "2026-10", "to": "2026-10"}, account=accounts[:400]).ok


# -------------------------------------------------------------------------- explicit data


def test_set_entries_overrides_one_month_as_is(open_sandbox: DWDISandbox, session: requests.Session) -> None:
    raw = [
        {"account": "x1", "cluster": "daint", "accountNodeHours": None, "users": [{"username": "a"}]},
        {"account": "x2", "cluster": "eiger", "totalNodeHours": "12", "users": []},
        {"cluster": "daint", "users": "not a list"},
        "not an object",
    ]
    open_sandbox.set_entries("2026-10", raw)
    raw[0]["account"] = "mutated later"  # the sandbox keeps its own copy
    month = {"from": "2026-10", "to": "2026-10"}
    served = get(session, open_sandbox, **month).json()["compute"]
    assert served[0]["account"] == "x1"
    assert served[1:] == raw[1:]
    # Filters drop only entries that name another account/cluster; malformed ones always come.
    filtered = get(session, open_sandbox, **month, account="x1", cluster="daint").json()["compute"]
    assert filtered == [served[0], served[2], served[3]]
    # Other months still come from the dataset; None restores the month.
    assert pairs(get(session, open_sandbox, **{"from": "2026-09", "to": "2026-09"}, account="g001"))
    open_sandbox.set_entries("2026-10", None)
    assert get(session, open_sandbox, **month, account="x1").json() == {"compute": []}


def test_no_dataset_serves_only_explicit_entries(
    make_dwdi_sandbox: MakeSandbox, session: requests.Session
) -> None:
    sandbox = make_dwdi_sandbox()
    assert get(session, sandbox, **{"from": "2026-10", "to": "2026-10"}).json() == {"compute": []}
    sandbox.set_entries("2026-10", [{"account": "g1", "cluster": "daint", "users": []}])
    assert pairs(get(session, sandbox, **{"from": "2026-09", "to": "2026-10"})) == [("g1", "daint")]


def test_raw_response_is_served_byte_for_byte(open_sandbox: DWDISandbox, session: requests.Session) -> None:
    open_sandbox.set_raw_response(b"<html>gateway</html>", "text/html", status=200, count=2)
    month = {"from": "2026-10", "to": "2026-10"}
    for _ in range(2):
        response = get(session, open_sandbox, **month)
        assert (response.status_code, response.content) == (200, b"<html>gateway</html>")
        assert response.headers["Content-Type"] == "text/html"
    assert get(session, open_sandbox, **month).json()["compute"]
