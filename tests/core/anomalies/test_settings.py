"""An offering's ``anomaly_guard:``: defaults, partial policies, and one-line refusals."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_cscs_dwdi.core.anomalies import (
    DEFAULT_POLICIES,
    AnomalyCheck,
    AnomalyGuardSettings,
    GuardPolicy,
)
from airflow_provider_cscs_dwdi.core.config import OfferingConfig, parse_config
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError

OFFERING: dict[str, Any] = {
    "name": "CSCS HPC",
    "offering_uuid": "0b8a5f3c-2d4e-4f61-9a7b-3c5d6e7f8a91",
    "billing_timezone": "Europe/Zurich",
    "backend_components": {"nodeHours": {"measured_unit": "node-hours"}},
}


def offering(anomaly_guard: Any) -> OfferingConfig:
    document = {"offerings": [{**copy.deepcopy(OFFERING), "anomaly_guard": anomaly_guard}]}
    return parse_config(document, source="offerings.yaml").offerings[0]


def refusal(anomaly_guard: Any) -> str:
    with pytest.raises(ConfigurationError) as error:
        offering(anomaly_guard)
    return str(error.value)


def test_an_offering_without_the_block_gets_the_default_guard() -> None:
    settings = parse_config({"offerings": [OFFERING]}).offerings[0].anomaly_guard

    assert settings == AnomalyGuardSettings() == offering(None).anomaly_guard == offering({}).anomaly_guard
    assert settings.enabled
    assert settings.policies == DEFAULT_POLICIES
    assert set(settings.policies) == set(AnomalyCheck)
    assert settings.approval_timeout_hours == 24


def test_the_default_policies_hold_every_value_check_and_warn_of_the_offering_wide_fall() -> None:
    assert {check for check, policy in DEFAULT_POLICIES.items() if policy is GuardPolicy.WARN} == {
        AnomalyCheck.ACCOUNTS_FELL
    }
    assert DEFAULT_POLICIES[AnomalyCheck.CLUSTER_MISSING] is GuardPolicy.HOLD
    assert DEFAULT_POLICIES[AnomalyCheck.JUMP] is GuardPolicy.HOLD
    assert DEFAULT_POLICIES[AnomalyCheck.STORAGE_NONE_MATCHED] is GuardPolicy.HOLD


def test_policies_name_only_what_changes_and_any_case_is_read() -> None:
    settings = offering(
        {"policies": {"Jump": "WARN", "accounts_fell": "hold"}, "jump_factor": "20"}
    ).anomaly_guard

    assert settings.policy(AnomalyCheck.JUMP) is GuardPolicy.WARN
    assert settings.policy(AnomalyCheck.ACCOUNTS_FELL) is GuardPolicy.HOLD
    assert settings.policy(AnomalyCheck.TOTAL_DECREASE) is GuardPolicy.HOLD
    assert len(settings.policies) == len(AnomalyCheck)
    assert settings.jump_factor == Decimal(20)
    assert offering({"policies": None}).anomaly_guard.policies == DEFAULT_POLICIES


def test_thresholds_are_read_exactly() -> None:
    settings = offering(
        {
            "decrease_tolerance": 0.1,
            "accounts_fell_fraction": "0.25",
            "level_change_floor": 0,
            "jump_floor": 12,
        }
    ).anomaly_guard

    assert settings.decrease_tolerance == Decimal("0.1")
    assert settings.accounts_fell_fraction == Decimal("0.25")
    assert settings.level_change_floor == 0
    assert settings.jump_floor == Decimal(12)


PLACE = "offerings.yaml: offering 'CSCS HPC' (#1): anomaly_guard"


@pytest.mark.parametrize(
    ("anomaly_guard", "message"),
    [
        ({"jump_factor": 1}, f"{PLACE}.jump_factor: expected a number > 1, got '1'"),
        ({"jump_factor": "ten"}, f"{PLACE}.jump_factor: expected a number > 1, got str 'ten'"),
        ({"level_change_factor": True}, f"{PLACE}.level_change_factor: expected a number > 1, got bool True"),
        ({"jump_floor": -1}, f"{PLACE}.jump_floor: expected a number >= 0, got '-1'"),
        ({"decrease_tolerance": "NaN"}, f"{PLACE}.decrease_tolerance: expected a number >= 0, got 'NaN'"),
        (
            {"accounts_fell_fraction": 1},
            f"{PLACE}.accounts_fell_fraction: expected a number from 0 to below 1, got '1'",
        ),
        ({"enabled": "no"}, f"{PLACE}.enabled: expected true or false, got str 'no'"),
        (
            {"approval_timeout_hours": 0},
            f"{PLACE}.approval_timeout_hours: expected a whole number from 1 to 744, got 0",
        ),
        ({"policies": {"jump": "ask"}}, f"{PLACE}.policies.jump: expected one of warn, hold, got 'ask'"),
        (
            {"policies": {"jumps": "hold"}},
            f"{PLACE}.policies: expected one of total_decrease, cluster_missing, accounts_fell, jump, "
            "storage_path_unmatched, storage_level_change, storage_none_matched, got 'jumps'",
        ),
        ({"policies": ["jump"]}, f"{PLACE}.policies: expected a mapping of check to warn or hold, got list"),
        (
            "hold",
            f"{PLACE}: expected a mapping, got str 'hold'",
        ),
    ],
)
def test_a_bad_value_is_refused_in_one_line_naming_file_offering_and_field(
    anomaly_guard: Any, message: str
) -> None:
    assert refusal(anomaly_guard) == message


def test_an_unknown_key_is_named_with_the_keys_allowed() -> None:
    message = refusal({"jump_facter": 20})

    assert message.startswith(
        "offerings.yaml: offering 'CSCS HPC' (#1): unknown key(s) at anomaly_guard: jump_facter ("
    )
    assert "jump_factor" in message
    assert "approval_timeout_hours" in message


def test_the_settings_are_frozen() -> None:
    settings = AnomalyGuardSettings()

    with pytest.raises(ValueError, match="frozen"):
        settings.jump_factor = Decimal(2)  # type: ignore[misc]


EXAMPLE = Path(__file__).resolve().parents[3] / "dags" / "cscs_dwdi_offerings.example.yaml"


def test_the_example_s_commented_anomaly_guard_is_valid_once_uncommented() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    start = next(index for index, line in enumerate(lines) if line.strip() == "# anomaly_guard:")
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.strip().startswith("#   "):
            break
        block.append(line)
    indent = len(lines[start]) - len(lines[start].lstrip())
    text = "\n".join(line[indent:].replace("# ", "", 1) for line in block)

    settings = offering(yaml.safe_load(text)["anomaly_guard"]).anomaly_guard

    assert settings != AnomalyGuardSettings()
    assert settings.jump_factor == 20
    assert settings.policy(AnomalyCheck.JUMP) is GuardPolicy.WARN
