"""The month a run reports, as its tasks render it and its failure alert names it."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pendulum
import pytest

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.run_months import closing_run_month, daily_run_month, month_to_close

NOW = datetime(2026, 12, 6, 9, tzinfo=UTC)


def test_an_empty_month_closes_the_month_of_the_data_interval_and_says_so() -> None:
    chosen = month_to_close(
        None, pendulum.datetime(2026, 9, 1, tz="Europe/Zurich"), NOW, tz="Europe/Zurich", now=NOW
    )

    assert chosen.month == "2026-09"
    assert chosen.reason.startswith("the month of the run's data interval (logical date 2026-09-01")


def test_a_run_without_a_logical_date_closes_the_last_month_that_ended() -> None:
    chosen = month_to_close("", None, NOW, tz="Europe/Zurich", now=NOW)

    assert chosen.month == "2026-11"
    assert "the last month that ended before the run" in chosen.reason


@pytest.mark.parametrize("asked", ["2026-11", "2019-02"])
def test_a_month_that_has_ended_is_closed_as_asked(asked: str) -> None:
    chosen = month_to_close(asked, pendulum.datetime(2026, 9, 1, tz="UTC"), NOW, tz="UTC", now=NOW)

    assert (chosen.month, chosen.reason) == (asked, "asked for in the trigger form (month)")


def test_the_month_ends_in_the_billing_time_zone() -> None:
    # 23:30 UTC on 30 November is already December in Zurich: November has ended there, not in UTC.
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)

    assert month_to_close("2026-11", None, late, tz="Europe/Zurich", now=late).month == "2026-11"
    with pytest.raises(ConfigurationError, match=r"2026-11 has not ended yet in UTC"):
        month_to_close("2026-11", None, late, tz="UTC", now=late)


@pytest.mark.parametrize("asked", ["2026-12", "2027-01", "2026-13", "November", "2026-1"])
def test_a_month_that_cannot_be_closed_is_refused_naming_it(asked: str) -> None:
    with pytest.raises(ConfigurationError, match=f"month to close: .*{asked}"):
        month_to_close(asked, None, NOW, tz="Europe/Zurich", now=NOW)


def test_the_failure_alert_names_the_asked_month_else_the_interval_s() -> None:
    run = SimpleNamespace(run_after=NOW)
    interval = pendulum.datetime(2026, 9, 1, tz="Europe/Zurich")

    asked = {"params": {"month": "2026-03"}, "data_interval_start": interval, "dag_run": run}
    derived = {"params": {"month": None}, "data_interval_start": interval, "dag_run": run}
    assert closing_run_month(asked, tz="Europe/Zurich") == "2026-03"  # type: ignore[arg-type]
    assert closing_run_month(derived, tz="Europe/Zurich") == "2026-09"  # type: ignore[arg-type]
    daily = {"params": {"month": None}, "data_interval_end": NOW, "dag_run": run}
    assert daily_run_month(daily, tz="Europe/Zurich") == "2026-12"  # type: ignore[arg-type]
