"""Every document handed between tasks survives Airflow's own XCom path unchanged.

The path of a task's XCom in Airflow 3: the task process serialises it with the configured XCom
class (``XCom.serialize_value``, Airflow's serde), sends it to the supervisor in a ``SetXCom``
message, the Execution API stores that JSON as it is, and a downstream task gets it back in an
``XComResult`` and deserialises it (``XCom.deserialize_value``). A ``dag.test()`` run through the
real XCom table is in tests/e2e/test_pipeline.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk.execution_time.comms import SetXCom, XComResult
from airflow.sdk.execution_time.xcom import XCom

from airflow_provider_cscs_dwdi.core.xcom import BillingPlan
from tests.core.xcom_samples import (
    BACKEND_IDS,
    FETCH,
    INFERENCE_FETCH,
    PLAN,
    PUSH,
    STORAGE_PUSH,
    sample_report,
)


def through_airflow_xcom(value: Any, key: str = "return_value") -> Any:
    """``value`` pushed by one task and pulled by the next, the way Airflow 3 moves it."""
    serialised = XCom.serialize_value(value, key=key, task_id="up", dag_id="d", run_id="r", map_index=0)
    sent = SetXCom(key=key, value=serialised, dag_id="d", run_id="r", task_id="up", map_index=0)
    stored = json.dumps(SetXCom.model_validate_json(sent.model_dump_json()).value)
    pulled = XComResult(key=key, value=json.loads(stored))
    return XCom.deserialize_value(XComResult.model_validate_json(pulled.model_dump_json()))


DOCUMENTS = [BACKEND_IDS, FETCH, INFERENCE_FETCH, sample_report(), PUSH, STORAGE_PUSH]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda document: type(document).__name__)
def test_a_document_comes_back_as_it_was_pushed(document: Any) -> None:
    pushed = document.to_xcom()

    pulled = through_airflow_xcom(pushed)

    assert pulled == pushed
    assert type(document).from_xcom(pulled) == document


def test_the_billing_plan_comes_back_from_its_two_xcoms() -> None:
    months = through_airflow_xcom(PLAN.to_xcom())
    accounts = through_airflow_xcom(PLAN.accounts_to_xcom(), key=BillingPlan.ACCOUNTS_KEY)

    # A list of months, so the fetch task can be expanded over it: one mapped task per month.
    assert months == ["2026-10", "2026-11"]
    assert BillingPlan.from_xcom(months, accounts) == PLAN


def test_the_report_keeps_its_amounts_as_exact_two_decimal_strings() -> None:
    pulled = through_airflow_xcom(sample_report().to_xcom())

    assert pulled["schema_version"] == 1
    assert pulled["accounts"]["g1"] == {
        "total": {"nodeHours": "2.50", "gpuHours": "0.06", "cpuHours": "36.00"},
        "users": {"alice": {"nodeHours": "1.01", "gpuHours": "0.06", "cpuHours": "36.00"}},
    }
    assert [issue["kind"] for issue in pulled["issues"]] == ["null_value"]
