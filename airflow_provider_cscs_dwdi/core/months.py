"""Billing-month arithmetic: which month a run bills, and which days of it DWDI is asked for.

A run stands for an instant (its ``data_interval_end``, or ``run_after`` for manual runs). It bills
the month that contains the instant *one microsecond before*, in the billing time zone, so the
daily run at 00:00 on the 1st closes the previous month instead of opening an empty new one.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError, CscsDwdiError

#: The one spelling of a month, ``YYYY-MM`` (01 to 12): the DAGs' trigger form, the report's
#: ``month`` and the DWDI queries all match it.
MONTH_PATTERN = r"[0-9]{4}-(0[1-9]|1[0-2])"
_MONTH = re.compile(MONTH_PATTERN)
_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month; ``str(month)`` and its JSON (in a pydantic model) are ``YYYY-MM``.

    Months order by time, so ``min``/``max``/``sorted`` and comparisons read as a calendar does.
    """

    year: int
    number: int

    def __post_init__(self) -> None:
        if not 1 <= self.year <= 9999 or not 1 <= self.number <= 12:
            raise ConfigurationError(f"not a month: year {self.year}, month {self.number}")

    @classmethod
    def parse(cls, text: str) -> Month:
        """``"2026-11"`` (surrounding spaces allowed) -> ``Month(2026, 11)``.

        :raises ConfigurationError: naming the value when it is not a real month.
        """
        stripped = text.strip() if isinstance(text, str) else ""
        if not _MONTH.fullmatch(stripped) or int(stripped[:4]) < 1:
            raise ConfigurationError(f"month must be YYYY-MM (for example 2026-11), got {text!r}")
        return cls(int(stripped[:4]), int(stripped[5:]))

    @classmethod
    def of(cls, day: date) -> Month:
        """The month ``day`` (or a datetime, in its own time zone) falls in."""
        return cls(day.year, day.month)

    @property
    def first_day(self) -> date:
        return date(self.year, self.number, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.number, calendar.monthrange(self.year, self.number)[1])

    @property
    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.number == 1 else Month(self.year, self.number - 1)

    @property
    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.number == 12 else Month(self.year, self.number + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.number:02d}"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # Read from "YYYY-MM" (or a Month), written back as "YYYY-MM": XCom JSON keeps its shape.
        from_text = core_schema.no_info_after_validator_function(
            cls._from_text, core_schema.str_schema(pattern=f"^{MONTH_PATTERN}$")
        )
        return core_schema.json_or_python_schema(
            json_schema=from_text,
            python_schema=core_schema.union_schema([core_schema.is_instance_schema(cls), from_text]),
            serialization=core_schema.to_string_ser_schema(),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "pattern": f"^{MONTH_PATTERN}$"}

    @classmethod
    def _from_text(cls, text: str) -> Month:
        if int(text[:4]) < 1:
            raise ValueError(f"no year 0: {text!r}")
        return cls(int(text[:4]), int(text[5:]))


def parse_month(text: str) -> str:
    """Validate a ``YYYY-MM`` month and return it without surrounding spaces.

    :raises ConfigurationError: naming the value when it is not a real month.
    """
    return str(Month.parse(text))


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
    return str(Month.of((now or datetime.now(UTC)).astimezone(timezone_of(billing_timezone))))


def billing_month(run_instant: datetime, tz: str) -> str:
    """The ``YYYY-MM`` month billed by a run standing for ``run_instant`` (time-zone aware)."""
    return str(Month.of(_local_moment(run_instant, tz)))


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of ``month``."""
    parsed = Month.parse(month)
    return parsed.first_day, parsed.last_day


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
    return str(Month.parse(month).previous)


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
    current = Month.of(moment)
    if previous_allowed and moment.day <= reopen_days:
        return [str(current.previous), str(current)]
    return [str(current)]


def closed_month(interval_start: datetime | None, run_after: datetime, tz: str) -> str:
    """The ``YYYY-MM`` month a monthly closing run bills.

    A run whose data interval is one billing month bills the month its interval starts in
    (backfills and scheduled runs). A manual run without a logical date has no interval: it bills
    the last month that has ended by ``run_after``, as Airflow's own inference would.
    """
    if interval_start is not None:
        if interval_start.tzinfo is None:
            raise ConfigurationError(f"data interval start {interval_start.isoformat()} has no time zone")
        return str(Month.of(interval_start.astimezone(timezone_of(tz))))
    if run_after.tzinfo is None:
        raise ConfigurationError(f"run instant {run_after.isoformat()} has no time zone")
    return str(Month.of(run_after.astimezone(timezone_of(tz))).previous)


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
    first = Month.parse(month).first_day
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


def audited_months(
    count: int, billing_timezone: str, *, repair_month: str | None, now: datetime | None = None
) -> list[str]:
    """The last ``count`` closed months (before the current one in ``billing_timezone``), oldest
    first, plus ``repair_month`` when it is an older closed month.

    :raises CscsDwdiError: ``repair_month`` is not a ``YYYY-MM`` month, or is not closed yet.
    """
    current = Month.parse(current_month(billing_timezone, now))
    closed: list[Month] = []
    month = current
    for _ in range(count):
        month = month.previous
        closed.insert(0, month)
    if repair_month is not None:
        repair = Month.parse(repair_month)
        if repair >= current:
            raise CscsDwdiError(
                f"repair_month {repair} is not closed yet ({current} is the current month in "
                f"{billing_timezone}): only a closed month can be repaired."
            )
        if repair not in closed:
            closed.insert(0, repair)
    return [str(month) for month in closed]
