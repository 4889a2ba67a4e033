"""Billing-month arithmetic: the month a run bills, its window and the re-opened previous month."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ValidationError

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError, CscsDwdiError
from airflow_provider_cscs_dwdi.core.months import (
    MONTH_PATTERN,
    Month,
    billing_month,
    closed_month,
    month_bounds,
    month_window,
    months_to_report,
    parse_month,
    previous_month,
    usage_date,
)


@pytest.mark.parametrize("text", ["2026-11", " 2026-01 ", "1999-12"])
def test_parse_month_accepts_real_months(text: str) -> None:
    assert parse_month(text) == text.strip()


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "", "november", None])
def test_parse_month_rejects_everything_else_naming_the_value(text: object) -> None:
    with pytest.raises(ConfigurationError, match="YYYY-MM"):
        parse_month(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("instant", "tz", "expected"),
    [
        (datetime(2026, 11, 23, 0, 0, tzinfo=UTC), "UTC", "2026-11"),  # daily run mid-month
        (datetime(2026, 12, 1, 0, 0, tzinfo=UTC), "UTC", "2026-11"),  # 00:00 on the 1st closes November
        (datetime(2026, 12, 1, 0, 0, 0, 1, tzinfo=UTC), "UTC", "2026-12"),
        (datetime(2026, 1, 1, 0, 0, tzinfo=UTC), "UTC", "2025-12"),  # across the year
        # 23:30 UTC on Nov 30 is already Dec 1 in Zurich.
        (datetime(2026, 11, 30, 23, 30, tzinfo=UTC), "Europe/Zurich", "2026-12"),
        (datetime(2026, 11, 30, 23, 0, tzinfo=UTC), "Europe/Zurich", "2026-11"),  # exactly midnight local
        (datetime(2026, 12, 1, 0, 0, tzinfo=ZoneInfo("Europe/Zurich")), "UTC", "2026-11"),
    ],
)
def test_billing_month(instant: datetime, tz: str, expected: str) -> None:
    assert billing_month(instant, tz) == expected


def test_billing_month_needs_an_aware_instant_and_a_known_zone() -> None:
    with pytest.raises(ConfigurationError, match="time zone"):
        billing_month(datetime(2026, 11, 1), "UTC")
    with pytest.raises(ConfigurationError, match="Mars/Olympus"):
        billing_month(datetime(2026, 11, 1, tzinfo=UTC), "Mars/Olympus")


@pytest.mark.parametrize(
    ("month", "today", "expected"),
    [
        ("2026-11", date(2026, 11, 23), {"from": "2026-11-01", "to": "2026-11-23"}),
        ("2026-11", date(2026, 12, 1), {"from": "2026-11-01", "to": "2026-11-30"}),
        ("2024-02", date(2026, 1, 1), {"from": "2024-02-01", "to": "2024-02-29"}),  # leap year
        ("2026-11", date(2026, 11, 1), {"from": "2026-11-01", "to": "2026-11-01"}),
    ],
)
def test_month_window(month: str, today: date, expected: dict[str, str]) -> None:
    assert month_window(month, today) == expected


def test_month_window_refuses_future_month() -> None:
    with pytest.raises(ConfigurationError, match="not started"):
        month_window("2026-12", date(2026, 11, 23))


def test_previous_month_and_bounds() -> None:
    assert previous_month("2026-01") == "2025-12"
    assert previous_month("2026-03") == "2026-02"
    assert month_bounds("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))


@pytest.mark.parametrize(
    ("instant", "reopen_days", "previous_allowed", "expected"),
    [
        (datetime(2026, 11, 23, tzinfo=UTC), 3, True, ["2026-11"]),
        (datetime(2026, 11, 2, tzinfo=UTC), 3, True, ["2026-10", "2026-11"]),  # covers Nov 1
        (datetime(2026, 11, 4, tzinfo=UTC), 3, True, ["2026-10", "2026-11"]),  # covers Nov 3
        (datetime(2026, 11, 5, tzinfo=UTC), 3, True, ["2026-11"]),
        (datetime(2026, 11, 2, tzinfo=UTC), 3, False, ["2026-11"]),  # Waldur ignores `date`
        (datetime(2026, 12, 1, tzinfo=UTC), 3, True, ["2026-11"]),  # closing run: Nov is current
        (datetime(2026, 11, 2, tzinfo=UTC), 0, True, ["2026-11"]),
    ],
)
def test_months_to_report(
    instant: datetime, reopen_days: int, previous_allowed: bool, expected: list[str]
) -> None:
    assert (
        months_to_report(instant, "UTC", reopen_days=reopen_days, previous_allowed=previous_allowed)
        == expected
    )


ZURICH = ZoneInfo("Europe/Zurich")


@pytest.mark.parametrize(
    ("interval_start", "run_after", "expected"),
    [
        # Scheduled/backfill runs: the month the data interval starts in, in the billing zone
        # (1 January 00:00 in Zurich is still 31 December in UTC).
        (datetime(2026, 1, 1, tzinfo=ZURICH), datetime(2026, 2, 1, tzinfo=ZURICH), "2026-01"),
        (
            datetime(2025, 12, 31, 23, tzinfo=UTC),
            datetime(2026, 3, 5, tzinfo=UTC),
            "2026-01",
        ),
        # Manual run without a logical date: the last month that has ended.
        (None, datetime(2026, 3, 5, 12, tzinfo=ZURICH), "2026-02"),
        (None, datetime(2026, 1, 1, 0, 30, tzinfo=ZURICH), "2025-12"),
    ],
)
def test_closed_month(interval_start: datetime | None, run_after: datetime, expected: str) -> None:
    assert closed_month(interval_start, run_after, "Europe/Zurich") == expected


def test_closed_month_needs_aware_instants() -> None:
    with pytest.raises(ConfigurationError, match="no time zone"):
        closed_month(datetime(2026, 1, 1), datetime(2026, 2, 1, tzinfo=UTC), "UTC")
    with pytest.raises(ConfigurationError, match="no time zone"):
        closed_month(None, datetime(2026, 2, 1), "UTC")


#: UTC-12 and UTC+14 are the extreme offsets of any clock; the others are real server zones.
SERVER_ZONES = (
    "Etc/GMT+12",
    "America/Los_Angeles",
    "UTC",
    "Europe/Zurich",
    "Asia/Tokyo",
    "Pacific/Kiritimati",
)


@pytest.mark.parametrize(
    ("month", "now", "expected"),
    [
        # A past month: the 15th at 12:00 UTC.
        ("2026-10", datetime(2026, 11, 20, 8, 0, tzinfo=UTC), "2026-10-15T12:00:00Z"),
        ("2025-12", datetime(2026, 11, 20, 8, 0, tzinfo=UTC), "2025-12-15T12:00:00Z"),
        ("2024-02", datetime(2026, 11, 20, 8, 0, tzinfo=UTC), "2024-02-15T12:00:00Z"),
        # The current month after the 15th: the same.
        ("2026-11", datetime(2026, 11, 20, 8, 0, tzinfo=UTC), "2026-11-15T12:00:00Z"),
        # The current month before the 15th: now less 10 minutes, never in the future.
        ("2026-11", datetime(2026, 11, 3, 8, 0, 30, 999, tzinfo=UTC), "2026-11-03T07:50:30Z"),
        ("2026-11", datetime(2026, 11, 15, 12, 5, tzinfo=UTC), "2026-11-15T11:55:00Z"),
        ("2026-11", datetime(2026, 11, 1, 12, 10, tzinfo=UTC), "2026-11-01T12:00:00Z"),
        # An aware now in another zone is read as the instant it is.
        ("2026-11", datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Europe/Zurich")), "2026-11-02T07:50:00Z"),
    ],
)
def test_usage_date(month: str, now: datetime, expected: str) -> None:
    assert usage_date(month, now) == expected


@pytest.mark.parametrize("month", ["2026-01", "2026-02", "2026-03", "2026-11", "2026-12", "2028-02"])
@pytest.mark.parametrize("day_offset", [0, 1, 5, 30])
def test_usage_date_is_in_the_month_on_every_clock_and_never_in_the_future(
    month: str, day_offset: int
) -> None:
    first, _ = month_bounds(month)
    now = datetime(first.year, first.month, 1, 12, 10, tzinfo=UTC) + timedelta(days=day_offset, hours=3)
    sent = datetime.fromisoformat(usage_date(month, now).replace("Z", "+00:00"))

    assert sent <= now
    for zone in SERVER_ZONES:
        assert f"{sent.astimezone(ZoneInfo(zone)):%Y-%m}" == month, zone


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 12, 9, tzinfo=UTC),
        datetime(2026, 10, 31, 20, 0, tzinfo=UTC),  # already November at UTC+14, not in UTC
    ],
)
def test_usage_date_refuses_the_first_hours_of_the_month(now: datetime) -> None:
    with pytest.raises(CscsDwdiError, match="2026-11-01 12:10 UTC"):
        usage_date("2026-11", now)


def test_usage_date_needs_an_aware_now() -> None:
    with pytest.raises(ConfigurationError, match="time zone"):
        usage_date("2026-11", datetime(2026, 11, 20))


def test_a_month_is_read_from_text_and_written_back_as_text() -> None:
    month = Month.parse(" 2028-02 ")

    assert (month.year, month.number, str(month)) == (2028, 2, "2028-02")
    assert (month.first_day, month.last_day) == (date(2028, 2, 1), date(2028, 2, 29))
    assert str(month.previous) == "2028-01"
    assert str(Month.parse("2028-01").previous) == "2027-12"
    assert str(Month.parse("2027-12").next) == "2028-01"
    assert Month.of(date(2026, 11, 30)) == Month.parse("2026-11")


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "0000-05", "2026-1", "26-01", "", "2026-01-01"])
def test_a_month_refuses_what_is_not_a_month(text: str) -> None:
    with pytest.raises(ConfigurationError, match="month must be YYYY-MM"):
        Month.parse(text)


def test_months_order_as_the_calendar_does() -> None:
    months = [Month.parse(text) for text in ("2027-01", "2026-12", "2026-02")]

    assert [str(month) for month in sorted(months)] == ["2026-02", "2026-12", "2027-01"]
    assert Month.parse("2026-12") < Month.parse("2027-01")


def test_a_month_in_a_pydantic_model_is_yyyy_mm_in_json_and_in_the_schema() -> None:
    class Document(BaseModel):
        month: Month

    document = Document.model_validate_json('{"month": "2026-11"}')

    assert document.month == Month(2026, 11)
    assert document.model_dump(mode="json") == {"month": "2026-11"}
    assert document.model_dump_json() == '{"month":"2026-11"}'
    assert Document(month=Month(2026, 1)).month == Month(2026, 1)
    assert Document.model_json_schema()["properties"]["month"]["pattern"] == f"^{MONTH_PATTERN}$"
    for bad in ('{"month": "2026-13"}', '{"month": "0000-01"}', '{"month": 202611}'):
        with pytest.raises(ValidationError):
            Document.model_validate_json(bad)
