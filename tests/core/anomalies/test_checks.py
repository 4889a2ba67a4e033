"""Each check finds its anomaly, names the numbers, and stays silent just under its threshold."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.anomalies import (
    Anomaly,
    AnomalyCheck,
    AnomalyGuardSettings,
    GuardEvidence,
    GuardPolicy,
    find_anomalies,
    held_keys,
    holds_everything,
)

D = Decimal
DEFAULTS = AnomalyGuardSettings()
MONTH = "2026-11"


def compute(**parts: Any) -> GuardEvidence:
    return GuardEvidence(month=MONTH, usage_kind="compute", **{"new_totals": {}, **parts})


def storage(**parts: Any) -> GuardEvidence:
    return GuardEvidence(month=MONTH, usage_kind="storage", **{"new_totals": {}, **parts})


def only(anomalies: list[Anomaly], check: AnomalyCheck) -> list[Anomaly]:
    return [anomaly for anomaly in anomalies if anomaly.check is check]


# ------------------------------------------------------------------ total_decrease


@pytest.mark.parametrize("usage_kind", ["compute", "inference"])
def test_a_month_to_date_total_that_falls_is_an_anomaly_naming_both_amounts(usage_kind: str) -> None:
    evidence = GuardEvidence(
        month=MONTH,
        usage_kind=usage_kind,
        new_totals={"g001": {"nodeHours": D("80.25"), "gpuHours": D("3.00")}},
        waldur_totals={"g001": {"nodeHours": D("120.50"), "gpuHours": D("3.00")}},
    )

    [anomaly] = find_anomalies(evidence, DEFAULTS)

    assert anomaly.check is AnomalyCheck.TOTAL_DECREASE
    assert anomaly.policy is GuardPolicy.HOLD
    assert (anomaly.backend_id, anomaly.component) == ("g001", "nodeHours")
    assert (anomaly.waldur_now, anomaly.dwdi_new) == (D("120.50"), D("80.25"))
    assert "120.50" in anomaly.why
    assert "80.25" in anomaly.why
    assert "40.25 less" in anomaly.why
    assert MONTH in anomaly.why


def test_a_fall_of_the_tolerance_is_rounding_and_one_cent_more_is_not() -> None:
    waldur = {"g001": {"nodeHours": D("10.00")}}

    assert (
        find_anomalies(compute(new_totals={"g001": {"nodeHours": D("9.99")}}, waldur_totals=waldur), DEFAULTS)
        == []
    )
    [anomaly] = find_anomalies(
        compute(new_totals={"g001": {"nodeHours": D("9.98")}}, waldur_totals=waldur), DEFAULTS
    )
    assert anomaly.check is AnomalyCheck.TOTAL_DECREASE
    wider = AnomalyGuardSettings(decrease_tolerance="0.02")
    assert (
        find_anomalies(compute(new_totals={"g001": {"nodeHours": D("9.98")}}, waldur_totals=waldur), wider)
        == []
    )


def test_a_month_never_pushed_or_a_resource_not_in_the_report_has_nothing_to_fall_from() -> None:
    assert find_anomalies(compute(new_totals={"g001": {"nodeHours": D("1.00")}}), DEFAULTS) == []
    # Not in the report (left out under the skip policy): nothing is written, nothing falls.
    assert find_anomalies(compute(waldur_totals={"g001": {"nodeHours": D("5.00")}}), DEFAULTS) == []


# ------------------------------------------------------------------ cluster_missing


def test_a_cluster_gone_for_an_account_is_an_anomaly_for_each_of_its_components() -> None:
    evidence = compute(
        new_totals={
            "g001": {"nodeHours": D("50.00"), "gpuHours": D("0.00")},
            "g002": {"nodeHours": D("7.00")},
        },
        waldur_totals={
            "g001": {"nodeHours": D("50.00"), "gpuHours": D("0.00")},
            "g002": {"nodeHours": D("7.00")},
        },
        clusters_last_push={"g001": frozenset({"daint", "eiger"}), "g002": frozenset({"eiger"})},
        clusters_now={"g001": frozenset({"daint"}), "g002": frozenset({"eiger"})},
    )

    anomalies = find_anomalies(evidence, DEFAULTS)

    assert [(a.check, a.backend_id, a.component) for a in anomalies] == [
        (AnomalyCheck.CLUSTER_MISSING, "g001", "gpuHours"),
        (AnomalyCheck.CLUSTER_MISSING, "g001", "nodeHours"),
    ]
    assert all(a.policy is GuardPolicy.HOLD for a in anomalies)
    assert "eiger" in anomalies[1].why
    assert "daint" not in anomalies[1].why
    assert "from 50.00 to 50.00" in anomalies[1].why


def test_an_account_without_any_row_now_misses_every_cluster_it_had() -> None:
    evidence = compute(
        new_totals={"g001": {"nodeHours": D("0.00")}},
        waldur_totals={"g001": {"nodeHours": D("0.00")}},
        clusters_last_push={"g001": frozenset({"daint", "eiger"})},
        clusters_now={},
    )

    [anomaly] = find_anomalies(evidence, DEFAULTS)

    assert anomaly.check is AnomalyCheck.CLUSTER_MISSING
    assert "daint, eiger" in anomaly.why


def test_clusters_are_compared_within_a_month_only() -> None:
    parts: dict[str, Any] = {
        "new_totals": {"g001": {"nodeHours": D("1.00")}},
        "clusters_last_push": {"g001": frozenset({"daint", "eiger"})},
        "clusters_now": {"g001": frozenset({"daint"})},
    }

    assert find_anomalies(compute(**parts, last_push_month="2026-10"), DEFAULTS) == []
    assert find_anomalies(compute(**{**parts, "clusters_last_push": None}), DEFAULTS) == []
    # A new cluster is no anomaly.
    assert (
        find_anomalies(
            compute(**{**parts, "clusters_now": {"g001": frozenset({"daint", "eiger", "alps"})}}), DEFAULTS
        )
        == []
    )
    assert len(find_anomalies(compute(**parts, last_push_month=MONTH), DEFAULTS)) == 1


# ------------------------------------------------------------------ accounts_fell


def test_fewer_accounts_with_data_by_more_than_the_fraction_is_an_offering_wide_warning() -> None:
    [anomaly] = find_anomalies(compute(accounts_with_data_last_push=20, accounts_with_data_now=17), DEFAULTS)

    assert anomaly.check is AnomalyCheck.ACCOUNTS_FELL
    assert anomaly.policy is GuardPolicy.WARN
    assert (anomaly.backend_id, anomaly.component) == (None, None)
    assert (anomaly.waldur_now, anomaly.dwdi_new) == (D(20), D(17))
    assert anomaly.why == (
        "17 accounts have data for 2026-11, 20 had in the last push: 3 fewer (15%, more than 10%)."
    )


def test_a_fall_of_exactly_the_fraction_is_no_anomaly() -> None:
    assert find_anomalies(compute(accounts_with_data_last_push=20, accounts_with_data_now=18), DEFAULTS) == []
    assert find_anomalies(compute(accounts_with_data_last_push=20, accounts_with_data_now=25), DEFAULTS) == []
    any_fall = AnomalyGuardSettings(accounts_fell_fraction=0)
    [anomaly] = find_anomalies(compute(accounts_with_data_last_push=20, accounts_with_data_now=19), any_fall)
    assert anomaly.check is AnomalyCheck.ACCOUNTS_FELL
    assert (
        find_anomalies(
            compute(accounts_with_data_last_push=20, accounts_with_data_now=2, last_push_month="2026-10"),
            DEFAULTS,
        )
        == []
    )


def test_a_storage_offering_counts_paths() -> None:
    [anomaly] = find_anomalies(storage(accounts_with_data_last_push=10, accounts_with_data_now=5), DEFAULTS)

    assert anomaly.check is AnomalyCheck.ACCOUNTS_FELL
    assert anomaly.why.startswith("5 paths have data")


# ------------------------------------------------------------------ jump


def jump(new: str, previous: str, waldur: str | None = None, usage_kind: str = "compute") -> list[Anomaly]:
    evidence = GuardEvidence(
        month=MONTH,
        usage_kind=usage_kind,
        new_totals={"g001": {"nodeHours": D(new)}},
        previous_month_totals={"g001": {"nodeHours": D(previous)}},
        waldur_totals={} if waldur is None else {"g001": {"nodeHours": D(waldur)}},
    )
    return find_anomalies(evidence, DEFAULTS)


@pytest.mark.parametrize("usage_kind", ["compute", "inference"])
def test_a_total_above_ten_times_last_month_and_above_the_floor_jumps(usage_kind: str) -> None:
    [anomaly] = jump("60000.00", "5000.00", waldur="5100.00", usage_kind=usage_kind)

    assert anomaly.check is AnomalyCheck.JUMP
    assert anomaly.policy is GuardPolicy.HOLD
    assert (anomaly.backend_id, anomaly.component) == ("g001", "nodeHours")
    assert (anomaly.waldur_now, anomaly.dwdi_new) == (D("5100.00"), D("60000.00"))
    assert "60000.00" in anomaly.why
    assert "12.0 times the 5000.00" in anomaly.why
    assert "floor of 50000" in anomaly.why


def test_just_under_the_factor_or_the_floor_does_not_jump() -> None:
    assert jump("50000.00", "4000.00") == []  # 12.5 times, but not above the floor
    assert jump("60000.00", "6000.00") == []  # above the floor, but exactly 10 times
    assert [a.check for a in jump("60000.00", "5999.99")] == [AnomalyCheck.JUMP]
    assert [a.check for a in jump("50000.01", "10.00")] == [AnomalyCheck.JUMP]


def test_no_jump_from_nothing_nor_again_once_waldur_holds_it() -> None:
    assert jump("90000.00", "0.00") == []
    assert find_anomalies(compute(new_totals={"g001": {"nodeHours": D("90000.00")}}), DEFAULTS) == []
    # Yesterday's jump was approved (or warned): today's growth is not asked about again.
    assert jump("91000.00", "100.00", waldur="90000.00") == []


# ------------------------------------------------------------------ storage


def test_a_matched_path_that_matches_nothing_now_holds_each_component_of_its_resource() -> None:
    evidence = storage(
        new_totals={"p2": {"space": D("3.00"), "inodes": D("1.00")}},
        waldur_totals={
            "p1": {"space": D("12.50"), "inodes": D("2.00")},
            "p2": {"space": D("3.00"), "inodes": D("1.00")},
        },
        paths_last_push={"p1": "/capstor/store/cscs/p1", "p2": "/capstor/store/cscs/p2"},
        paths_now={"p1": None, "p2": "/capstor/store/cscs/p2"},
    )

    anomalies = find_anomalies(evidence, DEFAULTS)

    assert [(a.check, a.backend_id, a.component, a.waldur_now, a.dwdi_new) for a in anomalies] == [
        (AnomalyCheck.STORAGE_PATH_UNMATCHED, "p1", "inodes", D("2.00"), None),
        (AnomalyCheck.STORAGE_PATH_UNMATCHED, "p1", "space", D("12.50"), None),
    ]
    assert "/capstor/store/cscs/p1" in anomalies[0].why
    assert "matches nothing now" in anomalies[0].why
    assert held_keys(anomalies) == {("p1", "inodes"), ("p1", "space")}


def test_a_resource_whose_path_changed_is_held_with_its_new_level() -> None:
    evidence = storage(
        new_totals={"p1": {"space": D("40.00")}},
        waldur_totals={"p1": {"space": D("12.50")}},
        paths_last_push={"p1": "/capstor/store/cscs/p1"},
        paths_now={"p1": "/capstor/store/cscs/userlab/p1"},
    )

    [anomaly] = find_anomalies(evidence, DEFAULTS)

    assert anomaly.check is AnomalyCheck.STORAGE_PATH_UNMATCHED
    assert (anomaly.waldur_now, anomaly.dwdi_new) == (D("12.50"), D("40.00"))
    assert "/capstor/store/cscs/userlab/p1 instead of /capstor/store/cscs/p1" in anomaly.why


def test_without_the_last_archive_a_level_waldur_holds_is_what_matched_before() -> None:
    evidence = storage(waldur_totals={"p1": {"space": D("12.50")}}, paths_now={"p1": None, "p2": "/x/p2"})

    [anomaly] = find_anomalies(evidence, DEFAULTS)

    assert (anomaly.check, anomaly.backend_id) == (AnomalyCheck.STORAGE_PATH_UNMATCHED, "p1")
    # A path that never matched is no anomaly: a project without data yet.
    assert (
        find_anomalies(storage(paths_last_push={"p1": None}, paths_now={"p1": None, "p2": "/x"}), DEFAULTS)
        == []
    )


@pytest.mark.parametrize(
    ("before", "after", "direction"), [("2.00", "20.01", "rise"), ("20.01", "2.00", "fall")]
)
def test_a_level_that_moves_by_more_than_the_factor_within_the_month_is_held(
    before: str, after: str, direction: str
) -> None:
    evidence = storage(new_totals={"p1": {"space": D(after)}}, waldur_totals={"p1": {"space": D(before)}})

    [anomaly] = find_anomalies(evidence, DEFAULTS)

    assert anomaly.check is AnomalyCheck.STORAGE_LEVEL_CHANGE
    assert (anomaly.backend_id, anomaly.component) == ("p1", "space")
    assert (anomaly.waldur_now, anomaly.dwdi_new) == (D(before), D(after))
    assert f"would {direction} from {before} (Waldur now) to {after}" in anomaly.why


def test_a_level_just_within_the_factor_or_under_the_floor_does_not_change() -> None:
    def found(before: str, after: str) -> list[Anomaly]:
        evidence = storage(new_totals={"p1": {"space": D(after)}}, waldur_totals={"p1": {"space": D(before)}})
        return find_anomalies(evidence, DEFAULTS)

    assert found("2.00", "20.00") == []  # exactly 10 times
    assert found("20.00", "2.00") == []
    assert found("0.01", "1.00") == []  # 100 times, but both at or under the floor of 1
    assert [a.check for a in found("0.01", "1.01")] == [AnomalyCheck.STORAGE_LEVEL_CHANGE]
    # Between months a level may move freely: the previous month is not compared.
    quiet = storage(
        new_totals={"p1": {"space": D("400.00")}}, previous_month_totals={"p1": {"space": D("1.00")}}
    )
    assert find_anomalies(quiet, DEFAULTS) == []


def test_no_path_matched_for_an_offering_that_matched_before_holds_everything() -> None:
    evidence = storage(
        waldur_totals={"p1": {"space": D("12.50")}, "p2": {"space": D("3.00")}},
        paths_last_push={"p1": "/a/p1", "p2": "/a/p2", "p3": None},
        paths_now={"p1": None, "p2": None, "p3": None},
    )

    anomalies = find_anomalies(evidence, DEFAULTS)

    # One offering-wide anomaly, not one per path besides.
    [anomaly] = anomalies
    assert anomaly.check is AnomalyCheck.STORAGE_NONE_MATCHED
    assert (anomaly.backend_id, anomaly.waldur_now, anomaly.dwdi_new) == (None, D(2), D(0))
    assert anomaly.why.startswith(
        "0 of 3 storage paths matched DWDI data for 2026-11, where 2 matched before"
    )
    assert holds_everything(anomalies)


def test_when_no_path_matched_the_fall_of_paths_with_data_is_not_said_twice() -> None:
    evidence = storage(
        paths_last_push={"p1": "/a/p1", "p2": "/a/p2"},
        paths_now={"p1": None, "p2": None},
        accounts_with_data_last_push=2,
        accounts_with_data_now=0,
    )

    assert [a.check for a in find_anomalies(evidence, DEFAULTS)] == [AnomalyCheck.STORAGE_NONE_MATCHED]


def test_none_matched_needs_a_match_before_and_counts_waldur_s_levels_without_an_archive() -> None:
    nothing_now = {"p1": None, "p2": None}

    assert find_anomalies(storage(paths_now=nothing_now), DEFAULTS) == []
    assert (
        find_anomalies(storage(paths_now=nothing_now, paths_last_push={"p1": None, "p2": None}), DEFAULTS)
        == []
    )
    [first_of_month] = find_anomalies(
        storage(paths_now=nothing_now, previous_month_totals={"p1": {"space": D("1.00")}}), DEFAULTS
    )
    assert first_of_month.check is AnomalyCheck.STORAGE_NONE_MATCHED
    assert (
        find_anomalies(
            storage(paths_now={"p1": "/a/p1", "p2": None}, paths_last_push={"p1": "/a/p1"}), DEFAULTS
        )
        == []
    )


def test_storage_is_not_checked_for_decreases_or_jumps() -> None:
    evidence = storage(
        new_totals={"p1": {"space": D("60000.00")}},
        waldur_totals={"p1": {"space": D("59000.00")}},
        previous_month_totals={"p1": {"space": D("1.00")}},
    )

    assert find_anomalies(evidence, DEFAULTS) == []
    fell = storage(new_totals={"p1": {"space": D("9.00")}}, waldur_totals={"p1": {"space": D("10.00")}})
    assert find_anomalies(fell, DEFAULTS) == []


# ------------------------------------------------------------------ policies and held keys


def everything_wrong() -> GuardEvidence:
    return compute(
        new_totals={"g001": {"nodeHours": D("1.00")}, "g002": {"nodeHours": D("70000.00")}},
        waldur_totals={"g001": {"nodeHours": D("9.00")}},
        previous_month_totals={"g002": {"nodeHours": D("100.00")}},
        accounts_with_data_last_push=10,
        accounts_with_data_now=2,
    )


def test_the_default_policies_hold_values_and_warn_of_the_offering_wide_fall() -> None:
    anomalies = find_anomalies(everything_wrong(), DEFAULTS)

    assert [(a.check, a.policy, a.backend_id) for a in anomalies] == [
        (AnomalyCheck.ACCOUNTS_FELL, GuardPolicy.WARN, None),
        (AnomalyCheck.TOTAL_DECREASE, GuardPolicy.HOLD, "g001"),
        (AnomalyCheck.JUMP, GuardPolicy.HOLD, "g002"),
    ]
    assert held_keys(anomalies) == {("g001", "nodeHours"), ("g002", "nodeHours")}
    assert not holds_everything(anomalies)


def test_an_offering_s_policies_decide_what_is_held() -> None:
    settings = AnomalyGuardSettings(policies={"accounts_fell": "hold", "jump": "warn"})

    anomalies = find_anomalies(everything_wrong(), settings)

    assert {a.check: a.policy for a in anomalies} == {
        AnomalyCheck.ACCOUNTS_FELL: GuardPolicy.HOLD,
        AnomalyCheck.TOTAL_DECREASE: GuardPolicy.HOLD,
        AnomalyCheck.JUMP: GuardPolicy.WARN,
    }
    assert held_keys(anomalies) == {("g001", "nodeHours")}
    assert holds_everything(anomalies)


def test_everything_under_warn_holds_nothing_and_a_disabled_guard_finds_nothing() -> None:
    warn_all = AnomalyGuardSettings(policies=dict.fromkeys(AnomalyCheck, "warn"))

    anomalies = find_anomalies(everything_wrong(), warn_all)

    assert len(anomalies) == 3
    assert held_keys(anomalies) == frozenset()
    assert not holds_everything(anomalies)
    assert find_anomalies(everything_wrong(), AnomalyGuardSettings(enabled=False)) == []


def test_anomalies_travel_as_json_and_come_back_equal() -> None:
    anomalies = find_anomalies(everything_wrong(), DEFAULTS)

    documents = [anomaly.model_dump(mode="json") for anomaly in anomalies]

    assert documents[1] == {
        "check": "total_decrease",
        "policy": "hold",
        "backend_id": "g001",
        "component": "nodeHours",
        "username": None,
        "waldur_now": "9.00",
        "dwdi_new": "1.00",
        "why": anomalies[1].why,
    }
    assert [Anomaly.model_validate(document) for document in documents] == anomalies
    # The same evidence gives the same list, in the same order.
    assert find_anomalies(everything_wrong(), DEFAULTS) == anomalies
