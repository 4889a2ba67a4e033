"""The DAGs of each configured offering: Waldur backend IDs -> DWDI usage -> exact report -> Waldur.

Per offering (compute, storage or inference usage): the daily usage DAG and the monthly closing DAG.

``dags/cscs_dwdi_usage.py`` calls :func:`load_dags_from_env`; everything else lives here so the
DAG file stays a few lines and the DAG shape is tested like any other code.
"""

from __future__ import annotations

import os
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, XComArg
from airflow.sdk.exceptions import AirflowTimetableInvalid

from airflow_provider_cscs_dwdi.assets import billing_alias, billing_asset
from airflow_provider_cscs_dwdi.core.alerts import (
    DRIFT,
    FAILURE,
    ISSUES,
    MONTH_CLOSED,
    AlertMessage,
    drift_message,
)
from airflow_provider_cscs_dwdi.core.audit_result import AuditResult
from airflow_provider_cscs_dwdi.core.config import OfferingConfig, OfferingsConfig, load_config
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.core.months import billing_month, closed_month
from airflow_provider_cscs_dwdi.core.xcom import BillingPlan
from airflow_provider_cscs_dwdi.notifications import failure_month_builder, notifiers_for, run_label
from airflow_provider_cscs_dwdi.operators._params import run_instant
from airflow_provider_cscs_dwdi.operators.aggregate import AggregateUsageOperator
from airflow_provider_cscs_dwdi.operators.audit import AuditWaldurOperator, PlanAuditOperator
from airflow_provider_cscs_dwdi.operators.billing_months import PlanBillingRunOperator
from airflow_provider_cscs_dwdi.operators.fetch import FetchMonthlyUsageOperator, default_archive_root
from airflow_provider_cscs_dwdi.operators.list_backend_ids import ListWaldurBackendIdsOperator
from airflow_provider_cscs_dwdi.operators.push import PushToWaldurOperator
from airflow_provider_cscs_dwdi.schedules import usage_schedule

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.sdk import Context

CONFIG_ENV_VAR = "CSCS_DWDI_CONFIG"
HOW_TO_CONFIGURE = (
    f"Set {CONFIG_ENV_VAR} to the path of your offerings YAML file in the environment of the "
    "scheduler, dag-processor and workers (e.g. export "
    f"{CONFIG_ENV_VAR}=/opt/airflow/dags/cscs_dwdi_offerings.yaml); "
    "`python -m airflow_provider_cscs_dwdi init DIR` writes a commented example to start from."
)
DAG_ID_PREFIX = "cscs_dwdi_usage_"
# The monthly closing DAG of an offering: one run per billing month, the unit of a backfill.
CLOSING_DAG_ID_PREFIX = "cscs_dwdi_close_"
# The drift audit DAG of an offering: recomputes closed months and compares them with Waldur.
AUDIT_DAG_ID_PREFIX = "cscs_dwdi_audit_"
# Midnight on the 1st: each data interval is one whole month in the billing time zone.
MONTHLY_CRON = "0 0 1 * *"
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
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


def load_dags_from_env(default_config: str | os.PathLike[str] | None = None) -> dict[str, DAG]:
    """Build the DAGs of the configuration file named by ``$CSCS_DWDI_CONFIG``.

    :param default_config: file to use when the variable is unset (the DAG file passes
        ``cscs_dwdi_offerings.yaml`` next to itself, never the example); without it an unset
        variable is an error.
    :raises ConfigurationError: no file is found (the message says where it looked and how to set
        the variable), or the configuration is wrong. In a DAG file this shows as an import error.
    """
    return build_dags(load_config_from_env(default_config))


def load_config_from_env(default_config: str | os.PathLike[str] | None = None) -> OfferingsConfig:
    """The offerings configuration named by ``$CSCS_DWDI_CONFIG`` (see :func:`load_dags_from_env`).

    :raises ConfigurationError: no file is found (the message says where it looked and how to set
        the variable), or the configuration is wrong.
    """
    named = os.environ.get(CONFIG_ENV_VAR)
    if named:
        if not Path(named).is_file():
            raise ConfigurationError(
                f"offerings configuration file not found: {named} (named by {CONFIG_ENV_VAR}). "
                + HOW_TO_CONFIGURE
            )
        return load_config(named)
    if default_config is None:
        raise ConfigurationError(f"{CONFIG_ENV_VAR} is not set. " + HOW_TO_CONFIGURE)
    if not Path(default_config).is_file():
        raise ConfigurationError(
            f"no offerings configuration file: {CONFIG_ENV_VAR} is not set and {default_config} "
            f"does not exist. {HOW_TO_CONFIGURE} Or put the file at {default_config}."
        )
    return load_config(default_config)


