"""The billing_months task: which months a run reports, and for which accounts (no Airflow database)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.xcom import BackendIds, BillingPlan
from airflow_provider_cscs_dwdi.operators.billing_months import (
    PlanBillingRunOperator,
    _requested,
    pick_accounts,
    resolve_billing_months,
)
from tests.operators.support import RecordingTaskInstance

LOG = logging.getLogger("test_plan")
ZURICH = "Europe/Zurich"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def never_asked() -> bool:
    raise AssertionError("Waldur must not be asked when the previous month is not a candidate")


def months(
    instant: datetime,
    *,
    month: str | None = None,
    reopen_days: int = 3,
    honoured: Any = True,
    now: datetime | None = None,
    **options: Any,
) -> list[str]:
    """The months planned for a run standing for ``instant`` and executed at ``now`` (default: then)."""
    ask = honoured if callable(honoured) else lambda: honoured
    return resolve_billing_months(
        month=month,
        instant=instant,
        billing_timezone=ZURICH,
        reopen_days=reopen_days,
        previous_month_allowed=ask,
        log=LOG,
        now=now or instant,
        **options,
    )


def test_mid_month_run_reports_the_month_to_date_only() -> None:
    assert months(utc(2026, 11, 15, 23), honoured=never_asked) == ["2026-11"]


def test_first_days_also_re_report_the_previous_month() -> None:
    # 2026-11-03 00:00 in Zurich is 2026-11-02 23:00 UTC; the moment before it is on the 2nd.
    assert months(utc(2026, 11, 2, 23)) == ["2026-10", "2026-11"]


def test_midnight_run_on_the_first_closes_the_previous_month() -> None:
    # 2026-12-01 00:00 in Zurich: the moment before is 30 November, day 30 > 3.
    assert months(utc(2026, 11, 30, 23)) == ["2026-11"]


def test_a_run_late_on_the_last_day_reports_its_month_without_asking_waldur() -> None:
    # 2026-11-30 23:45 in Zurich (month_end_run), executed before midnight: November is current.
    assert months(utc(2026, 11, 30, 22, 45), honoured=never_asked) == ["2026-11"]


def test_previous_month_is_dropped_when_waldur_ignores_the_date(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="test_plan"):
        assert months(utc(2026, 11, 2, 23), honoured=False) == ["2026-11"]

    assert (
        "2026-10 can no longer be written to this Waldur server, which ignores the usage date" in caplog.text
    )


def test_the_closing_run_on_a_server_ignoring_the_date_plans_nothing_and_says_what_is_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="test_plan"):
        assert months(utc(2026, 11, 30, 23), honoured=False) == []

    assert (
        "2026-11 can no longer be written to this Waldur server, which ignores the usage date (Waldur 7.x): "
        "the last 24 hours of 2026-11 (from 2026-11-30 00:00 Europe/Zurich) are lost" in caplog.text
    )
    assert "set month_end_run" in caplog.text


def test_with_a_month_end_run_the_closing_run_loses_only_the_minutes_after_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="test_plan"):
        assert months(utc(2026, 11, 30, 23), honoured=False, month_end_run=time(23, 45)) == []

    assert "the last 15 minutes of 2026-11 (from 2026-11-30 23:45 Europe/Zurich) are lost" in caplog.text
    assert "set month_end_run" not in caplog.text


def test_an_explicit_past_month_is_refused_at_once_on_a_server_ignoring_the_date() -> None:
    with pytest.raises(
        AirflowFailException, match=r"Refusing to push 2026-10: it is not the current month \(2026-11"
    ):
        months(utc(2026, 11, 15, 23), month="2026-10", honoured=False)


def test_a_backfill_of_a_past_month_is_refused_like_an_explicit_month() -> None:
    with pytest.raises(AirflowFailException, match=r"Refusing to push 2026-10"):
        months(utc(2026, 10, 20, 22), now=utc(2026, 11, 15, 23), honoured=False, requested=True)


def test_a_scheduled_run_given_its_month_by_the_timetable_only_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="test_plan"):
        assert months(utc(2026, 11, 15, 23), month="2026-10", honoured=False, requested=False) == []

    assert "2026-10 can no longer be written" in caplog.text


@pytest.mark.parametrize(
    ("month", "run_type", "requested"),
    [
        (None, "scheduled", False),
        (None, "manual", False),  # from the run date, like the schedule
        (None, "backfill", True),
        ("2026-10", "manual", True),
        ("2026-10", "backfill", True),
        ("2026-10", "scheduled", False),  # a closing DAG's month comes from its timetable
        ("2026-10", None, True),
    ],
)
def test_who_asked_for_the_months(month: str | None, run_type: str | None, requested: bool) -> None:
    assert _requested(month, run_type) is requested


def test_a_dry_run_of_a_past_month_is_planned_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="test_plan"):
        assert months(utc(2026, 11, 15, 23), month="2026-10", honoured=False, dry_run=True) == ["2026-10"]

    assert "Dry run of 2026-10: planned in full, but a real run would be refused" in caplog.text


def test_the_current_month_never_asks_waldur_even_when_explicit() -> None:
    assert months(utc(2026, 11, 15, 23), month="2026-11", honoured=never_asked) == ["2026-11"]


def test_reopening_can_be_switched_off() -> None:
    assert months(utc(2026, 11, 1, 23), reopen_days=0, honoured=never_asked) == ["2026-11"]


def test_explicit_month_is_reported_alone() -> None:
    assert months(utc(2026, 11, 2, 23), month="2025-12") == ["2025-12"]


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


#: When the operator tests run, on the operator's clock: no test depends on the wall clock.
OPERATOR_NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def this_month() -> str:
    return f"{OPERATOR_NOW.astimezone(ZoneInfo(ZURICH)):%Y-%m}"


def run_plan(
    *, month: Any, accounts: Any, backend_ids: list[str] | dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    operator = PlanBillingRunOperator(
        task_id="billing_months",
        backend_ids=BackendIds(tuple(backend_ids)).to_xcom()
        if isinstance(backend_ids, list)
        else backend_ids,
        billing_timezone=ZURICH,
        # The current month only: a past month would make the operator ask a Waldur server.
        reopen_previous_month_days=0,
        month=month,
        accounts=accounts,
        clock=lambda: OPERATOR_NOW,
    )
    ti = RecordingTaskInstance()
    context = {
        "ti": ti,
        "data_interval_end": OPERATOR_NOW,
        "dag_run": SimpleNamespace(run_after=OPERATOR_NOW),
    }
    return operator.execute(context), ti.pushed


def test_operator_returns_months_and_pushes_the_accounts() -> None:
    result, pushed = run_plan(month=None, accounts=[], backend_ids=["g2", "g1"])

    assert result == [this_month()]
    assert pushed == {"accounts": ["g1", "g2"]}
    assert BillingPlan.from_xcom(result, pushed[BillingPlan.ACCOUNTS_KEY]) == BillingPlan(
        (this_month(),), ("g1", "g2")
    )


def test_operator_reads_params_rendered_as_text() -> None:
    result, pushed = run_plan(month="None", accounts='["g2", "zz"]', backend_ids=["g1", "g2"])

    assert result == [this_month()]
    assert pushed == {BillingPlan.ACCOUNTS_KEY: ["g2"]}


def test_operator_fails_when_no_requested_account_is_known() -> None:
    from airflow.sdk.exceptions import AirflowException

    with pytest.raises(AirflowException, match=r"None of the requested accounts \(zz\)"):
        run_plan(month=this_month(), accounts=["zz"], backend_ids=["g1"])


def test_operator_fails_naming_the_field_when_the_backend_ids_cannot_be_read() -> None:
    from airflow.sdk.exceptions import AirflowException

    with pytest.raises(AirflowException, match=r"backend IDs: backend_ids: expected list, got nothing"):
        run_plan(month=None, accounts=[], backend_ids={"issues": []})
