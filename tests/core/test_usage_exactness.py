"""UsageAggregator: amounts are exact Decimal sums, times unit_factor, rounded half up once."""

from __future__ import annotations

import random
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.components import parse_backend_components
from tests.core.usage_support import NODE_ONLY, THREE, report_of

CENT = Decimal("0.01")


def expected_amount(values: list[str], factor: str = "1") -> str:
    """Independent computation: exact Decimal sum, times the factor, one half-up rounding."""
    with localcontext(prec=500):
        total = sum((Decimal(value) for value in values), Decimal(0))
        return str((total * Decimal(factor)).quantize(CENT, rounding=ROUND_HALF_UP))


@pytest.mark.parametrize(
    ("values", "factor", "expected"),
    [
        (["0.1"] * 1000, "1", "100.00"),  # a float sum gives 99.9999999999986
        (["0.1", "0.2"], "1", "0.30"),
        (["0.1", "0.025"], "1", "0.13"),  # 0.125 -> half up
        (["0.125"], "1", "0.13"),
        (["0.005"], "1", "0.01"),
        (["2.675"], "1", "2.68"),  # round(2.675, 2) == 2.67 with floats
        (["1.004", "1.004"], "1", "2.01"),  # rounded once after summing, not per row (2.00)
        (["0.004", "0.004"], "1", "0.01"),
        (["0.01"], "0.5", "0.01"),  # 0.005 after the factor -> half up
        (["0.125"], "3.6", "0.45"),
        (["0.1"] * 3, "3.6", "1.08"),
        (["1.0049999999999999"], "1", "1.00"),
        (["0.0000001"] * 50_000, "1", "0.01"),  # 0.005 from many tiny rows
        (["123456789.123456789", "0.000000001"], "0.5", "61728394.56"),
        # 50 significant digits times 0.5 needs 51: rounded at 50 digits it would become "0.01".
        (["0.00" + "9" * 50], "0.5", "0.00"),
        (["0.00" + "9" * 25, "0." + "0" * 27 + "9" * 25], "1", "0.01"),
    ],
)
def test_amounts_are_exact_and_rounded_half_up_once(values: list[str], factor: str, expected: str) -> None:
    components = {"nodeHours": {"measured_unit": "h", "unit_factor": factor}}
    rows = ", ".join(f'{{"username": "a", "nodeHours": {value}}}' for value in values)

    report = report_of(f'{{"compute": [{{"account": "g1", "users": [{rows}]}}]}}', components=components)

    assert expected_amount(values, factor) == expected
    assert report["accounts"]["g1"]["total"]["nodeHours"] == expected
    assert report["accounts"]["g1"]["users"]["a"]["nodeHours"] == expected


def random_value(rng: random.Random) -> str:
    scale = rng.randint(0, 9)
    return str(Decimal(rng.randint(0, 10**7)).scaleb(-scale))


@pytest.mark.parametrize("components", [NODE_ONLY, THREE], ids=["one component", "three components"])
def test_random_months_match_a_brute_force_decimal_sum(components: dict[str, Any]) -> None:
    rng = random.Random(20261123)
    configs = parse_backend_components(components)
    fields = [config.dwdi_field for config in configs]
    totals_fields = {
        config.dwdi_field: "total" + config.dwdi_field[0].upper() + config.dwdi_field[1:]
        for config in configs
    }
    accounts = [f"g{index:02d}" for index in range(25)]
    # Brute force: every value ever sent, kept (the aggregator keeps only sums).
    user_values: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    total_values: dict[tuple[str, str], list[str]] = defaultdict(list)
    bodies = []
    for _page in range(6):
        compute = []
        for _entry in range(rng.randint(5, 15)):
            account = rng.choice(accounts)
            users = []
            entry_sums: dict[str, list[str]] = defaultdict(list)
            for _row in range(rng.randint(0, 60)):
                username = f"u{rng.randint(0, 12)}"
                row: dict[str, Any] = {"username": username, "usageDate": "2026-11-02"}
                for field in fields:
                    if rng.random() < 0.8:
                        value = random_value(rng)
                        row[field] = Decimal(value) if rng.random() < 0.9 else int(Decimal(value))
                        entry_sums[field].append(str(row[field]))
                        user_values[(account, username, field)].append(str(row[field]))
                users.append(row)
            entry: dict[str, Any] = {
                "account": account,
                "cluster": rng.choice(["daint", "eiger"]),
                "users": users,
            }
            for field in fields:
                if rng.random() < 0.5:
                    # An explicit total, never below its users (else it would be an issue).
                    extra = random_value(rng) if rng.random() < 0.5 else "0"
                    explicit = sum((Decimal(v) for v in entry_sums[field]), Decimal(extra))
                    entry[
                        totals_fields[field] if rng.random() < 0.7 else "account" + totals_fields[field][5:]
                    ] = explicit
                    total_values[(account, field)].append(str(explicit))
                else:
                    total_values[(account, field)].extend(entry_sums[field])
            compute.append(entry)
        bodies.append({"compute": compute})

    report = report_of(*bodies, components=components, requested_accounts=accounts)

    assert report["issues"] == []
    for config in configs:
        for account in accounts:
            expected = expected_amount(total_values[(account, config.dwdi_field)], str(config.unit_factor))
            assert report["accounts"][account]["total"][config.type] == expected, (account, config.type)
    expected_users: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    for (account, username, field), values in user_values.items():
        config = next(config for config in configs if config.dwdi_field == field)
        expected_users[account][username][config.type] = expected_amount(values, str(config.unit_factor))
    for account in accounts:
        assert report["accounts"][account]["users"] == expected_users.get(account, {}), account
    assert report["counts"]["user_rows"] == sum(
        len(entry["users"]) for body in bodies for entry in body["compute"]
    )