def build_dags(config: OfferingsConfig) -> dict[str, DAG]:
    """``{dag_id: DAG}``: per offering, in configuration order, its daily, closing and audit DAGs."""
    dags: dict[str, DAG] = {}
    for position, offering in enumerate(config.offerings, 1):
        dag = build_offering_dag(offering)
        try:
            dag.timetable.validate()
        except AirflowTimetableInvalid as error:
            raise ConfigurationError(
                f"{config.source}: offering {offering.name!r} (#{position}): schedule: "
                f"{offering.schedule!r} is not a schedule Airflow understands: {error}"
            ) from None
        dags[dag.dag_id] = dag
        closing = build_closing_dag(offering)
        dags[closing.dag_id] = closing
        audit = build_audit_dag(offering)
        try:
            audit.timetable.validate()
        except AirflowTimetableInvalid as error:
            raise ConfigurationError(
                f"{config.source}: offering {offering.name!r} (#{position}): audit.schedule: "
                f"{offering.audit.schedule!r} is not a schedule Airflow understands: {error}"
            ) from None
        dags[audit.dag_id] = audit
    return dags


def build_offering_dag(offering: OfferingConfig) -> DAG:
    """The usage DAG of one offering (see :func:`_doc_md` for what it does)."""
    with DAG(
        dag_id=DAG_ID_PREFIX + offering.slug,
        description=f"Report CSCS-DWDI usage of '{offering.name}' to Waldur",
        schedule=usage_schedule(offering),
        # In the billing time zone, so the run at midnight on the 1st closes the previous month.
        start_date=pendulum.datetime(*EARLIEST_RUN_DATE, tz=offering.billing_timezone),
        catchup=False,
        max_active_runs=1,
        tags=sorted({*COMMON_TAGS, offering.slug, *offering.tags}),
        params=_params(),
        render_template_as_native_obj=True,
        default_args=DEFAULT_ARGS,
        doc_md=_doc_md(offering),
        on_failure_callback=_failure_notifiers(
            offering, partial(_daily_run_month, tz=offering.billing_timezone)
        ),
    ) as dag:
        _add_usage_tasks(
            offering,
            month="{{ params.month }}",
            reopen_previous_month_days=offering.reopen_previous_month_days,
            closing=False,
        )
    return dag


def build_closing_dag(offering: OfferingConfig) -> DAG:
    """The monthly closing DAG of one offering: each run reports exactly one past billing month.

    Its data interval is one month in the billing time zone (logical date = the 1st at 00:00),
    so ``airflow backfill create`` over N months creates N runs, each billing the month its
    interval starts in: no reopen window, nothing outside the range. Scheduled runs (at 00:00 on
    the 1st, once unpaused) close the month that just ended, as the daily DAG's midnight run does.
    """
    with DAG(
        dag_id=CLOSING_DAG_ID_PREFIX + offering.slug,
        description=f"Close one billing month of '{offering.name}' in Waldur (backfills)",
        schedule=CronDataIntervalTimetable(MONTHLY_CRON, timezone=offering.billing_timezone),
        start_date=pendulum.datetime(*EARLIEST_RUN_DATE, tz=offering.billing_timezone),
        catchup=False,
        max_active_runs=1,
        tags=sorted({*COMMON_TAGS, "monthly", offering.slug, *offering.tags}),
        params={name: param for name, param in _params().items() if name != "month"},
        render_template_as_native_obj=True,
        user_defined_macros={"closed_month": partial(closed_month, tz=offering.billing_timezone)},
        default_args=DEFAULT_ARGS,
        doc_md=_closing_doc_md(offering),
        on_failure_callback=_failure_notifiers(
            offering, partial(_closing_run_month, tz=offering.billing_timezone)
        ),
    ) as dag:
        _add_usage_tasks(
            offering,
            month="{{ closed_month(data_interval_start, dag_run.run_after) }}",
            reopen_previous_month_days=0,
            closing=True,
        )
    return dag


