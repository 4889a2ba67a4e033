"""The schedule of an offering's usage DAG: its ``schedule``, plus the optional month-end run.

A Waldur server that ignores the usage ``date`` (7.x) receives a month only while it is the
current month, so what DWDI records after the last run of a month never reaches it (see
``core.usage_date``). ``month_end_run: "HH:MM"`` adds a run at that time on the last day of
every month in the billing time zone, which reports the month up to that moment.

Cron has no "last day of the month" in its standard fields (``28-31`` matches up to four days),
but croniter, which Airflow's cron timetables use, reads ``L`` in the day-of-month field as the
last day of that month (29 February in a leap year). Both expressions run in one
``MultipleCronTriggerTimetable`` in the billing time zone, so a month's last day gets both runs.
"""

from __future__ import annotations

from airflow.timetables.base import Timetable
from airflow.timetables.trigger import MultipleCronTriggerTimetable
from airflow.utils.dates import cron_presets

from airflow_provider_cscs_dwdi.core.config import OfferingConfig
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.usage_date import parse_clock_time


def month_end_cron(month_end_run: str) -> str:
    """``"23:45"`` -> ``"45 23 L * *"``: that time on the last day of every month."""
    clock = parse_clock_time(month_end_run)
    return f"{clock.minute} {clock.hour} L * *"


def usage_schedule(offering: OfferingConfig) -> str | Timetable:
    """The offering's ``schedule`` as it is, or joined with its month-end run.

    :raises ConfigurationError: ``month_end_run`` with a schedule that is no cron expression or
        cron preset (``@once``, ``@continuous``): there is no series of runs to add it to.
    """
    if offering.month_end_run is None:
        return offering.schedule
    schedule = offering.schedule
    if schedule.startswith("@") and schedule not in cron_presets:
        raise ConfigurationError(
            f"offering {offering.name!r}: month_end_run needs a cron schedule (e.g. @daily or "
            f"'0 0 * * *'), got schedule {schedule!r}"
        )
    return MultipleCronTriggerTimetable(
        cron_presets.get(schedule, schedule),
        month_end_cron(offering.month_end_run),
        timezone=offering.billing_timezone,
    )
