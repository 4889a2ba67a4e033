"""The billing month of a DAG run, as its tasks render it and its failure alert names it.

The daily DAG reports the month asked for in its trigger form, else the month of its run date
(:func:`core.months.billing_month`). The closing DAG closes the month asked for (which must have
ended), else the month its data interval starts in (:func:`core.months.closed_month`): scheduled
runs and backfills have one interval per month; a manual run's interval is the last month that
ended before its logical date.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.months import billing_month, closed_month, current_month, parse_month
from airflow_provider_cscs_dwdi.operators._clock import read_clock
from airflow_provider_cscs_dwdi.operators._params import blank_to_none, run_instant

if TYPE_CHECKING:
    from airflow.sdk import Context


@dataclass(frozen=True)
class MonthToClose:
    """The month a closing run closes, and why that one (for the run's log)."""

    month: str
    reason: str


def daily_run_month(context: Context, *, tz: str) -> str:
    """The month a daily run reported: the one asked for, else the month of its run date."""
    requested = (context.get("params") or {}).get("month")
    return str(requested) if requested else billing_month(run_instant(context), tz)


def month_to_close(
    asked: Any, interval_start: datetime | None, run_after: datetime, *, tz: str, now: datetime
) -> MonthToClose:
    """The month a closing run closes: ``asked`` (the trigger form's ``month``), else its interval's.

    :param now: the current time: an asked month must have ended by then in ``tz``.
    :raises ConfigurationError: ``asked`` is no ``YYYY-MM`` month, or a month that has not ended.
    """
    if blank_to_none(asked) is None:
        month = closed_month(interval_start, run_after, tz)
        if interval_start is None:
            reason = f"the last month that ended before the run ({run_after.isoformat()}), no month was asked"
        else:
            reason = (
                f"the month of the run's data interval (logical date {interval_start.isoformat()}), "
                "no month was asked"
            )
        return MonthToClose(month, reason)
    try:
        month = parse_month(str(asked))
    except ConfigurationError as error:
        raise ConfigurationError(f"month to close: {error}") from None
    current = current_month(tz, now)
    if month >= current:
        raise ConfigurationError(
            f"month to close: {month} has not ended yet in {tz} (the current month is {current}); "
            "a closing run closes a month that has ended: leave month empty or give an earlier one"
        )
    return MonthToClose(month, "asked for in the trigger form (month)")


def close_month_macro(
    task: Any, asked: Any, interval_start: datetime | None, run_after: datetime, *, tz: str
) -> str:
    """The closing DAG's ``month_to_close`` template macro: the month, logged with its reason.

    :raises AirflowFailException: the asked month cannot be closed (a retry would refuse it again).
    """
    try:
        chosen = month_to_close(asked, interval_start, run_after, tz=tz, now=read_clock(None))
    except ConfigurationError as error:
        raise AirflowFailException(str(error)) from None
    log: logging.Logger | Any = getattr(task, "log", None) or logging.getLogger(__name__)
    log.info("Closing %s: %s", chosen.month, chosen.reason)
    return chosen.month


def closing_run_month(context: Context, *, tz: str) -> str:
    """The month a closing run closed, for its failure alert: the one asked for (also when it was
    refused: the run was about it), else the month of its data interval."""
    asked = blank_to_none((context.get("params") or {}).get("month"))
    if asked is not None:
        return str(asked)
    return closed_month(context.get("data_interval_start"), context["dag_run"].run_after, tz)