def _add_usage_tasks(
    offering: OfferingConfig, *, month: str, reopen_previous_month_days: int, closing: bool
) -> None:
    """The task chain both DAGs of an offering share, added to the DAG of the enclosing ``with``.

    :param month: template of the ``YYYY-MM`` month to report alone ("" = from the run date).
    :param reopen_previous_month_days: days on which a run from the run date re-reports the
        previous month too.
    :param closing: the monthly close DAG: its pushes close their month (``month_closed`` alerts).
    """
    # Each task returns a document of core.xcom, read by the next: BackendIds -> BillingPlan
    # (months as the return value, accounts under ACCOUNTS_KEY) -> FetchResult -> UsageReport
    # -> PushResult. From fetch_usage on, one mapped task per month.
    backend_ids = ListWaldurBackendIdsOperator(
        task_id="list_backend_ids",
        offering_uuid=offering.offering_uuid,
        waldur_conn_id=offering.waldur_conn_id,
    )
    plan = PlanBillingRunOperator(
        task_id="billing_months",
        backend_ids=backend_ids.output,
        billing_timezone=offering.billing_timezone,
        reopen_previous_month_days=reopen_previous_month_days,
        waldur_conn_id=offering.waldur_conn_id,
        offering_uuid=offering.offering_uuid,
        month=month,
        accounts="{{ params.accounts }}",
        dry_run="{{ params.dry_run }}",
        month_end_run=offering.month_end_run,
    )
    reports = _add_fetch_and_aggregate(offering, backend_ids, plan)
    asset = billing_asset(offering)
    PushToWaldurOperator.partial(
        task_id="push_to_waldur",
        offering_uuid=offering.offering_uuid,
        waldur_conn_id=offering.waldur_conn_id,
        billing_timezone=offering.billing_timezone,
        dry_run="{{ params.dry_run }}",
        reconcile="{{ params.reconcile }}",
        # Backfill runs ignore max_active_runs: this keeps a DAG's Waldur writes one at a time. The
        # daily and the closing DAG may push the same month at once (midnight on the 1st): every
        # write is an absolute DWDI total, so Waldur ends with one of two correct snapshots.
        max_active_tis_per_dag=1,
        # Downstream DAGs are scheduled on the asset; the alias emits only when a push writes.
        billing_asset=asset,
        outlets=[billing_alias(asset)],
        closes_month=closing,
        # Task callbacks, not the DAG's: they read this push's own result from XCom.
        on_success_callback=notifiers_for(offering, ISSUES)
        + (notifiers_for(offering, MONTH_CLOSED) if closing else [])
        or None,
    ).expand(report=reports.output)


def build_audit_dag(offering: OfferingConfig) -> DAG:
    """The drift audit DAG of one offering: recompute closed months, compare with Waldur, repair one.

    Read-only unless triggered with ``repair_month`` (see ``docs/audit.md``). Its fetches archive
    under its own DAG id; the causes of differences are read from the usage and closing DAGs'
    archives of each month's last push.
    """
    with DAG(
        dag_id=AUDIT_DAG_ID_PREFIX + offering.slug,
        description=f"Audit the closed months of '{offering.name}' in Waldur against DWDI",
        schedule=offering.audit.schedule,
        start_date=pendulum.datetime(*EARLIEST_RUN_DATE, tz=offering.billing_timezone),
        catchup=False,
        max_active_runs=1,
        tags=sorted({*COMMON_TAGS, "audit", offering.slug, *offering.tags}),
        params=_audit_params(),
        render_template_as_native_obj=True,
        default_args=DEFAULT_ARGS,
        doc_md=_audit_doc_md(offering),
    ) as dag:
        backend_ids = ListWaldurBackendIdsOperator(
            task_id="list_backend_ids",
            offering_uuid=offering.offering_uuid,
            waldur_conn_id=offering.waldur_conn_id,
        )
        plan = PlanAuditOperator(
            task_id="audit_months",
            backend_ids=backend_ids.output,
            billing_timezone=offering.billing_timezone,
            months=offering.audit.months,
            repair_month="{{ params.repair_month }}",
        )
        reports = _add_fetch_and_aggregate(offering, backend_ids, plan)
        archive_root = offering.archive_path or default_archive_root()
        AuditWaldurOperator(
            task_id="audit_waldur",
            reports=reports.output,
            offering_uuid=offering.offering_uuid,
            waldur_conn_id=offering.waldur_conn_id,
            billing_timezone=offering.billing_timezone,
            repair_month="{{ params.repair_month }}",
            dry_run="{{ params.dry_run }}",
            pushed_archive_roots=[
                f"{archive_root.rstrip('/')}/{prefix}{offering.slug}"
                for prefix in (DAG_ID_PREFIX, CLOSING_DAG_ID_PREFIX)
            ],
            backend_components=offering.backend_components,
            bad_value_policy=offering.bad_value_policy,
            clusters=list(offering.clusters) if offering.clusters else None,
            # A drift is a finding, not a glitch: a retry would only find it again, later.
            retries=0,
            # A task callback: it reads the audit's own result, pushed before the task fails.
            on_failure_callback=notifiers_for(offering, DRIFT, message=partial(_drift_alert, offering))
            or None,
        )
    return dag


