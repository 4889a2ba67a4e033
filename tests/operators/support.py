"""Helpers shared by the operator tests: a recording task instance, and the Waldur sandbox offering."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_cscs_dwdi.core.components import parse_backend_components
from airflow_provider_cscs_dwdi.operators._clock import Clock
from airflow_provider_cscs_dwdi.operators.push import PushToWaldurOperator
from sandbox.waldur_server import WaldurSandbox

NODE_HOURS = {"type": "nodeHours", "billing_type": "usage", "measured_unit": "node-hours"}
NODE_HOURS_COMPONENTS = parse_backend_components(
    {"nodeHours": {"measured_unit": "node-hours", "label": "Node Hours"}}
)
CONN_ID = "waldur_push_test"


@dataclass
class RecordingTaskInstance:
    """Just enough of a task instance for execute(): records what is pushed to XCom."""

    pushed: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


@dataclass
class Offering:
    """A seeded sandbox offering: resource uuids by backend_id."""

    sandbox: WaldurSandbox
    uuid: str
    resources: dict[str, str]

    def totals(self, month: str) -> dict[str, Decimal | None]:
        return {
            bid: self.sandbox.usage(uuid, "nodeHours", f"{month}-01") for bid, uuid in self.resources.items()
        }

    def users(self, month: str) -> dict[str, dict[str, Decimal]]:
        return {
            bid: self.sandbox.user_usages(uuid, "nodeHours", f"{month}-01")
            for bid, uuid in self.resources.items()
        }

    def posts(self) -> list[str]:
        return [r.path for r in self.sandbox.requests if r.method == "POST"]


def this_month(sandbox: WaldurSandbox) -> str:
    return f"{sandbox.today:%Y-%m}"


def afternoon_of(day: date) -> Clock:
    """A clock pinned to 13:00 UTC on ``day``: past the hours when the current month cannot be dated."""
    instant = datetime.combine(day, time(13), tzinfo=UTC)
    return lambda: instant


def previous_month(month: str) -> str:
    year, number = map(int, month.split("-"))
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def make_report(
    month: str, usage: dict[str, dict[str, str]], issues: list[dict[str, Any]] | None = None
) -> dict:
    """A report whose account totals are the sum of their users (``usage``: account -> user -> amount)."""
    accounts = {
        account: {
            "total": {"nodeHours": str(sum((Decimal(v) for v in users.values()), Decimal("0.00")))},
            "users": {user: {"nodeHours": amount} for user, amount in users.items()},
        }
        for account, users in usage.items()
    }
    return {
        "schema_version": 1,
        "month": month,
        "window": {"from": f"{month}-01", "to": f"{month}-02"},
        "policy": "skip" if issues else "fail",
        "components": {component.type: component.to_json() for component in NODE_HOURS_COMPONENTS},
        "accounts": accounts,
        "issues": issues or [],
        "counts": {
            "pages": 1,
            "entries": len(accounts),
            "user_rows": sum(len(users) for users in usage.values()),
            "accounts_reported": len(accounts),
            "accounts_without_data": 0,
            "accounts_ignored": 0,
            "rows_skipped": len(issues or []),
            "issues": len(issues or []),
        },
    }


def usage_grid(accounts: int, users: int, base: str = "1.25") -> dict[str, dict[str, str]]:
    return {
        f"g{a:03d}": {f"user{a:03d}_{u:02d}": str(Decimal(base) * (a + u + 1)) for u in range(users)}
        for a in range(accounts)
    }


def push(offering: Offering, report: dict, **kwargs: Any) -> tuple[dict[str, Any], RecordingTaskInstance]:
    ti = RecordingTaskInstance()
    kwargs.setdefault("clock", afternoon_of(offering.sandbox.today))
    operator = PushToWaldurOperator(
        task_id="push", report=report, offering_uuid=offering.uuid, waldur_conn_id=CONN_ID, **kwargs
    )
    return operator.execute({"ti": ti}), ti


def failing_push(offering: Offering, report: dict, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    ti = RecordingTaskInstance()
    kwargs.setdefault("clock", afternoon_of(offering.sandbox.today))
    operator = PushToWaldurOperator(
        task_id="push", report=report, offering_uuid=offering.uuid, waldur_conn_id=CONN_ID, **kwargs
    )
    with pytest.raises(AirflowException) as raised:
        operator.execute({"ti": ti})
    return str(raised.value), ti.pushed.get("return_value", {})


def expected_totals(usage: dict[str, dict[str, str]]) -> dict[str, Decimal]:
    return {
        account: sum((Decimal(v) for v in users.values()), Decimal(0)) for account, users in usage.items()
    }


def expected_users(usage: dict[str, dict[str, str]]) -> dict[str, dict[str, Decimal]]:
    return {account: {user: Decimal(v) for user, v in users.items()} for account, users in usage.items()}
