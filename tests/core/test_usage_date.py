"""What a Waldur server that ignores the usage date loses at a month's end, and the refusal text."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.usage_date import (
    month_end_loss_warning,
    parse_clock_time,
    past_month_refusal,
    unreported_month_end,
)


@pytest.mark.parametrize(
    ("month", "tz", "last_run", "start", "hours"),
    [
        ("2026-11", "Europe/Zurich", None, "2026-11-30T00:00:00+01:00", 24),
        # Leap year: February ends on the 29th.
        ("2024-02", "Europe/Zurich", None, "2024-02-29T00:00:00+01:00", 24),
        # 31 March 2024 is the last Sunday of March: Zurich skips 02:00-03:00, the day has 23 hours.
        ("2024-03", "Europe/Zurich", None, "2024-03-31T00:00:00+01:00", 23),
        # 31 October 2021 is the last Sunday of October: 02:00-03:00 happens twice, 25 hours.
        ("2021-10", "Europe/Zurich", None, "2021-10-31T00:00:00+02:00", 25),
        ("2024-03", "Europe/Zurich", time(23, 45), "2024-03-31T23:45:00+02:00", 0.25),
        ("2026-12", "UTC", time(22, 30), "2026-12-31T22:30:00+00:00", 1.5),
    ],
)
def test_the_unreported_end_is_real_elapsed_time_from_the_last_run(
    month: str, tz: str, last_run: time | None, start: str, hours: float
) -> None:
    begins, length = unreported_month_end(month, tz, last_run)

    assert begins.isoformat() == start
    assert length == timedelta(hours=hours)


def test_the_warning_names_the_month_the_loss_and_the_remedy() -> None:
    warning = month_end_loss_warning("2024-03", "Europe/Zurich", None)

    assert warning.startswith(
        "2024-03 can no longer be written to this Waldur server, which ignores the usage date"
    )
    assert "the last 23 hours of 2024-03 (from 2024-03-31 00:00 Europe/Zurich) are lost" in warning
    assert "set month_end_run (e.g. '23:45')" in warning
    assert "the last 1 hour 30 minutes of 2026-12" in month_end_loss_warning("2026-12", "UTC", time(22, 30))


@pytest.mark.parametrize("text", ["23:45", "00:00", "07:05"])
def test_a_clock_time_is_read(text: str) -> None:
    assert parse_clock_time(text).strftime("%H:%M") == text


@pytest.mark.parametrize("text", ["24:00", "23:60", "9:30", "23.45", "", "noon"])
def test_a_bad_clock_time_is_refused_naming_the_setting(text: str) -> None:
    with pytest.raises(
        ConfigurationError, match=rf"month_end_run: expected a time of day HH:MM .*got '{text}'"
    ):
        parse_clock_time(text)


def test_the_refusal_says_why_and_what_to_do() -> None:
    message = past_month_refusal("2026-10", "2026-11", "UTC")

    assert message.startswith("Refusing to push 2026-10: it is not the current month (2026-11 in UTC)")
    assert "would overwrite the usage of 2026-11" in message


def test_the_refusal_of_a_repair_speaks_of_a_repair() -> None:
    message = past_month_refusal("2026-10", "2026-11", "UTC", action="repair")

    assert message.startswith("Refusing to repair 2026-10: it is not the current month (2026-11 in UTC)")
    assert "push" not in message
    assert message.endswith("Past months can be repaired only on Waldur 8.x.")