def _drift_alert(offering: OfferingConfig, context: Any) -> AlertMessage | None:
    """The ``drift`` message of a failed ``audit_waldur``; None when it failed before comparing."""
    ti = context["ti"]
    document = ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index, key="return_value")
    if document is None:
        return None
    return drift_message(run_label(offering, context), AuditResult.from_xcom(document))


def _add_fetch_and_aggregate(offering: OfferingConfig, backend_ids: Any, plan: Any) -> Any:
    """The mapped ``fetch_usage`` and ``aggregate_usage`` tasks over ``plan``'s months.

    :param backend_ids: the ``list_backend_ids`` task; :param plan: the task returning the months
        and pushing the accounts (``BillingPlan``). Returns the aggregate task (its output: the
        reports, one per month).
    """
    fetched = FetchMonthlyUsageOperator.partial(
        task_id="fetch_usage",
        dwdi_conn_id=offering.dwdi_conn_id,
        accounts=XComArg(plan, key=BillingPlan.ACCOUNTS_KEY),
        clusters=list(offering.clusters) if offering.clusters else None,
        billing_timezone=offering.billing_timezone,
        archive_path=offering.archive_path,
        usage_kind=offering.usage_kind.value,
        storage=_storage_settings(offering),
        # Inference is keyed by Waldur resource UUID, which only list_backend_ids knows.
        backend_ids=backend_ids.output if offering.usage_kind is UsageKind.INFERENCE else None,
    ).expand(month=plan.output)
    return AggregateUsageOperator.partial(
        task_id="aggregate_usage",
        backend_components=offering.backend_components,
        bad_value_policy=offering.bad_value_policy,
        clusters=list(offering.clusters) if offering.clusters else None,
        # Deterministic: the same archive gives the same verdict, so a retry only delays it.
        retries=0,
    ).expand(fetch_result=fetched.output)


def _audit_params() -> dict[str, Param]:
    """The audit's trigger form: empty, a scheduled audit compares and writes nothing."""
    return {
        "repair_month": Param(
            None,
            type=["null", "string"],
            pattern=MONTH_PATTERN,
            title="Repair month",
            description="YYYY-MM of one closed month whose differences this run writes to Waldur "
            "(through the push), then audits again. Empty: audit only, write nothing.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="With a repair month: log what the repair would write, without writing.",
        ),
    }


def _audit_doc_md(offering: OfferingConfig) -> str:
    schedule = offering.audit.schedule or "none (trigger by hand)"
    return f"""\
# CSCS-DWDI drift audit: {offering.name}

Recomputes the last {offering.audit.months} closed month(s) from DWDI and compares them with what
the Waldur offering `{offering.offering_uuid}` holds, per resource, component and user. Writes
nothing unless triggered with **repair_month**. Any difference fails the run; the table of
differences (resource, component, user, DWDI, Waldur, delta, likely cause) is in the log of
`audit_waldur` and in its XCom.

## Schedule
{schedule}

## Tasks
1. `list_backend_ids`, 2. `audit_months` (the closed months), 3. `fetch_usage` and
4. `aggregate_usage` (one per month, as in the usage DAG), 5. `audit_waldur`: compare, repair.

## Trigger form
- **repair_month**: `YYYY-MM`, a closed month: write its corrections through the push, then
  audit it again. Empty = audit only.
- **dry_run**: with **repair_month**, log what the repair would write without writing.
"""


