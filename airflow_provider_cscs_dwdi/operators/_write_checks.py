"""What the write path checks and logs around a write: the month it may write, the plan it logs.

Split from :mod:`._waldur_writer` (the one write path), which calls these in order.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException

from airflow_provider_cscs_dwdi.core import months
from airflow_provider_cscs_dwdi.core.logs import Log
from airflow_provider_cscs_dwdi.core.plan_types import WritePlan
from airflow_provider_cscs_dwdi.core.usage_date import past_month_refusal
from airflow_provider_cscs_dwdi.core.waldur_plan import describe_plan
from airflow_provider_cscs_dwdi.core.xcom import UsageReport

#: How many issues the log lists of a report (the XCom result keeps as many).
LISTED_LIMIT = 50


def check_month(
    month: str,
    date_honoured: bool,
    billing_timezone: str,
    now: Any,
    log: Log,
    *,
    dry_run: bool,
    action: str,
) -> None:
    """Refuse a month the server would write into the wrong billing period (a dry run only warns)."""
    current = months.current_month(billing_timezone, now)
    if month > current:
        raise AirflowException(f"Month {month} is in the future ({current} in {billing_timezone}).")
    if month < current and not date_honoured:
        if dry_run:  # nothing is written: show the plan, and what a real run would do
            log.warning(
                "DRY RUN, a real run would stop here: %s",
                past_month_refusal(month, current, billing_timezone, action=action),
            )
            return
        raise AirflowException(past_month_refusal(month, current, billing_timezone, action=action))


def log_report_issues(report: UsageReport, log: Log) -> None:
    if report.issues:
        log.warning("The report left out %d bad DWDI record(s):", len(report.issues))
        for issue in report.issues[:LISTED_LIMIT]:
            log.warning("  %s", issue.message)


def log_plan(plan: WritePlan, log: Log, *, dry_run: bool) -> None:
    for issue in plan.issues:
        log.warning("Issue: %s", issue.message)
    prefix = "DRY RUN, would write: " if dry_run else "Writing: "
    for line in describe_plan(plan):
        log.info("%s%s", prefix, line)
    log.info(
        "%s %s: %d resource(s) to write, %d unchanged, %d refused, %d skipped, %d without storage data.",
        "Dry run of" if dry_run else "Plan for",
        plan.month,
        len(plan.changed),
        len(plan.unchanged),
        len(plan.refused),
        len(plan.skipped),
        len(plan.without_data),
    )
