"""PushToWaldurOperator against the Waldur sandbox over loopback: what is written, and only that.

Every test checks that the sandbox saw no request the official OpenAPI schema rejects.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
import requests
from airflow.sdk.exceptions import AirflowException

from airflow_provider_cscs_dwdi.operators.push import PushToWaldurOperator
from sandbox.waldur_server import WaldurSandbox
from tests.operators.support import (
    Offering,
    expected_totals,
    expected_users,
    failing_push,
    make_report,
    push,
    this_month,
    usage_grid,
)


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


def test_operator_defaults_and_flag_validation(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    offering = seed(waldur_sandbox, {"g000": {}})
    operator = PushToWaldurOperator(task_id="p", report={}, offering_uuid=offering.uuid)

    assert operator.max_active_tis_per_dag == 1
    assert {"report", "offering_uuid", "dry_run_setting", "reconcile"} <= set(operator.template_fields)
    assert callable(operator.dry_run)  # BaseOperator.dry_run() is not shadowed by the flag
    with pytest.raises(AirflowException, match="dry_run must be True or False"):
        push(offering, make_report(this_month(waldur_sandbox), {"g000": {}}), dry_run="maybe")