def _failure_notifiers(
    offering: OfferingConfig, month_of_run: Callable[[Context], str | None]
) -> list[Callable[[Context], None]] | None:
    """The offering's ``failure`` notifiers for a DAG's failure callback (None: none configured)."""
    notifiers: list[Callable[[Context], None]] = list(
        notifiers_for(offering, FAILURE, message=failure_month_builder(offering, month_of_run))
    )
    return notifiers or None


def _daily_run_month(context: Context, *, tz: str) -> str:
    """The month a daily run reported: the one asked for, else the month of its run date."""
    requested = (context.get("params") or {}).get("month")
    return str(requested) if requested else billing_month(run_instant(context), tz)


def _closing_run_month(context: Context, *, tz: str) -> str:
    """The month a closing run reported (the ``closed_month`` macro of its push)."""
    return closed_month(context.get("data_interval_start"), context["dag_run"].run_after, tz)


def _storage_settings(offering: OfferingConfig) -> dict[str, Any] | None:
    """A storage offering's settings as plain data (operator arguments are serialised with the DAG)."""
    storage = offering.storage
    if storage is None:
        return None
    return {
        "filesystem": storage.filesystem,
        "data_type": storage.data_type,
        "path_mapping": dict(storage.path_mapping),
        "path_template": storage.path_template,
    }


def _params() -> dict[str, Param]:
    """The trigger form. Every field may stay empty: a scheduled run uses the defaults."""
    return {
        "month": Param(
            None,
            type=["null", "string"],
            pattern=MONTH_PATTERN,
            title="Billing month",
            description="YYYY-MM to report alone, e.g. 2026-11. Empty: the month of the run date "
            "(and, on the first days of a month, the previous one too).",
        ),
        "accounts": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Accounts",
            description="DWDI accounts (Waldur backend IDs) to report, one per line. Empty: every "
            "resource of the offering. Accounts the offering does not know are ignored and logged.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Compute and log what would be written to Waldur, without writing.",
        ),
        "reconcile": Param(
            False,
            type="boolean",
            title="Reconcile",
            description="Also write 0 for users that Waldur holds for the month but DWDI no longer "
            "reports (usage moved to another user). Off: only DWDI's own totals are written.",
        ),
    }


def _kind_summary(offering: OfferingConfig) -> str:
    """The first paragraph of the DAG doc: what this offering's kind of usage is and how it is billed."""
    waldur = f"the Waldur offering `{offering.offering_uuid}`"
    if offering.usage_kind is UsageKind.STORAGE:
        return (
            f"Reports the storage that the CSCS data warehouse (DWDI) recorded for the resources of {waldur} "
            "to Waldur: one level per project path and month (a level, not a sum; a path DWDI does not "
            'return is not written and is listed as "no storage data"). No per-user usage.'
        )
    if offering.usage_kind is UsageKind.INFERENCE:
        return (
            f"Reports the LLM inference cost that the CSCS data warehouse (DWDI) priced for the resources of "
            f"{waldur} to Waldur, matched by Waldur resource UUID; several entries of a resource are summed, "
            "a resource without entries costs 0.00. No per-user usage."
        )
    return (
        f"Reports the compute usage that the CSCS data warehouse (DWDI) recorded for the resources of "
        f"{waldur}, per account and per user, to Waldur."
    )


def _kind_rows(offering: OfferingConfig) -> str:
    """The settings-table rows of the offering's kind (each ends with a newline)."""
    if offering.usage_kind is UsageKind.COMPUTE:
        return f"| Clusters | {', '.join(offering.clusters) if offering.clusters else 'all'} |\n"
    if offering.usage_kind is UsageKind.INFERENCE:
        return "| DWDI key | `waldurResourceUuid` = the Waldur resource UUID (dashed or not) |\n"
    storage = offering.storage
    if storage is None:  # the configuration requires it for storage offerings
        return ""
    mapped = ", ".join(
        f"`{backend_id}` -> `{path}`" for backend_id, path in sorted(storage.path_mapping.items())
    )
    fallback = f"`{storage.path_template}`" if storage.path_template else "the backend ID itself"
    return (
        f"| Filesystem / data type | `{storage.filesystem}` / `{storage.data_type}` |\n"
        f"| Paths | {f'mapped: {mapped}; ' if mapped else ''}otherwise {fallback} |\n"
    )


