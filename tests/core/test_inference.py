"""Inference cost: keyed by the Waldur resource UUID, additive, zero when DWDI has nothing."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.components import parse_backend_components
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.inference import InferenceAggregator
from airflow_provider_cscs_dwdi.core.issues import UsageDataError
from airflow_provider_cscs_dwdi.core.report import UsageReport, build_report, validate_report
from airflow_provider_cscs_dwdi.core.usage import BadValuePolicy
from tests.core.usage_support import dwdi

TOKEN_COST = {"token_cost": {"measured_unit": "CHF", "dwdi_field": "totalCost"}}
UUID_A = "1f2e3d4c5b6a49788695a4b3c2d1e0f9"
UUID_B = "2a3b4c5d6e7f40819203a4b5c6d7e8f9"
DASHED_A = "1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9"
RESOURCES = {UUID_A: "llm-a", "2a3b4c5d-6e7f-4081-9203-a4b5c6d7e8f9": "llm-b"}


def inference(policy: str = "fail", components: dict[str, Any] = TOKEN_COST) -> InferenceAggregator:
    return InferenceAggregator(
        parse_backend_components(components), resources=RESOURCES, policy=BadValuePolicy(policy)
    )


def body(*pairs: tuple[str, str]) -> Any:
    records = ", ".join(f'{{"waldurResourceUuid": "{uuid}", "totalCost": {cost}}}' for uuid, cost in pairs)
    return dwdi('{"inference": [' + records + "]}")


def report(agg: InferenceAggregator) -> UsageReport:
    return build_report(agg.result(), month="2026-11")


def test_entries_of_one_resource_are_summed_whatever_the_uuid_spelling() -> None:
    agg = inference()
    agg.add_response(body((UUID_A, "0.004"), (DASHED_A, "1.001")), source="page 1")
    agg.add_response(body((DASHED_A.lower(), "0.0001")), source="page 2")

    doc = report(agg)

    # 0.004 + 1.001 + 0.0001 = 1.0051 -> 1.01 (half up once; per-entry rounding would give 1.00)
    assert doc.accounts["llm-a"] == {"total": {"token_cost": "1.01"}, "users": {}}
    assert doc.usage_kind == "inference"
    validate_report(doc.to_xcom())


def test_a_resource_dwdi_does_not_return_costs_zero() -> None:
    agg = inference()
    agg.add_response(body((UUID_A, "12.5")), source="page 1")

    doc = report(agg)

    assert doc.accounts["llm-b"] == {"total": {"token_cost": "0.00"}, "users": {}}
    assert doc.without_data == ()
    assert doc.counts["accounts_without_data"] == 1


def test_an_unknown_uuid_is_counted_and_never_billed() -> None:
    agg = inference()
    agg.add_response(body((UUID_A, "1"), ("9" * 32, "1000")), source="page 1")

    doc = report(agg)

    assert doc.accounts["llm-a"]["total"] == {"token_cost": "1.00"}
    assert set(doc.accounts) == {"llm-a", "llm-b"}
    assert doc.counts["accounts_ignored"] == 1
    assert doc.ignored_accounts_sample == ("9" * 32,)
    assert doc.issues == ()


def test_the_unit_factor_multiplies() -> None:
    agg = inference(
        components={
            "token_cost": {"measured_unit": "kCHF", "dwdi_field": "totalCost", "unit_factor": "0.001"}
        }
    )
    agg.add_response(body((UUID_B, "12345.678")), source="page 1")

    assert report(agg).accounts["llm-b"]["total"] == {"token_cost": "12.35"}


@pytest.mark.parametrize(
    ("cost", "kind"),
    [("-0.5", "negative_value"), ("null", "null_value"), ("NaN", "not_a_number"), ('"3.2"', "non_numeric")],
)
def test_a_bad_cost_refuses_the_month_under_fail(cost: str, kind: str) -> None:
    agg = inference()
    agg.add_response(body((UUID_A, "1"), (UUID_B, cost)), source="page 4")

    with pytest.raises(UsageDataError) as refused:
        report(agg)

    issue = refused.value.issues[0]
    assert (issue.kind, issue.record, issue.account, issue.field) == (
        kind,
        "page 4, inference[1]",
        "llm-b",
        "totalCost",
    )


def test_a_bad_cost_leaves_the_resource_out_under_skip_even_if_its_other_entries_are_good() -> None:
    agg = inference("skip")
    agg.add_response(body((UUID_A, "1"), (UUID_B, "5"), (UUID_B, "-5")), source="page 1")

    doc = report(agg)

    assert sorted(doc.accounts) == ["llm-a"]  # 5 alone would be a wrong (partial) cost
    assert [(issue.kind, issue.account) for issue in doc.issues] == [("negative_value", "llm-b")]


def test_a_record_without_a_usable_uuid_is_an_issue() -> None:
    agg = inference("skip")
    agg.add_response(
        dwdi('{"inference": [{"waldurResourceUuid": "g207", "totalCost": 1}, {"totalCost": 2}]}'), source="p"
    )

    doc = report(agg)

    assert [(issue.kind, issue.field) for issue in doc.issues] == [
        ("missing_key", "waldurResourceUuid"),
        ("missing_key", "waldurResourceUuid"),
    ]
    assert doc.accounts["llm-a"]["total"] == {"token_cost": "0.00"}


def test_a_configured_resource_that_is_not_a_uuid_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="'g207' is not a Waldur resource UUID"):
        InferenceAggregator(parse_backend_components(TOKEN_COST), resources={"g207": "g207"})
