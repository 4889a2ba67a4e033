"""The approval step of the anomaly guard in an offering's usage and closing DAGs.

``push_to_waldur`` holds anomalous values (``operators/_guard.py``); :func:`add_approval` adds
``approve_held_values`` after it, one mapped request per month, which writes them on Approve.
Split from :mod:`.dag_factory`, which calls it while wiring the tasks.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Asset

from airflow_provider_cscs_dwdi.assets import billing_alias
from airflow_provider_cscs_dwdi.core.alerts import ANOMALY, MONTH_CLOSED
from airflow_provider_cscs_dwdi.core.anomalies import AnomalyGuardSettings
from airflow_provider_cscs_dwdi.core.config import OfferingConfig
from airflow_provider_cscs_dwdi.core.task_settings import WaldurTarget
from airflow_provider_cscs_dwdi.dag_settings import CLOSING_DAG_ID_PREFIX, DAG_ID_PREFIX
from airflow_provider_cscs_dwdi.notifications import approval_timeout_builder, notifiers_for
from airflow_provider_cscs_dwdi.operators.approve import ApproveHeldValuesOperator
from airflow_provider_cscs_dwdi.operators.fetch import default_archive_root


def add_approval(
    offering: OfferingConfig, push: Any, asset: Asset, *, closing: bool, guard: dict[str, Any]
) -> Any:
    """``approve_held_values`` after ``push`` (the mapped push task), in the enclosing DAG.

    :param guard: the push's ``anomaly_guard`` and ``pushed_archive_roots`` arguments.
    """
    # One request per month the push held values of (docs/anomaly-guard.md); the DAG's
    # max_active_runs=1 keeps the next run, which would ask again, from starting before the answer.
    return ApproveHeldValuesOperator.partial(
        task_id="approve_held_values",
        offering_name=offering.name,
        **WaldurTarget.of(offering).arguments(),
        dry_run="{{ params.dry_run }}",
        reconcile="{{ params.reconcile }}",
        response_timeout=timedelta(hours=guard_settings(offering).approval_timeout_hours),
        billing_asset=asset,
        outlets=[billing_alias(asset)],
        closes_month=closing,
        max_active_tis_per_dag=1,  # as the push: one write to the offering at a time
        retries=0,  # an answer is given once: a retry would ask again
        on_success_callback=(notifiers_for(offering, MONTH_CLOSED) if closing else []) or None,
        on_failure_callback=notifiers_for(offering, ANOMALY, message=approval_timeout_builder(offering))
        or None,
        **guard,
    ).expand(push_result=push.output)


def guard_settings(offering: OfferingConfig) -> AnomalyGuardSettings:
    """The offering's ``anomaly_guard`` block (the defaults where the file has none)."""
    return offering.anomaly_guard


def pushed_archive_roots(offering: OfferingConfig) -> list[str]:
    """The archive folders of the offering's usage and closing DAGs (its pushes' archives)."""
    root = (offering.archive_path or default_archive_root()).rstrip("/")
    return [f"{root}/{prefix}{offering.slug}" for prefix in (DAG_ID_PREFIX, CLOSING_DAG_ID_PREFIX)]


def add_audit_approval(offering: OfferingConfig) -> Any:
    """``approve_held_values`` after ``audit_waldur``: a repair's held corrections, in the same run.

    It runs when the audit failed too (held corrections are still differences at its re-audit).
    """
    return ApproveHeldValuesOperator(
        task_id="approve_held_values",
        offering_name=offering.name,
        **WaldurTarget.of(offering).arguments(),
        dry_run="{{ params.dry_run }}",
        reconcile=True,  # as the repair
        push_task_id="audit_waldur",
        write_action="repair",
        response_timeout=timedelta(hours=guard_settings(offering).approval_timeout_hours),
        trigger_rule="all_done",
        retries=0,
        on_failure_callback=notifiers_for(offering, ANOMALY, message=approval_timeout_builder(offering))
        or None,
    )
