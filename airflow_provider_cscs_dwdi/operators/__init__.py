"""Airflow operators, one module per task of the usage DAG, in DAG order.

``list_backend_ids`` -> ``billing_months`` -> ``fetch`` -> ``aggregate`` -> ``push`` ->
``approve`` (the anomaly guard's held values); what each hands to the next is a document of
``core.xcom``. The drift audit DAG adds ``audit`` (``audit_months``, ``audit_waldur``). Thin glue between the hooks (I/O) and the pure-Python core.
"""

from __future__ import annotations

from airflow_provider_cscs_dwdi.operators.aggregate import AggregateUsageOperator
from airflow_provider_cscs_dwdi.operators.approve import ApproveHeldValuesOperator
from airflow_provider_cscs_dwdi.operators.audit import AuditWaldurOperator, PlanAuditOperator
from airflow_provider_cscs_dwdi.operators.billing_months import PlanBillingRunOperator
from airflow_provider_cscs_dwdi.operators.fetch import FetchMonthlyUsageOperator
from airflow_provider_cscs_dwdi.operators.list_backend_ids import ListWaldurBackendIdsOperator
from airflow_provider_cscs_dwdi.operators.push import PushToWaldurOperator

__all__ = [
    "AggregateUsageOperator",
    "ApproveHeldValuesOperator",
    "AuditWaldurOperator",
    "FetchMonthlyUsageOperator",
    "ListWaldurBackendIdsOperator",
    "PlanAuditOperator",
    "PlanBillingRunOperator",
    "PushToWaldurOperator",
]
