"""The template-param helpers shared by the operators (operators/_params.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.operators._params import (
    as_bool,
    blank_to_none,
    normalise_accounts,
    run_instant,
)


@pytest.mark.parametrize("value", [None, "", "  ", "None", " None "])
def test_an_empty_rendered_param_means_not_given(value: Any) -> None:
    assert blank_to_none(value) is None


@pytest.mark.parametrize("value", ["2026-11", [], 0, False, "none"])
def test_other_values_are_kept_as_they_are(value: Any) -> None:
    assert blank_to_none(value) is value


@pytest.mark.parametrize(
    ("accounts", "expected"),
    [
        (None, None),
        ("", None),
        ("None", None),
        ([], []),
        (["g2", "g1", "g2"], ["g1", "g2"]),
        ('["g2", "g1"]', ["g1", "g2"]),
        ("g2, g1", ["g1", "g2"]),
        ([" g1 "], ["g1"]),
    ],
)
def test_accounts_are_normalised(accounts: Any, expected: list[str] | None) -> None:
    assert normalise_accounts(accounts) == expected


@pytest.mark.parametrize("accounts", [["g1", ""], ["g1", None], [3]])
def test_blank_or_non_text_accounts_are_refused(accounts: list[Any]) -> None:
    with pytest.raises(ConfigurationError, match="non-empty string"):
        normalise_accounts(accounts)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), (None, False), ("True", True), (" false ", False), ("TRUE", True)],
)
def test_flags_are_read_from_bools_and_rendered_text(value: Any, expected: bool) -> None:
    assert as_bool(value, "dry_run") is expected


@pytest.mark.parametrize("value", ["maybe", "", "1", 1])
def test_a_flag_that_is_neither_true_nor_false_is_refused_by_name(value: Any) -> None:
    with pytest.raises(AirflowException, match=r"reconcile must be True or False, got "):
        as_bool(value, "reconcile")


def test_a_run_stands_for_the_end_of_its_data_interval() -> None:
    end = datetime(2026, 12, 1, tzinfo=timezone(timedelta(hours=1)))
    context = {"data_interval_end": end, "dag_run": SimpleNamespace(run_after=datetime(2026, 12, 5))}

    assert run_instant(context) == end  # type: ignore[arg-type]


def test_a_triggered_run_without_interval_stands_for_when_it_was_triggered_in_utc() -> None:
    context = {"data_interval_end": None, "dag_run": SimpleNamespace(run_after=datetime(2026, 12, 5, 7))}

    assert run_instant(context) == datetime(2026, 12, 5, 7, tzinfo=UTC)  # type: ignore[arg-type]
