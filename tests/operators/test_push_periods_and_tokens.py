"""PushToWaldurOperator and the Waldur server: versions 7 and 8, past billing periods, tokens.

Every test checks that the sandbox saw no request the official OpenAPI schema rejects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_cscs_dwdi.operators._waldur_writer import usage_date_to_send
from sandbox.waldur_server import WaldurSandbox
from tests.operators.support import (
    Offering,
    expected_totals,
    expected_users,
    failing_push,
    make_report,
    previous_month,
    push,
    this_month,
    usage_grid,
)


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


def test_a_month_that_cannot_be_dated_yet_skips_the_push_saying_why() -> None:
    # A month whose safe dating window has not opened yet (as the current month during the first
    # hours UTC of the 1st): nothing may be written, and the task says so instead of failing.
    now = datetime.now(UTC)
    not_yet = f"{now.year + 1:04d}-{now.month:02d}"
    log = logging.getLogger("push")

    assert usage_date_to_send(not_yet, False, None, log) is None  # 7.x: no date is sent
    with pytest.raises(
        AirflowSkipException, match=f"Nothing written for {not_yet}: Month {not_yet} cannot be dated"
    ):
        usage_date_to_send(not_yet, True, None, log)


def test_the_clock_decides_when_the_current_month_can_be_dated(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering]
) -> None:
    # The push's clock, not the wall clock: in the first hours UTC of the 1st no date is safe for
    # the current month (a server west of UTC would file it in the previous one); mid-month is.
    waldur_sandbox.today = date(2026, 11, 1)
    usage = usage_grid(accounts=2, users=1)
    offering = seed(waldur_sandbox, usage)
    report = make_report("2026-11", usage)
    early = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    mid_month = datetime(2026, 11, 15, 12, 30, tzinfo=UTC)

    with pytest.raises(
        AirflowSkipException,
        match="Nothing written for 2026-11: Month 2026-11 cannot be dated for Waldur before 2026-11-01 12:10 UTC",
    ):
        push(offering, report, clock=lambda: early)
    assert offering.posts() == []

    result, _ = push(offering, report, clock=lambda: mid_month)

    assert (result["written"], result["failed"]) == (2, 0)
    assert offering.totals("2026-11") == expected_totals(usage)
    dates = {r.json["date"] for r in waldur_sandbox.requests if r.path.endswith("/set_usage/")}
    assert dates == {"2026-11-15T12:00:00Z"}
    assert waldur_sandbox.schema_violations == []
