"""A Waldur server that ignores the usage ``date`` (Waldur 7.x): what it can still be sent.

Such a server files every ``set_usage`` under the month in which it is called. So a month can be
written only while it is the current month in the billing time zone: a past month would
overwrite the current one. This module holds the two consequences in words and numbers: the
refusal of a past month, and how much of a month's end never reaches such a server (the time
between the last run that reported the month and its end).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.months import month_bounds, timezone_of

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_clock_time(text: str, *, name: str = "month_end_run") -> time:
    """``"23:45"`` -> ``time(23, 45)``; a ConfigurationError naming ``name`` for anything else."""
    match = _CLOCK.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ConfigurationError(f"{name}: expected a time of day HH:MM (00:00 to 23:59), got {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def past_month_refusal(month: str, current: str, billing_timezone: str, *, action: str = "push") -> str:
    """Why ``month`` (before ``current``) is not written to a server that ignores the usage date.

    :param action: what was asked: ``"push"`` or ``"repair"`` (the drift audit's).
    """
    advice = (
        "Push past months only to Waldur 8.x."
        if action == "push"
        else f"Past months can be {action}ed only on Waldur 8.x."
    )
    return (
        f"Refusing to {action} {month}: it is not the current month ({current} in {billing_timezone}) and "
        "this Waldur server ignores the usage date (Waldur 7.x, or usage_date_support=ignored on the "
        f"connection). It would overwrite the usage of {current}. {advice}"
    )


def unreported_month_end(
    month: str, billing_timezone: str, last_run: time | None
) -> tuple[datetime, timedelta]:
    """Where the part of ``month`` that never reaches a 7.x server begins, and how long it is.

    The last run that reports ``month`` as the current month is the daily run at 00:00 on its last
    day (whose month is that of the moment just before it), or the extra run at ``last_run`` on
    that day (the offering's ``month_end_run``). DWDI's usage after that moment is lost: the next
    run, at 00:00 on the 1st, finds the month already past. The length is real elapsed time, so a
    last day with a DST change counts 23 or 25 hours. DWDI's own delay comes on top of it.
    """
    zone = timezone_of(billing_timezone)
    _, last_day = month_bounds(month)
    start = datetime.combine(last_day, last_run or time(0, 0), tzinfo=zone)
    end = datetime.combine(last_day + timedelta(days=1), time(0, 0), tzinfo=zone)
    # Aware datetimes of one zone subtract as wall-clock times: compare them in UTC instead.
    return start, end.astimezone(UTC) - start.astimezone(UTC)


def month_end_loss_warning(month: str, billing_timezone: str, last_run: time | None) -> str:
    """The warning of a scheduled run that finds ``month`` past on a server that ignores the date."""
    start, lost = unreported_month_end(month, billing_timezone, last_run)
    length = _duration(lost)
    advice = (
        "Waldur 8.x honours the date and receives every month in full."
        if last_run
        else "To shrink this, set month_end_run (e.g. '23:45') on the offering: an extra run at that "
        "time on the last day of every month reports the month up to that moment. Waldur 8.x honours "
        "the date and receives every month in full."
    )
    return (
        f"{month} can no longer be written to this Waldur server, which ignores the usage date "
        f"(Waldur 7.x): the last {length} of {month} (from {start:%Y-%m-%d %H:%M} {billing_timezone}) "
        f"are lost, plus whatever DWDI had not yet recorded at that moment. Nothing is written for "
        f"{month} by this run. {advice}"
    )


def _duration(span: timedelta) -> str:
    """``24 hours``, ``15 minutes``, ``1 hour 30 minutes``."""
    hours, minutes = divmod(int(span.total_seconds()) // 60, 60)
    parts = [
        f"{value} {unit}{'' if value == 1 else 's'}"
        for value, unit in ((hours, "hour"), (minutes, "minute"))
        if value
    ]
    return " ".join(parts) or "0 minutes"
