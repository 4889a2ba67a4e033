"""Billing-month arithmetic: which month a run bills, and which days of it DWDI is asked for.

A run stands for an instant (its ``data_interval_end``, or ``run_after`` for manual runs). It bills
the month that contains the instant *one microsecond before*, in the billing time zone, so the
daily run at 00:00 on the 1st closes the previous month instead of opening an empty new one.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError, CscsDwdiError

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_ONE_MICROSECOND = timedelta(microseconds=1)


def parse_month(text: str) -> str:
    """Validate a ``YYYY-MM`` month and return it unchanged.

    :raises ConfigurationError: naming the value when it is not a real month.
    """
    match = _MONTH.match(text.strip()) if isinstance(text, str) else None
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise ConfigurationError(f"month must be YYYY-MM (for example 2026-11), got {text!r}")
    return text.strip()


def timezone_of(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; a ConfigurationError naming it when it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigurationError(f"billing_timezone: unknown IANA time zone {name!r}") from error


def _local_moment(run_instant: datetime, tz: str) -> datetime:
    if run_instant.tzinfo is None:
        raise ConfigurationError(f"run instant {run_instant.isoformat()} has no time zone")
    return (run_instant - _ONE_MICROSECOND).astimezone(timezone_of(tz))


def current_month(billing_timezone: str, now: datetime | None = None) -> str:
    """The month (``YYYY-MM``) of ``now`` (default: the current time) in the billing time zone."""
    moment = (now or datetime.now(UTC)).astimezone(timezone_of(billing_timezone))
    return moment.strftime("%Y-%m")


def billing_month(run_instant: datetime, tz: str) -> str:
    """The ``YYYY-MM`` month billed by a run standing for ``run_instant`` (time-zone aware)."""
    moment = _local_moment(run_instant, tz)
    return f"{moment.year:04d}-{moment.month:02d}"


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of ``month``."""
    year, number = (int(part) for part in parse_month(month).split("-"))
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def month_window(month: str, today: date) -> dict[str, str]:
    """The days of ``month`` that can have usage by ``today``: first day to min(last day, today).

    As in the seed plugin the current month is queried from its first day to today. A month that
    has not started yet has no window (``to`` before ``from`` would be meaningless), so it is an
    error rather than an empty query.
    """
    first, last = month_bounds(month)
    if today < first:
        raise ConfigurationError(f"month {month} has not started yet (today is {today.isoformat()})")
    return {"from": first.isoformat(), "to": min(last, today).isoformat()}


def previous_month(month: str) -> str:
    """The month before ``month``."""
    first, _ = month_bounds(month)
    before = first - timedelta(days=1)
    return f"{before.year:04d}-{before.month:02d}"


def months_to_report(
    run_instant: datetime, tz: str, *, reopen_days: int, previous_allowed: bool
) -> list[str]:
    """Months a scheduled run reports, oldest first.

    The billed month, plus the month before it during the first ``reopen_days`` days of the billed
    month, because DWDI data arrives late; only when the Waldur server honours a usage ``date``
    (``previous_allowed``), since older Waldur versions would overwrite the current month.
    """
    if reopen_days < 0:
        raise ConfigurationError(f"reopen_days must be >= 0, got {reopen_days}")
    moment = _local_moment(run_instant, tz)
    current = f"{moment.year:04d}-{moment.month:02d}"
    if previous_allowed and moment.day <= reopen_days:
        return [previous_month(current), current]
    return [current]


def closed_month(interval_start: datetime | None, run_after: datetime, tz: str) -> str:
    """The ``YYYY-MM`` month a monthly closing run bills.

    A run whose data interval is one billing month bills the month its interval starts in
    (backfills and scheduled runs). A manual run without a logical date has no interval: it bills
    the last month that has ended by ``run_after``, as Airflow's own inference would.
    """
    if interval_start is not None:
        if interval_start.tzinfo is None:
            raise ConfigurationError(f"data interval start {interval_start.isoformat()} has no time zone")
        moment = interval_start.astimezone(timezone_of(tz))
        return f"{moment.year:04d}-{moment.month:02d}"
    if run_after.tzinfo is None:
        raise ConfigurationError(f"run instant {run_after.isoformat()} has no time zone")
    current = run_after.astimezone(timezone_of(tz))
    return previous_month(f"{current.year:04d}-{current.month:02d}")


#: Every instant from 12:00 UTC on the 1st to 10:00 UTC on the last day lies in the month on a
#: clock anywhere from UTC-12 to UTC+14; the 15th at 12:00 UTC is the 15th (or early on the 16th)
#: on all of them.
_MID_MONTH_HOUR_UTC = 12
_MID_MONTH_DAY = 15
_FIRST_SAFE_HOUR_UTC = 12
#: Waldur refuses a usage ``date`` in the future; this much slack absorbs a worker's clock being
#: ahead of the server's.
CLOCK_SLACK = timedelta(minutes=10)


def usage_date(month: str, now: datetime) -> str:
    """The ``date`` to send with ``set_usage`` for ``month``, as ``YYYY-MM-DDTHH:MM:SSZ``.

    Waldur 8.x files a usage at the month ``date`` falls in on the server's own clock (its
    TIME_ZONE), and refuses a ``date`` in the future. So the date is the 15th at 12:00 UTC, which
    is in the month on every clock from UTC-12 to UTC+14; for the current month before that
    instant, it is ``now`` less :data:`CLOCK_SLACK`, which is also in the month everywhere once
    12:00 UTC on the 1st has passed.

    :param now: the current time (time-zone aware).
    :raises CscsDwdiError: before 12:00 UTC (plus the slack) on the 1st of ``month``: no instant
        that is not in the future falls in ``month`` on every server clock yet.
    """
    if now.tzinfo is None:
        raise ConfigurationError(f"now {now.isoformat()} has no time zone")
    first, _ = month_bounds(month)
    mid_month = datetime(first.year, first.month, _MID_MONTH_DAY, _MID_MONTH_HOUR_UTC, tzinfo=UTC)
    earliest = datetime(first.year, first.month, 1, _FIRST_SAFE_HOUR_UTC, tzinfo=UTC)
    latest_allowed = (now - CLOCK_SLACK).astimezone(UTC).replace(microsecond=0)
    chosen = min(mid_month, latest_allowed)
    if chosen < earliest:
        raise CscsDwdiError(
            f"Month {month} cannot be dated for Waldur before {earliest + CLOCK_SLACK:%Y-%m-%d %H:%M} UTC: "
            "an earlier date could fall in the previous month on a Waldur server west of UTC, and "
            "Waldur refuses dates in the future. Push it again after that time."
        )
    return chosen.strftime("%Y-%m-%dT%H:%M:%SZ")
