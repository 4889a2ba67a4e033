"""The DAGs of each configured offering: Waldur backend IDs -> DWDI usage -> exact report -> Waldur.

Per offering (compute, storage or inference usage): the daily usage DAG, the monthly closing DAG
and the drift audit DAG.

``dags/cscs_dwdi_usage.py`` calls :func:`load_dags_from_env`, so the DAG file stays a few lines and
the DAG shape is tested like any other code. This module wires the tasks; what the DAGs share (ids,
defaults, trigger forms) is in :mod:`.dag_settings`, their pages in :mod:`.dag_docs`, and the month
a run reports in :mod:`.run_months`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, CronDataIntervalTimetable, XComArg
from airflow.sdk.exceptions import AirflowTimetableInvalid

from airflow_provider_cscs_dwdi.assets import billing_alias, billing_asset
from airflow_provider_cscs_dwdi.core.alerts import (
    ANOMALY,
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
from airflow_provider_cscs_dwdi.core.months import closed_month
from airflow_provider_cscs_dwdi.core.task_settings import Aggregation, DwdiSource, WaldurTarget
from airflow_provider_cscs_dwdi.core.xcom import BillingPlan
from airflow_provider_cscs_dwdi.dag_approval import (
    add_approval,
    add_audit_approval,
    guard_settings,
    pushed_archive_roots,
)
from airflow_provider_cscs_dwdi.dag_docs import audit_doc_md, closing_doc_md, usage_doc_md
from airflow_provider_cscs_dwdi.dag_settings import (
    AUDIT_DAG_ID_PREFIX,
    CLOSING_DAG_ID_PREFIX,
    COMMON_TAGS,
    DAG_ID_PREFIX,
    DEFAULT_ARGS,
    MONTHLY_CRON,
    audit_params,
    closing_params,
    start_date,
    usage_params,
)
from airflow_provider_cscs_dwdi.notifications import failure_month_builder, notifiers_for, run_label
from airflow_provider_cscs_dwdi.operators.aggregate import AggregateUsageOperator
from airflow_provider_cscs_dwdi.operators.audit import AuditWaldurOperator, PlanAuditOperator
from airflow_provider_cscs_dwdi.operators.billing_months import PlanBillingRunOperator
from airflow_provider_cscs_dwdi.operators.fetch import FetchMonthlyUsageOperator
from airflow_provider_cscs_dwdi.operators.list_backend_ids import ListWaldurBackendIdsOperator
from airflow_provider_cscs_dwdi.operators.push import PushToWaldurOperator
from airflow_provider_cscs_dwdi.run_months import close_month_macro, closing_run_month, daily_run_month
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
# The DAG ids are read from here by DAG files, tests and the sandbox.
__all__ = [
    "AUDIT_DAG_ID_PREFIX",
    "CLOSING_DAG_ID_PREFIX",
    "CONFIG_ENV_VAR",
    "DAG_ID_PREFIX",
    "build_audit_dag",
    "build_closing_dag",
    "build_dags",
    "build_offering_dag",
    "load_config_from_env",
    "load_dags_from_env",
]


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
    """The usage DAG of one offering (its page: :func:`.dag_docs.usage_doc_md`)."""
    with DAG(
        dag_id=DAG_ID_PREFIX + offering.slug,
        description=f"Report CSCS-DWDI usage of '{offering.name}' to Waldur",
        schedule=usage_schedule(offering),
        # In the billing time zone, so the run at midnight on the 1st closes the previous month.
        start_date=start_date(offering),
        catchup=False,
        max_active_runs=1,
        tags=sorted({*COMMON_TAGS, offering.slug, *offering.tags}),
        params=usage_params(),
        render_template_as_native_obj=True,
        default_args=DEFAULT_ARGS,
        doc_md=usage_doc_md(offering),
        on_failure_callback=_failure_notifiers(
            offering, partial(daily_run_month, tz=offering.billing_timezone)
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
        start_date=start_date(offering),
        catchup=False,
        max_active_runs=1,
        tags=sorted({*COMMON_TAGS, "monthly", offering.slug, *offering.tags}),
        params=closing_params(closed_month(None, datetime.now(UTC), offering.billing_timezone)),
        render_template_as_native_obj=True,
        user_defined_macros={"month_to_close": partial(close_month_macro, tz=offering.billing_timezone)},
        default_args=DEFAULT_ARGS,
        doc_md=closing_doc_md(offering),
        on_failure_callback=_failure_notifiers(
            offering, partial(closing_run_month, tz=offering.billing_timezone)
        ),
    ) as dag:
        _add_usage_tasks(
            offering,
            month="{{ month_to_close(task, params.month, data_interval_start, dag_run.run_after) }}",
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
    waldur = WaldurTarget.of(offering).arguments()
    backend_ids = ListWaldurBackendIdsOperator(task_id="list_backend_ids", **waldur)
    plan = PlanBillingRunOperator(
        task_id="billing_months",
        backend_ids=backend_ids.output,
        reopen_previous_month_days=reopen_previous_month_days,
        **waldur,
        month=month,
        accounts="{{ params.accounts }}",
        dry_run="{{ params.dry_run }}",
        month_end_run=offering.month_end_run,
    )
    reports = _add_fetch_and_aggregate(offering, backend_ids, plan)
    asset = billing_asset(offering)
    guard = {
        "anomaly_guard": guard_settings(offering).model_dump(mode="json"),
        "pushed_archive_roots": pushed_archive_roots(offering),
    }
    push = PushToWaldurOperator.partial(
        task_id="push_to_waldur",
        **waldur,
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
        + notifiers_for(offering, ANOMALY)
        + (notifiers_for(offering, MONTH_CLOSED) if closing else [])
        or None,
        **guard,
    ).expand(report=reports.output)
    add_approval(offering, push, asset, closing=closing, guard=guard)


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
        start_date=start_date(offering),
        catchup=False,
        max_active_runs=1,
        tags=sorted({*COMMON_TAGS, "audit", offering.slug, *offering.tags}),
        params=audit_params(),
        render_template_as_native_obj=True,
        default_args=DEFAULT_ARGS,
        doc_md=audit_doc_md(offering),
    ) as dag:
        waldur = WaldurTarget.of(offering).arguments()
        backend_ids = ListWaldurBackendIdsOperator(task_id="list_backend_ids", **waldur)
        plan = PlanAuditOperator(
            task_id="audit_months",
            backend_ids=backend_ids.output,
            billing_timezone=offering.billing_timezone,
            months=offering.audit.months,
            repair_month="{{ params.repair_month }}",
        )
        reports = _add_fetch_and_aggregate(offering, backend_ids, plan)
        audit = AuditWaldurOperator(
            task_id="audit_waldur",
            reports=reports.output,
            **waldur,
            repair_month="{{ params.repair_month }}",
            dry_run="{{ params.dry_run }}",
            pushed_archive_roots=pushed_archive_roots(offering),
            **Aggregation.of(offering).arguments(),
            anomaly_guard=guard_settings(offering).model_dump(mode="json"),
            # A drift is a finding, not a glitch: a retry would only find it again, later.
            retries=0,
            # A task callback: it reads the audit's own result, pushed before the task fails.
            on_failure_callback=notifiers_for(offering, DRIFT, message=partial(_drift_alert, offering))
            or None,
        )
        audit >> add_audit_approval(offering)
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
        **DwdiSource.of(offering).arguments(),
        accounts=XComArg(plan, key=BillingPlan.ACCOUNTS_KEY),
        # Inference is keyed by Waldur resource UUID, which only list_backend_ids knows.
        backend_ids=backend_ids.output if offering.usage_kind is UsageKind.INFERENCE else None,
    ).expand(month=plan.output)
    return AggregateUsageOperator.partial(
        task_id="aggregate_usage",
        **Aggregation.of(offering).arguments(),
        # Deterministic: the same archive gives the same verdict, so a retry only delays it.
        retries=0,
    ).expand(fetch_result=fetched.output)


def _failure_notifiers(
    offering: OfferingConfig, month_of_run: Callable[[Context], str | None]
) -> list[Callable[[Context], None]] | None:
    """The offering's ``failure`` notifiers for a DAG's failure callback (None: none configured)."""
    notifiers: list[Callable[[Context], None]] = list(
        notifiers_for(offering, FAILURE, message=failure_month_builder(offering, month_of_run))
    )
    return notifiers or None
