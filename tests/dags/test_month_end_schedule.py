"""The optional month-end run (``month_end_run``): its schedule across month ends, and its config."""

from __future__ import annotations

import copy
from typing import Any

import pendulum
import pytest

from airflow_provider_cscs_dwdi.core.config import OfferingConfig, parse_config
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.dag_factory import build_dags
from airflow_provider_cscs_dwdi.schedules import month_end_cron, usage_schedule

ZURICH = "Europe/Zurich"
OFFERING: dict[str, Any] = {
    "name": "HPC",
    "offering_uuid": "6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f",
    "billing_timezone": ZURICH,
    "backend_components": {
        "nodeHours": {"measured_unit": "node-hours", "accounting_type": "usage", "label": "Node Hours"}
    },
}


def offering(**settings: Any) -> OfferingConfig:
    return parse_config({"offerings": [{**copy.deepcopy(OFFERING), **settings}]}).offerings[0]


def runs_after(start: str, count: int, **settings: Any) -> list[str]:
    """The next ``count`` run times after ``start`` (local ISO), as local ISO strings."""
    from airflow.timetables.base import DataInterval, TimeRestriction

    timetable = build_dags(parse_config({"offerings": [{**OFFERING, **settings}]}))[
        "cscs_dwdi_usage_hpc"
    ].timetable
    moment = pendulum.parse(start, tz=ZURICH)
    restriction = TimeRestriction(earliest=None, latest=None, catchup=True)
    times = []
    for _ in range(count):
        info = timetable.next_dagrun_info(
            last_automated_data_interval=DataInterval(moment, moment), restriction=restriction
        )
        assert info is not None
        moment = info.run_after
        times.append(moment.in_timezone(ZURICH).isoformat())
    return times


def test_without_month_end_run_the_schedule_is_the_offerings() -> None:
    assert usage_schedule(offering()) == "@daily"
    assert usage_schedule(offering(schedule="0 6 * * *")) == "0 6 * * *"


def test_the_month_end_run_is_that_time_on_the_last_day() -> None:
    assert month_end_cron("23:45") == "45 23 L * *"
    assert month_end_cron("07:05") == "5 7 L * *"


def test_a_30_day_month_gets_one_extra_run_on_its_last_day_only() -> None:
    assert runs_after("2026-11-27T00:00:00", 5, month_end_run="23:45") == [
        "2026-11-28T00:00:00+01:00",
        "2026-11-29T00:00:00+01:00",
        "2026-11-30T00:00:00+01:00",
        "2026-11-30T23:45:00+01:00",
        "2026-12-01T00:00:00+01:00",
    ]


def test_february_of_a_leap_year_ends_on_the_29th() -> None:
    assert runs_after("2024-02-27T00:00:00", 4, month_end_run="23:45") == [
        "2024-02-28T00:00:00+01:00",
        "2024-02-29T00:00:00+01:00",
        "2024-02-29T23:45:00+01:00",
        "2024-03-01T00:00:00+01:00",
    ]
    assert runs_after("2026-02-27T00:00:00", 3, month_end_run="23:45")[1] == "2026-02-28T23:45:00+01:00"


def test_dst_changes_on_the_last_day_keep_local_times() -> None:
    # 31 March 2024: Zurich moves to summer time (+02:00) at 02:00 on the month's last day.
    assert runs_after("2024-03-30T12:00:00", 3, month_end_run="23:45") == [
        "2024-03-31T00:00:00+01:00",
        "2024-03-31T23:45:00+02:00",
        "2024-04-01T00:00:00+02:00",
    ]
    # 31 October 2021: back to winter time (+01:00) at 03:00 on the month's last day.
    assert runs_after("2021-10-30T12:00:00", 3, month_end_run="23:45") == [
        "2021-10-31T00:00:00+02:00",
        "2021-10-31T23:45:00+01:00",
        "2021-11-01T00:00:00+01:00",
    ]


def test_the_month_end_run_joins_a_custom_cron_schedule() -> None:
    assert runs_after("2026-12-30T07:00:00", 3, schedule="0 6 * * *", month_end_run="22:30") == [
        "2026-12-31T06:00:00+01:00",
        "2026-12-31T22:30:00+01:00",
        "2027-01-01T06:00:00+01:00",
    ]


def test_the_dag_passes_the_month_end_run_to_the_planning_task() -> None:
    dag = build_dags(parse_config({"offerings": [{**OFFERING, "month_end_run": "23:45"}]}))[
        "cscs_dwdi_usage_hpc"
    ]

    assert dag.task_dict["billing_months"].month_end_run == "23:45"
    assert dag.timetable.summary == "0 0 * * *, 45 23 L * *"


@pytest.mark.parametrize("value", ["24:00", "11:45 pm", 2345, ""])
def test_a_bad_month_end_run_is_a_configuration_error(value: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"offering 'HPC' \(#1\): month_end_run: expected"):
        offering(month_end_run=value)


def test_a_month_end_run_needs_a_cron_schedule() -> None:
    with pytest.raises(
        ConfigurationError, match=r"month_end_run needs a cron schedule .* got schedule '@once'"
    ):
        build_dags(parse_config({"offerings": [{**OFFERING, "schedule": "@once", "month_end_run": "23:45"}]}))


def test_the_month_end_run_is_normalised() -> None:
    assert offering(month_end_run=" 23:45 ").month_end_run == "23:45"
    assert offering().month_end_run is None
