"""Which months an audit run recomputes: the last N closed ones, and an older month to repair."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError
from airflow_provider_cscs_dwdi.core.months import audited_months

# 23:30 UTC on 30 November is already 1 December in Zurich: November is closed there.
NOW = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)


def test_the_last_closed_months_in_the_billing_time_zone_oldest_first() -> None:
    assert audited_months(3, "Europe/Zurich", repair_month=None, now=NOW) == ["2026-09", "2026-10", "2026-11"]
    assert audited_months(2, "UTC", repair_month=None, now=NOW) == ["2026-09", "2026-10"]


def test_a_repair_month_among_them_adds_nothing_and_an_older_closed_one_is_added() -> None:
    assert audited_months(2, "UTC", repair_month="2026-10", now=NOW) == ["2026-09", "2026-10"]
    assert audited_months(2, "UTC", repair_month="2025-12", now=NOW) == ["2025-12", "2026-09", "2026-10"]


@pytest.mark.parametrize("month", ["2026-11", "2027-01"])
def test_a_month_that_is_not_closed_cannot_be_repaired(month: str) -> None:
    with pytest.raises(CscsDwdiError, match=f"repair_month {month} is not closed yet"):
        audited_months(2, "UTC", repair_month=month, now=NOW)


def test_a_repair_month_that_is_no_month_is_refused() -> None:
    with pytest.raises(CscsDwdiError, match="month must be YYYY-MM"):
        audited_months(2, "UTC", repair_month="November", now=NOW)
