"""End to end for an inference offering: ``dag.test()`` against the sandbox, costs per Waldur resource.

DWDI keys inference cost by the Waldur resource UUID. What Waldur holds afterwards is compared with
the DWDI double's own Decimal sums (``InferenceDataset.expected_costs``, in ``sandbox.expected``):
a resource without entries holds 0.00, one whose cost is bad under the skip policy holds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from sandbox.airflow_runs import xcom_results
from sandbox.dwdi.inference_data import uuid_identity
from sandbox.stack import SandboxStack
from tests.e2e.support import (
    UTC,
    assert_a_past_month_is_written_once,
    assert_failed_and_wrote_nothing,
    assert_waldur_holds_dwdi_totals,
    last_month,
    run,
    run_month_to_date,
    task_log,
)
from tests.fixtures.airflow_env import task_states
from tests.fixtures.offerings import INFERENCE_COMPONENTS

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

UNKNOWN_UUID = "0badc0de-0000-4000-8000-00000000feed"
INFERENCE_OFFERING = {
    "name": "E2E Inference",
    "offering_uuid": "9c3e5a7b2d4f4b6c8e0a1b2c3d4e5f60",
    "billing_timezone": "UTC",
    "usage_kind": "inference",
    "backend_components": INFERENCE_COMPONENTS,
}
BAD_KINDS = ["negative", "null", "nan_token", "nan_string", "text"]


def inference_stack(make_stack: Callable[..., SandboxStack], **overrides: Any) -> SandboxStack:
    # Ten resources: the dataset then has one without entries and several with many entries.
    stack = make_stack(accounts=10, offering=INFERENCE_OFFERING, **overrides)
    assert stack.inference is not None
    return stack


def inject_bad_costs(stack: SandboxStack) -> dict[str, str]:
    """A different bad ``totalCost`` on five resources with data: ``{backend_id: kind}``."""
    assert stack.inference is not None
    resources = stack.seeded[0].resources
    with_data = [
        backend_id for backend_id, uuid in sorted(resources.items()) if stack.inference.has_data(uuid)
    ]
    injected = dict(zip(with_data, BAD_KINDS, strict=False))
    for backend_id, kind in injected.items():
        stack.inference.set_bad_cost(resources[backend_id], kind)
    return injected


def test_month_to_date_costs_land_exactly_and_an_unknown_resource_is_counted_never_billed(
    make_stack: Callable[..., SandboxStack],
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = inference_stack(make_stack)
    assert stack.inference is not None
    stack.inference.add_unknown_resource(UNKNOWN_UUID, "1.5")

    dag_run, months = run_month_to_date(stack)

    item = stack.seeded[0]
    # A resource DWDI has no entry for costs 0.00: written, not left out.
    idle = stack.inference.resources_without_data(months[-1], months[-1], list(item.resources.values()))
    assert idle
    landed = stack.landed(item, months[-1])
    by_uuid = {uuid_identity(uuid): backend_id for backend_id, uuid in item.resources.items()}
    assert {landed[by_uuid[uuid]]["total"]["token_cost"] for uuid in idle} == {Decimal("0.00")}
    report = xcom_results(dag_run, "aggregate_usage")[-1]
    assert report["counts"]["accounts_ignored"] == 1
    assert report["ignored_accounts_sample"] == [uuid_identity(UNKNOWN_UUID)]
    assert xcom_results(dag_run, "push_to_waldur")[-1]["user_usages_written"] == 0
    assert not [endpoint for endpoint in stack.waldur.request_counts() if "user" in endpoint]
    assert uuid_identity(UNKNOWN_UUID) in task_log(capfd, caplog)


def test_a_past_month_dry_run_then_run_then_re_run_writes_exactly_once(
    make_stack: Callable[..., SandboxStack],
) -> None:
    assert_a_past_month_is_written_once(inference_stack(make_stack))


def test_bad_costs_fail_the_month_naming_each_and_write_nothing(
    make_stack: Callable[..., SandboxStack],
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = inference_stack(make_stack)
    injected = inject_bad_costs(stack)

    dag_run = run(stack, datetime.now(UTC), month=last_month())

    assert_failed_and_wrote_nothing(stack, dag_run, "aggregate_usage")
    log = task_log(capfd, caplog)
    for backend_id in injected:
        assert f"totalCost of account {backend_id!r}" in log


def test_skip_policy_bills_every_good_resource_exactly_and_lists_each_bad_one(
    make_stack: Callable[..., SandboxStack],
) -> None:
    stack = inference_stack(make_stack, bad_value_policy="skip")
    injected = inject_bad_costs(stack)
    month = last_month()

    dag_run = run(stack, datetime.now(UTC), month=month)

    assert str(dag_run.state) == "success", task_states(dag_run)
    # The expected costs leave the bad resources out: Waldur must hold nothing for them.
    assert_waldur_holds_dwdi_totals(stack, month)
    landed = stack.landed(stack.seeded[0], month)
    assert {landed[backend_id]["total"]["token_cost"] for backend_id in injected} == {None}
    report = xcom_results(dag_run, "aggregate_usage")[0]
    assert {(issue["account"], issue["field"]) for issue in report["issues"]} == {
        (backend_id, "totalCost") for backend_id in injected
    }
    assert xcom_results(dag_run, "push_to_waldur")[0]["skipped"] == len(injected)


def test_the_accounts_param_asks_dwdi_for_those_resources_uuids_only(
    make_stack: Callable[..., SandboxStack],
) -> None:
    stack = inference_stack(make_stack)
    month = last_month()
    item = stack.seeded[0]
    chosen = item.accounts[:2]

    dag_run = run(stack, datetime.now(UTC), month=month, accounts=chosen)

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert stack.dwdi is not None
    asked = {uuid for request in stack.dwdi.requests for uuid in request.query.get("resource_uuid", [])}
    assert asked == {item.resources[backend_id] for backend_id in chosen}
    landed = stack.landed(item, month)
    expected = stack.expected(item, month)
    assert {
        backend_id for backend_id, data in landed.items() if data["total"]["token_cost"] is not None
    } == set(chosen)
    assert all(landed[backend_id] == expected[backend_id] for backend_id in chosen)


def test_a_dwdi_without_the_inference_api_fails_the_fetch_naming_the_extra(
    make_stack: Callable[..., SandboxStack],
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = inference_stack(make_stack)
    assert stack.dwdi is not None
    stack.dwdi.set_endpoint_available("inference", False)

    dag_run = run(stack, datetime.now(UTC), month=last_month())

    assert_failed_and_wrote_nothing(stack, dag_run, "fetch_usage")
    log = task_log(capfd, caplog)
    assert "no inference API at /api/v1/inference/resource/cost: set inference_cost_path" in log
