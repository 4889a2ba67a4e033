"""What every DAG of an offering shares: DAG ids, tags, defaults and the trigger forms.

The DAG pages (:mod:`.dag_docs`) name the DAG ids and describe the forms, and the factory wires
them: both stand on this module, which stands on neither.

A trigger-form field is optional in Airflow's form only when its JSON type allows ``null``
(the form marks every other typed field as required); empty fields of these forms mean "all" or
"no", so each one allows it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param

from airflow_provider_cscs_dwdi.core.config import OfferingConfig
from airflow_provider_cscs_dwdi.core.months import MONTH_PATTERN as CORE_MONTH_PATTERN

#: The daily usage DAG of an offering.
DAG_ID_PREFIX = "cscs_dwdi_usage_"
#: The monthly closing DAG of an offering: one run per billing month, the unit of a backfill.
CLOSING_DAG_ID_PREFIX = "cscs_dwdi_close_"
#: The drift audit DAG of an offering: recomputes closed months and compares them with Waldur.
AUDIT_DAG_ID_PREFIX = "cscs_dwdi_audit_"
# Midnight on the 1st: each data interval is one whole month in the billing time zone.
MONTHLY_CRON = "0 0 1 * *"
# The trigger forms' month: the one month syntax of core.months, anchored for the JSON Schema.
MONTH_PATTERN = rf"^{CORE_MONTH_PATTERN}$"
COMMON_TAGS = ("cscs-dwdi", "waldur", "usage")
# Backfills can only create runs from this date on; early enough for any month still billable.
EARLIEST_RUN_DATE = (2024, 1, 1)
DEFAULT_ARGS = {
    "owner": "cscs-dwdi",
    # Hooks retry HTTP errors themselves; task retries cover lost workers and longer outages.
    # Every write is idempotent, so a retried push cannot double-bill.
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
}


def start_date(offering: OfferingConfig) -> pendulum.DateTime:
    """The first date runs may cover, in the billing time zone (the DAG's time zone comes from it).

    In that zone, so the run at midnight on the 1st closes the previous month.
    """
    return pendulum.datetime(*EARLIEST_RUN_DATE, tz=offering.billing_timezone)


def usage_params() -> dict[str, Param]:
    """The daily DAG's trigger form. Every field may stay empty: a scheduled run uses the defaults."""
    return {
        "month": _month_param(
            "Billing month",
            "YYYY-MM to report alone, e.g. 2026-11. Empty: the month of the run date "
            "(and, on the first days of a month, the previous one too).",
        ),
        **_shared_params(),
    }


def closing_params(month_closed_now: str) -> dict[str, Param]:
    """The closing DAG's trigger form.

    :param month_closed_now: the month a run triggered now with an empty **month** closes (the
        form says it; it is as fresh as the last parse of the DAG file).
    """
    return {
        "month": _month_param(
            "Month to close",
            "YYYY-MM of a month that has ended, e.g. 2026-11: this run closes it. Empty: the last "
            f"month that ended before the run's logical date (triggered now: {month_closed_now}); "
            "scheduled runs and backfills close the month of their data interval.",
        ),
        **_shared_params(),
    }


def _shared_params() -> dict[str, Param]:
    return {
        "accounts": Param(
            [],
            type=["null", "array"],
            items={"type": "string"},
            title="Accounts",
            description="DWDI accounts (Waldur backend IDs) to report, one per line. Empty: every "
            "resource of the offering. Accounts the offering does not know are ignored and logged.",
        ),
        "dry_run": _flag_param(
            "Dry run", "Compute and log what would be written to Waldur, without writing."
        ),
        "reconcile": _flag_param(
            "Reconcile",
            "Also write 0 for users that Waldur holds for the month but DWDI no longer reports (usage "
            "moved to another user). Off: only DWDI's own totals are written.",
        ),
    }


def audit_params() -> dict[str, Param]:
    """The audit's trigger form: empty, a scheduled audit compares and writes nothing."""
    return {
        "repair_month": _month_param(
            "Repair month",
            "YYYY-MM of one closed month whose differences this run writes to Waldur "
            "(through the push), then audits again. Empty: audit only, write nothing.",
        ),
        "dry_run": _flag_param(
            "Dry run", "With a repair month: log what the repair would write, without writing."
        ),
    }


def _month_param(title: str, description: str) -> Param:
    """An optional ``YYYY-MM`` field (empty: the run's own month)."""
    return Param(None, type=["null", "string"], pattern=MONTH_PATTERN, title=title, description=description)


def _flag_param(title: str, description: str) -> Param:
    """An optional switch, off unless ticked."""
    return Param(False, type=["null", "boolean"], title=title, description=description)
