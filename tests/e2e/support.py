"""Helpers of the end-to-end tests: the offering DAG run by ``dag.test()`` against a SandboxStack."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow_provider_cscs_dwdi.dag_factory import DAG_ID_PREFIX, load_dags_from_env
from sandbox.stack import SandboxStack, SeededOffering, differences

# A client of the session issuer (tests/fixtures/oidc_issuer.py: sandbox.oidc_issuer defaults).
ISSUER_CLIENT_ID = "dwdi-client"
ISSUER_CLIENT_SECRET = "dwdi-secret"


def offering_dag(item: SeededOffering) -> Any:
    dag = load_dags_from_env()[DAG_ID_PREFIX + item.config.slug]
    for task in dag.tasks:
        task.retries = 0  # a failure must show at once, not after a retry delay
    return dag


def run(stack: SandboxStack, logical_date: datetime, **conf: Any) -> Any:
    return offering_dag(stack.seeded[0]).test(logical_date=logical_date, run_conf=conf or None)


def writes(stack: SandboxStack) -> list[Any]:
    return [request for request in stack.waldur.requests if request.method == "POST"]


def month_of(instant: datetime) -> str:
    return f"{instant.year:04d}-{instant.month:02d}"


def assert_waldur_holds_dwdi_totals(stack: SandboxStack, month: str) -> None:
    """Waldur holds exactly the sandbox's own expected totals (and something is billed at all)."""
    item = stack.seeded[0]
    expected = stack.expected(item, month)
    amounts = [amount for account in expected.values() for amount in account["total"].values()]
    assert any(amount for amount in amounts if amount is not None)
    assert differences(expected, stack.landed(item, month)) == []
    assert stack.waldur.schema_violations == []
