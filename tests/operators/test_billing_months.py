"""The billing_months task: which months a run reports, and for which accounts (no Airflow database)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.xcom import BackendIds, BillingPlan
from airflow_provider_cscs_dwdi.operators.billing_months import (
    PlanBillingRunOperator,
    pick_accounts,
    resolve_billing_months,
)
from tests.operators.support import RecordingTaskInstance

LOG = logging.getLogger("test_plan")
ZURICH = "Europe/Zurich"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def never_asked() -> bool:
    raise AssertionError("Waldur must not be asked when the previous month is not a candidate")


def months(
    instant: datetime, *, month: str | None = None, reopen_days: int = 3, honoured: Any = True
) -> list[str]:
    ask = honoured if callable(honoured) else lambda: honoured
    return resolve_billing_months(
        month=month,
        instant=instant,
        billing_timezone=ZURICH,
        reopen_days=reopen_days,
        previous_month_allowed=ask,
        log=LOG,
    )


def test_mid_month_run_reports_the_month_to_date_only() -> None:
    assert months(utc(2026, 11, 15, 23), honoured=never_asked) == ["2026-11"]


def test_first_days_also_re_report_the_previous_month() -> None:
    # 2026-11-03 00:00 in Zurich is 2026-11-02 23:00 UTC; the moment before it is on the 2nd.
    assert months(utc(2026, 11, 2, 23)) == ["2026-10", "2026-11"]


def test_midnight_run_on_the_first_closes_the_previous_month() -> None:
    # 2026-12-01 00:00 in Zurich: the moment before is 30 November, day 30 > 3.
    assert months(utc(2026, 11, 30, 23), honoured=never_asked) == ["2026-11"]


def test_previous_month_is_dropped_when_waldur_ignores_the_date(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="test_plan"):
        assert months(utc(2026, 11, 2, 23), honoured=False) == ["2026-11"]

    assert "Not re-reporting 2026-10" in caplog.text


def test_reopening_can_be_switched_off() -> None:
    assert months(utc(2026, 11, 1, 23), reopen_days=0, honoured=never_asked) == ["2026-11"]


def test_explicit_month_is_reported_alone() -> None:
    assert months(utc(2026, 11, 2, 23), month="2025-12", honoured=never_asked) == ["2025-12"]


def test_explicit_month_must_be_a_month() -> None:
    with pytest.raises(ConfigurationError):
        months(utc(2026, 11, 2, 23), month="2025-13")


def test_no_requested_accounts_means_every_backend_id() -> None:
    selection = pick_accounts(None, ["g2", "g1", "g2"])

    assert (selection.accounts, selection.unknown) == (["g1", "g2"], [])
    assert pick_accounts([], ["g1"]).accounts == ["g1"]


def test_requested_accounts_are_intersected_with_the_backend_ids() -> None:
    selection = pick_accounts(["g2", "x9", "g3"], ["g1", "g2", "g3"])

    assert (selection.accounts, selection.unknown) == (["g2", "g3"], ["x9"])


def run_plan(
    *, month: Any, accounts: Any, backend_ids: list[str] | dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    operator = PlanBillingRunOperator(
        task_id="billing_months",
        backend_ids=BackendIds(tuple(backend_ids)).to_xcom()
        if isinstance(backend_ids, list)
        else backend_ids,
        billing_timezone=ZURICH,
        reopen_previous_month_days=3,
        month=month,
        accounts=accounts,
    )
    ti = RecordingTaskInstance()
    context = {
        "ti": ti,
        "data_interval_end": utc(2026, 11, 15, 23),
        "dag_run": SimpleNamespace(run_after=utc(2026, 11, 15, 23)),
    }
    return operator.execute(context), ti.pushed


def test_operator_returns_months_and_pushes_the_accounts() -> None:
    result, pushed = run_plan(month=None, accounts=[], backend_ids=["g2", "g1"])

    assert result == ["2026-11"]
    assert pushed == {"accounts": ["g1", "g2"]}
    assert BillingPlan.from_xcom(result, pushed[BillingPlan.ACCOUNTS_KEY]) == BillingPlan(
        ("2026-11",), ("g1", "g2")
    )


def test_operator_reads_params_rendered_as_text() -> None:
    result, pushed = run_plan(month="None", accounts='["g2", "zz"]', backend_ids=["g1", "g2"])

    assert result == ["2026-11"]
    assert pushed == {BillingPlan.ACCOUNTS_KEY: ["g2"]}


def test_operator_fails_when_no_requested_account_is_known() -> None:
    from airflow.sdk.exceptions import AirflowException

    with pytest.raises(AirflowException, match=r"None of the requested accounts \(zz\)"):
        run_plan(month="2026-10", accounts=["zz"], backend_ids=["g1"])


def test_operator_fails_naming_the_field_when_the_backend_ids_cannot_be_read() -> None:
    from airflow.sdk.exceptions import AirflowException

    with pytest.raises(AirflowException, match=r"backend IDs: backend_ids: expected list, got nothing"):
        run_plan(month=None, accounts=[], backend_ids={"issues": []})
