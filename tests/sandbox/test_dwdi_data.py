"""The generated DWDI usage: deterministic, exact decimals, totals that add up, no future days."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest

from sandbox.dwdi_data import DwdiDataset, parse_month

ACCOUNTS = [f"g{number:03d}" for number in range(1, 21)]
TODAY = date(2026, 11, 23)


def _dataset(**kwargs: object) -> DwdiDataset:
    arguments: dict[str, object] = {"accounts": ACCOUNTS, "today": TODAY}
    arguments.update(kwargs)
    return DwdiDataset(**arguments)  # type: ignore[arg-type]


def _exact(value: float) -> Decimal:
    return Decimal(repr(value))


def test_same_seed_same_data_other_seed_other_values() -> None:
    first = _dataset().entries("2026-10")
    assert first == _dataset().entries("2026-10")
    # The order the accounts are given in does not matter.
    assert first == _dataset(accounts=list(reversed(ACCOUNTS))).entries("2026-10")
    other = _dataset(seed=8).entries("2026-10")
    assert [(e["account"], e["cluster"]) for e in other] == [(e["account"], e["cluster"]) for e in first]
    assert other != first


def test_data_does_not_depend_on_the_interpreters_hash_seed() -> None:
    """str hashes are salted per process; the data must be the same in every process."""
    script = (
        "import json; from datetime import date; from sandbox.dwdi_data import DwdiDataset; "
        "print(json.dumps(DwdiDataset(accounts=['g001', 'g002'], today=date(2026, 11, 23)).entries('2026-10')))"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert json.loads(outputs.pop()) == _dataset(accounts=["g001", "g002"]).entries("2026-10")


def test_entry_shape_and_sorted_accounts() -> None:
    entries = _dataset().entries("2026-10")
    assert [e["account"] for e in entries] == sorted(e["account"] for e in entries)
    for entry in entries:
        assert set(entry) <= {"account", "cluster", "totalNodeHours", "totalGpuHours", "users"}
        assert entry["cluster"] in ("daint", "eiger")
        assert entry["users"]
        for row in entry["users"]:
            assert row["username"].startswith(f"{entry['account']}_u")
            assert set(row) <= {"username", "nodeHours", "gpuHours", "usageDate"}
            assert parse_month(row["usageDate"][:7]) == (2026, 10)


def test_values_are_exact_three_decimal_floats() -> None:
    for entry in _dataset().entries("2026-10"):
        values = [entry["totalNodeHours"], entry.get("totalGpuHours", 0.0)]
        values += [
            row[field] for row in entry["users"] for field in ("nodeHours", "gpuHours") if field in row
        ]
        for value in values:
            assert isinstance(value, float)
            # The JSON text (repr) has at most three decimals and is exactly the float's value.
            assert _exact(value) == _exact(value).quantize(Decimal("0.001"))
            assert json.dumps(value) == repr(value)


def test_entry_totals_are_the_exact_sums_of_their_rows() -> None:
    entries = _dataset().entries("2026-10")
    gpu_entries = 0
    for entry in entries:
        node = sum((_exact(row["nodeHours"]) for row in entry["users"]), Decimal(0))
        assert _exact(entry["totalNodeHours"]) == node
        if "totalGpuHours" in entry:
            gpu_entries += 1
            assert all("gpuHours" in row for row in entry["users"])
            gpu = sum((_exact(row["gpuHours"]) for row in entry["users"]), Decimal(0))
            assert _exact(entry["totalGpuHours"]) == gpu
        else:
            assert not any("gpuHours" in row for row in entry["users"])
    assert gpu_entries > 0


def test_profiles_no_usage_single_cluster_and_gpu_on_first_cluster() -> None:
    dataset = _dataset()
    entries = dataset.entries("2026-10")
    clusters: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        clusters[entry["account"]].add(entry["cluster"])
        if "totalGpuHours" in entry:
            assert entry["cluster"] == "daint"
    missing = set(ACCOUNTS) - set(clusters)
    assert len(missing) == 2  # one account in ten
    assert sum(1 for names in clusters.values() if names == {"daint", "eiger"}) >= 12
    assert any(names == {"daint"} for names in clusters.values())
    assert any(names == {"eiger"} for names in clusters.values())
    # Several users, each on several days.
    rows_per_user: dict[str, int] = defaultdict(int)
    for entry in entries:
        for row in entry["users"]:
            rows_per_user[row["username"]] += 1
    assert len({name.rsplit("_", 1)[0] for name in rows_per_user}) == 18
    assert min(rows_per_user.values()) >= 2


def test_current_month_stops_at_today_and_future_months_are_empty() -> None:
    dataset = _dataset()
    days = {row["usageDate"] for entry in dataset.entries("2026-11") for row in entry["users"]}
    assert days
    assert max(days) <= "2026-11-23"
    assert "2026-11-23" in days  # today itself counts
    assert dataset.entries("2026-12") == []
    assert dataset.entries("2027-01") == []
    assert dataset.expected_totals("2026-12")["g001"]["total"] == {
        "nodeHours": Decimal(0),
        "gpuHours": Decimal(0),
    }
    # A past month uses its whole length, up to the 31st.
    october = {row["usageDate"] for entry in dataset.entries("2026-10") for row in entry["users"]}
    assert max(october) > "2026-10-23"
    assert min(october) >= "2026-10-01"
    assert max(october) <= "2026-10-31"


def test_first_day_of_the_month() -> None:
    dataset = _dataset(today=date(2026, 11, 1))
    days = {row["usageDate"] for entry in dataset.entries("2026-11") for row in entry["users"]}
    assert days == {"2026-11-01"}


def test_account_and_cluster_filters() -> None:
    dataset = _dataset()
    entries = dataset.entries("2026-10", accounts=["g003", "g001", "nope"], clusters=["eiger"])
    assert {(e["account"], e["cluster"]) for e in entries} == {("g001", "eiger")}  # g003: daint only
    assert dataset.entries("2026-10", accounts=[]) == []
    everything = dataset.entries("2026-10")
    assert dataset.entries("2026-10", clusters=["daint", "eiger"]) == everything
    # The same (account, cluster) entry whether filtered or not.
    (single,) = dataset.entries("2026-10", accounts=["g002"], clusters=["daint"])
    assert single in everything


def test_seed_era_total_field_names() -> None:
    entries = _dataset(total_field="accountNodeHours").entries("2026-10")
    assert all("accountNodeHours" in e and "totalNodeHours" not in e for e in entries)
    assert any("accountGpuHours" in e for e in entries)
    assert not any("totalGpuHours" in e for e in entries)
    with pytest.raises(ValueError, match="NodeHours"):
        _dataset(total_field="total")


def test_expected_totals_are_independent_decimal_sums_of_the_rows() -> None:
    dataset = _dataset()
    expected = dataset.expected_totals("2026-10")
    assert set(expected) == set(ACCOUNTS)
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    users: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for entry in dataset.entries("2026-10"):
        totals[entry["account"]]["nodeHours"] += _exact(entry["totalNodeHours"])
        totals[entry["account"]]["gpuHours"] += _exact(entry.get("totalGpuHours", 0.0))
        for row in entry["users"]:
            for field in ("nodeHours", "gpuHours"):
                if field in row:
                    users[(entry["account"], row["username"])][field] += _exact(row[field])
    for account in ACCOUNTS:
        assert expected[account]["total"] == {
            "nodeHours": totals[account]["nodeHours"],
            "gpuHours": totals[account]["gpuHours"],
        }
        assert expected[account]["users"] == {
            username: dict(fields) for (owner, username), fields in users.items() if owner == account
        }
    no_usage = [account for account in ACCOUNTS if not expected[account]["users"]]
    assert len(no_usage) == 2
    assert expected[no_usage[0]]["total"] == {"nodeHours": Decimal(0), "gpuHours": Decimal(0)}


def test_expected_totals_respect_filters_and_report_unknown_accounts_as_zero() -> None:
    dataset = _dataset()
    expected = dataset.expected_totals("2026-10", accounts=["g001", "zz"], clusters=["eiger"])
    assert set(expected) == {"g001", "zz"}
    eiger = [e for e in dataset.entries("2026-10", accounts=["g001"]) if e["cluster"] == "eiger"]
    assert expected["g001"]["total"]["nodeHours"] == _exact(eiger[0]["totalNodeHours"])
    assert expected["g001"]["total"]["gpuHours"] == 0  # GPU usage is on daint only
    assert expected["zz"] == {"total": {"nodeHours": Decimal(0), "gpuHours": Decimal(0)}, "users": {}}


def test_some_amounts_sit_on_a_rounding_edge() -> None:
    """Rounding half up versus half even / truncation must make a visible difference."""
    dataset = _dataset()
    row_values = {_exact(row["nodeHours"]) for entry in dataset.entries("2026-10") for row in entry["users"]}
    assert Decimal("0.005") in row_values or Decimal("1.125") in row_values
    edges = [
        amount
        for month in ("2026-09", "2026-10", "2026-11")
        for account in dataset.expected_totals(month).values()
        for amount in [
            *account["total"].values(),
            *(value for user in account["users"].values() for value in user.values()),
        ]
        if amount.as_tuple().exponent == -3 and amount.as_tuple().digits[-1] == 5
    ]
    assert edges, "no sum ends on a half cent"