def _doc_md(offering: OfferingConfig) -> str:
    components = ", ".join(
        f"`{component.type}` (DWDI `{component.dwdi_field}` x {component.unit_factor} "
        f"{component.measured_unit})"
        for component in offering.components
    )
    closing_dag_id = CLOSING_DAG_ID_PREFIX + offering.slug
    return f"""\
# CSCS-DWDI usage -> Waldur: {offering.name}

{_kind_summary(offering)}

| Setting | Value |
|---|---|
| Usage kind | `{offering.usage_kind.value}` |
| Components | {components} |
| Billing time zone | `{offering.billing_timezone}` |
{_kind_rows(offering)}| Bad DWDI values | `{offering.bad_value_policy}` |
| Connections | DWDI `{offering.dwdi_conn_id}`, Waldur `{offering.waldur_conn_id}` |

## Tasks
1. `list_backend_ids`: the backend IDs (DWDI accounts) of the offering's resources in Waldur.
2. `billing_months`: the months this run reports and the accounts to fetch.
3. `fetch_usage` (one per month): asks DWDI and archives its raw responses.
4. `aggregate_usage` (one per month): exact totals per resource (compute: and per user); a bad
   value is never turned into zero.
5. `push_to_waldur` (one per month, one at a time): writes what differs, idempotently.

## Schedule
`{offering.schedule}`: each run reports the month to date. During the first
{offering.reopen_previous_month_days} day(s) of a month it also re-reports the previous month
(late DWDI data), provided the Waldur server honours the usage `date`.

## Trigger form
- **month**: `YYYY-MM` to report alone; empty = from the run date.
- **accounts**: only these accounts; empty = all of the offering's resources.
- **dry_run**: compute and log the changes without writing them.
- **reconcile**: let the push also reconcile what Waldur holds with DWDI (see PushToWaldurOperator).

## Backfill
Past months are backfilled with the offering's monthly closing DAG `{closing_dag_id}`: one run
per month, each reporting exactly its month. A daily backfill here would make one run per day and
rewrite, on the first days of a month, the month before the range. To recompute one month from
this DAG, trigger it with **month** set.
"""


def _closing_doc_md(offering: OfferingConfig) -> str:
    dag_id = CLOSING_DAG_ID_PREFIX + offering.slug
    january = pendulum.datetime(2026, 1, 1, tz=offering.billing_timezone).isoformat()
    march = pendulum.datetime(2026, 3, 1, tz=offering.billing_timezone).isoformat()
    return f"""\
# CSCS-DWDI monthly closing -> Waldur: {offering.name}

The same tasks as `{DAG_ID_PREFIX + offering.slug}`, but each run reports exactly one billing
month: the month its data interval starts in, in `{offering.billing_timezone}`. The logical date
of a run is 00:00 on the 1st of its month; the run starts once the month has ended.

## Backfill
One run per month. January to March 2026 (three runs, nothing before or after):

```
airflow backfill create --dag-id {dag_id} \\
    --from-date {january} --to-date {march} --reprocess-behavior completed
```

Give the dates with the billing time zone's offset as above: a date without one is read as UTC,
which in a zone east of UTC moves the first month out of the range. Backfill runs wait while this
DAG is paused. Use a PostgreSQL or MySQL metadata database: on SQLite, Airflow refuses backfills
whenever the database is busy. Months other than the current one reach Waldur only when the
server honours the usage `date` (Waldur 8.x).

## Schedule
Unpaused, it also closes each month at 00:00 on the 1st, as the daily DAG's midnight run does;
writes are absolute and idempotent, so the second of the two writes nothing new.

## Trigger form
- **accounts**, **dry_run**, **reconcile**: as in the daily DAG. A manual run reports the month of
  its logical date's data interval (the last month that has ended).
"""
