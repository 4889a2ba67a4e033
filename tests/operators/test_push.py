"""PushToWaldurOperator and ListWaldurBackendIdsOperator against the Waldur sandbox over loopback.

Every test checks that the sandbox saw no request the official OpenAPI schema rejects.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import requests
from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowException

from airflow_provider_cscs_dwdi.operators.push import ListWaldurBackendIdsOperator, PushToWaldurOperator
from sandbox.waldur_server import WaldurSandbox

NODE_HOURS = {"type": "nodeHours", "billing_type": "usage", "measured_unit": "node-hours"}
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
        "components": {
            "nodeHours": {
                "measured_unit": "node-hours",
                "label": "Node Hours",
                "unit_factor": "1",
                "accounting_type": "usage",
                "dwdi_field": "nodeHours",
            }
        },
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


@pytest.fixture
def seed(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Offering]:
    """``seed(sandbox, backend_ids, token=..., **extras)``: an offering with one user per report user."""

    def _seed(
        sandbox: WaldurSandbox, usage: dict[str, dict[str, str]], *, token: str | None = None, **extra: Any
    ) -> Offering:
        offering = sandbox.add_offering("HPC", [NODE_HOURS])
        resources = {backend_id: sandbox.add_resource(offering, backend_id) for backend_id in usage}
        for username in sorted({user for users in usage.values() for user in users}):
            sandbox.add_offering_user(offering, username)
        connection = Connection(
            conn_id=CONN_ID,
            conn_type="waldur",
            host=sandbox.url,
            password=token or sandbox.staff_token,
            extra=json.dumps(extra),
        )
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection.as_json())
        return Offering(sandbox, offering, resources)

    return _seed


def push(offering: Offering, report: dict, **kwargs: Any) -> tuple[dict[str, Any], RecordingTaskInstance]:
    ti = RecordingTaskInstance()
    operator = PushToWaldurOperator(
        task_id="push", report=report, offering_uuid=offering.uuid, waldur_conn_id=CONN_ID, **kwargs
    )
    return operator.execute({"ti": ti}), ti


def failing_push(offering: Offering, report: dict, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    ti = RecordingTaskInstance()
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


def test_push_writes_exact_totals_and_users_then_a_second_push_writes_nothing(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    usage = usage_grid(accounts=7, users=4)
    # A tiny page size makes every listing span several pages.
    offering = seed(waldur_sandbox, usage, page_size=3)
    month = this_month(waldur_sandbox)

    first, _ = push(offering, make_report(month, usage))

    assert offering.totals(month) == expected_totals(usage)
    assert offering.users(month) == expected_users(usage)
    assert (first["written"], first["unchanged"], first["failed"], first["user_usages_written"]) == (
        7,
        0,
        0,
        28,
    )
    # Every user usage is linked to its offering user (only the sandbox's state dump shows links).
    state = requests.get(f"{waldur_sandbox.url}/sandbox/state", timeout=10).json()
    assert all(user_usage["offering_user_uuid"] for user_usage in state["user_usages"])

    waldur_sandbox.reset_requests()
    second, _ = push(offering, make_report(month, usage))

    assert offering.posts() == []
    assert (second["written"], second["unchanged"], second["user_usages_written"]) == (0, 7, 0)
    assert waldur_sandbox.schema_violations == []


def test_only_what_changed_is_rewritten(waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]) -> None:
    usage = usage_grid(accounts=3, users=2)
    offering = seed(waldur_sandbox, usage)
    month = this_month(waldur_sandbox)
    push(offering, make_report(month, usage))
    usage["g001"]["user001_01"] = "99.99"
    waldur_sandbox.reset_requests()

    result, _ = push(offering, make_report(month, usage))

    assert offering.totals(month) == expected_totals(usage)
    assert offering.users(month) == expected_users(usage)
    sent = [r.json for r in waldur_sandbox.requests if r.method == "POST"]
    assert sent[0]["usages"] == [{"type": "nodeHours", "amount": f"{expected_totals(usage)['g001']:.2f}"}]
    assert [item["username"] for item in sent[1]["usages"]] == ["user001_01"]
    assert len(sent) == 2
    assert (result["written"], result["unchanged"]) == (1, 2)
    assert waldur_sandbox.schema_violations == []


def test_one_resource_refused_the_others_land_and_the_task_fails_naming_it(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    usage = usage_grid(accounts=5, users=2)
    # One writer, so the refused write is the first resource in backend_id order: g000.
    offering = seed(waldur_sandbox, usage, write_concurrency=1)
    waldur_sandbox.fail_next(
        "POST", r"/set_usage/$", 400, body={"resource": ["Resource is not in valid state."]}
    )
    month = this_month(waldur_sandbox)

    message, result = failing_push(offering, make_report(month, usage))

    assert "g000" in message
    assert "Resource is not in valid state." in message
    totals = offering.totals(month)
    assert totals.pop("g000") is None
    assert totals == {k: v for k, v in expected_totals(usage).items() if k != "g000"}
    assert result["failed"] == 1
    assert result["written"] == 4
    assert result["failures"][0]["backend_id"] == "g000"
    assert waldur_sandbox.schema_violations == []


def test_503_bursts_during_writes_are_retried(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    usage = usage_grid(accounts=4, users=2)
    offering = seed(waldur_sandbox, usage)
    waldur_sandbox.fail_next("POST", r"/set_usage/$", 503, times=3, headers={"Retry-After": "0"})
    waldur_sandbox.fail_next("POST", r"/set_user_usages/$", 502, times=2, headers={"Retry-After": "0"})
    month = this_month(waldur_sandbox)

    result, _ = push(offering, make_report(month, usage))

    assert result["failed"] == 0
    assert offering.totals(month) == expected_totals(usage)
    assert offering.users(month) == expected_users(usage)
    assert [r.status for r in waldur_sandbox.requests].count(503) == 3
    assert waldur_sandbox.schema_violations == []


def test_expired_token_fails_with_the_service_account_advice(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    usage = usage_grid(accounts=2, users=1)
    offering = seed(waldur_sandbox, usage, token=waldur_sandbox.provider_token)
    waldur_sandbox.expire_token(waldur_sandbox.provider_token)

    message, _ = failing_push(offering, make_report(this_month(waldur_sandbox), usage))

    assert "non-expiring" in message
    assert waldur_sandbox.provider_token not in message
    assert offering.posts() == []


def test_waldur_7_gets_single_user_writes_and_the_current_month(
    make_waldur_sandbox: Callable[..., WaldurSandbox], seed: Callable[..., Offering]
) -> None:
    sandbox = make_waldur_sandbox(version="7")
    usage = usage_grid(accounts=3, users=3)
    offering = seed(sandbox, usage)
    month = this_month(sandbox)

    result, _ = push(offering, make_report(month, usage))

    assert result["failed"] == 0
    assert offering.totals(month) == expected_totals(usage)
    assert offering.users(month) == expected_users(usage)
    assert all("date" not in r.json for r in sandbox.requests if r.path.endswith("/set_usage/"))
    assert sum(r.path.endswith("/set_user_usage/") for r in sandbox.requests) == 9
    assert sandbox.schema_violations == []


def test_past_month_is_refused_before_any_write_when_the_server_ignores_date(
    make_waldur_sandbox: Callable[..., WaldurSandbox], seed: Callable[..., Offering]
) -> None:
    sandbox = make_waldur_sandbox(version="7")
    usage = usage_grid(accounts=2, users=1)
    offering = seed(sandbox, usage)
    month = this_month(sandbox)
    push(offering, make_report(month, usage))
    before = offering.totals(month)
    sandbox.reset_requests()

    message, _ = failing_push(offering, make_report(previous_month(month), usage_grid(2, 1, base="9.00")))

    assert "ignores the usage date" in message
    assert offering.posts() == []
    assert offering.totals(month) == before
    assert sandbox.schema_violations == []


def test_past_month_on_8x_is_written_to_its_own_billing_period(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    usage = usage_grid(accounts=2, users=2)
    offering = seed(waldur_sandbox, usage)
    past = previous_month(this_month(waldur_sandbox))

    result, _ = push(offering, make_report(past, usage))

    assert result["failed"] == 0
    assert offering.totals(past) == expected_totals(usage)
    assert offering.users(past) == expected_users(usage)
    assert set(offering.totals(this_month(waldur_sandbox)).values()) == {None}
    assert waldur_sandbox.schema_violations == []


def test_past_month_with_a_provider_token_reports_the_staff_token_advice(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    usage = usage_grid(accounts=2, users=1)
    offering = seed(waldur_sandbox, usage, token=waldur_sandbox.provider_token)
    past = previous_month(this_month(waldur_sandbox))

    message, result = failing_push(offering, make_report(past, usage))

    assert result["failed"] == 2
    assert {f["backend_id"] for f in result["failures"]} == {"g000", "g001"}
    assert "staff token" in message
    assert waldur_sandbox.schema_violations == []


@pytest.mark.parametrize("reconcile", [False, "True"])
def test_reconcile_zeroes_users_dwdi_no_longer_reports(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering], reconcile: bool | str
) -> None:
    usage = {"g000": {"alice": "4.00", "bob": "6.00"}}
    offering = seed(waldur_sandbox, usage)
    month = this_month(waldur_sandbox)
    push(offering, make_report(month, usage))

    push(offering, make_report(month, {"g000": {"alice": "4.00"}}), reconcile=reconcile)

    bob = Decimal("0.00") if reconcile else Decimal("6.00")
    assert offering.users(month) == {"g000": {"alice": Decimal("4.00"), "bob": bob}}
    assert offering.totals(month) == {"g000": Decimal("4.00")}
    assert waldur_sandbox.schema_violations == []


def test_dry_run_logs_the_plan_and_writes_nothing(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering], capfd: pytest.CaptureFixture[str]
) -> None:
    usage = {"g000": {"alice": "4.00"}, "g001": {"bob": "1.50"}}
    offering = seed(waldur_sandbox, usage)
    month = this_month(waldur_sandbox)
    push(offering, make_report(month, usage))
    usage["g001"]["bob"] = "2.75"
    waldur_sandbox.reset_requests()

    result, _ = push(offering, make_report(month, usage), dry_run="True")
    # Airflow's task logging (structlog) writes to the console, not to the logging module.
    logged = capfd.readouterr().out

    assert offering.posts() == []
    assert offering.totals(month)["g001"] == Decimal("1.50")
    assert "g001 nodeHours 1.50 -> 2.75" in logged
    assert "g001 nodeHours user bob 1.50 -> 2.75" in logged
    assert (result["dry_run"], result["changed"], result["written"], result["unchanged"]) == (True, 1, 0, 1)
    assert waldur_sandbox.schema_violations == []


def test_duplicate_backend_id_and_report_issues_are_reported(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    usage = {"g000": {"alice": "1.00"}, "g001": {"bob": "2.00"}}
    offering = seed(waldur_sandbox, usage)
    waldur_sandbox.add_resource(offering.uuid, "g001", name="second g001")
    skipped_row = {
        "kind": "null_value",
        "record": "page 1, compute[0].users[1]",
        "account": "g000",
        "user": "carol",
        "field": "nodeHours",
        "value": "None",
        "message": "null nodeHours",
    }
    month = this_month(waldur_sandbox)

    message, result = failing_push(offering, make_report(month, usage, issues=[skipped_row]))

    assert "g001" in message
    assert "backend_id matches 2 Waldur resources" in message
    assert offering.totals(month)["g000"] == Decimal("1.00")
    assert (result["written"], result["failed"], result["skipped"]) == (1, 1, 1)
    assert {issue["kind"] for issue in result["issues"]} == {"duplicate_backend_id", "null_value"}
    assert waldur_sandbox.schema_violations == []


def test_list_backend_ids_reports_blank_and_duplicate_ids(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    offering = seed(waldur_sandbox, {"g002": {}, "g001": {}})
    waldur_sandbox.add_resource(offering.uuid, "g001")
    waldur_sandbox.add_resource(offering.uuid, "")
    waldur_sandbox.add_resource(offering.uuid, "g009", state="Erred")

    result = ListWaldurBackendIdsOperator(
        task_id="ids", offering_uuid=offering.uuid, waldur_conn_id=CONN_ID
    ).execute({})

    assert result["backend_ids"] == ["g001", "g002"]
    assert sorted(issue["kind"] for issue in result["issues"]) == ["blank_backend_id", "duplicate_backend_id"]
    assert waldur_sandbox.schema_violations == []


def test_operator_defaults_and_flag_validation(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    offering = seed(waldur_sandbox, {"g000": {}})
    operator = PushToWaldurOperator(task_id="p", report={}, offering_uuid=offering.uuid)

    assert operator.max_active_tis_per_dag == 1
    assert {"report", "offering_uuid", "dry_run", "reconcile"} <= set(operator.template_fields)
    with pytest.raises(AirflowException, match="dry_run must be True or False"):
        push(offering, make_report(this_month(waldur_sandbox), {"g000": {}}), dry_run="maybe")
