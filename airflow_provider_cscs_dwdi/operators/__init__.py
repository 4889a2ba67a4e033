"""Airflow operators: thin glue between the hooks (I/O) and the pure-Python core."""

from __future__ import annotations

from airflow_provider_cscs_dwdi.operators.aggregate import AggregateUsageOperator
from airflow_provider_cscs_dwdi.operators.fetch import FetchMonthlyUsageOperator
from airflow_provider_cscs_dwdi.operators.push import ListWaldurBackendIdsOperator, PushToWaldurOperator

__all__ = [
    "AggregateUsageOperator",
    "FetchMonthlyUsageOperator",
    "ListWaldurBackendIdsOperator",
    "PushToWaldurOperator",
]
