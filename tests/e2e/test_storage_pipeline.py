"""End to end for a storage offering: ``dag.test()`` against the sandbox, levels per project path.

What Waldur holds afterwards is compared with the DWDI double's own levels
(``StorageDataset.expected_levels`` x unit_factor, half up once, in ``sandbox.expected``): a path
DWDI does not return, or one whose record is bad under the skip policy, must hold nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from sandbox.airflow_runs import xcom_results
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
    writes,
)
from tests.fixtures.airflow_env import task_states
from tests.fixtures.offerings import STORAGE_COMPONENTS

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]

LEGACY_PATH = "/capstor/store/cscs/userlab/legacy-project"
STORAGE_OFFERING = {
    "name": "E2E Storage",
    "offering_uuid": "8b2d4f6a1c3e4a5b9d7f0e1a2b3c4d5e",
    "billing_timezone": "UTC",
    "usage_kind": "storage",
    "storage": {
        "filesystem": "capstor",
        "data_type": "store",
        "path_template": "/capstor/store/cscs/{backend_id}",
        "path_mapping": {"legacy": LEGACY_PATH},
    },
    "backend_components": STORAGE_COMPONENTS,
}
#: One bad value per path, every kind, on both fields; one more path is answered twice.
BAD_VALUES = [
    ("spaceUsed", "negative"),
    ("inodesUsed", "null"),
    ("spaceUsed", "nan_token"),
    ("inodesUsed", "nan_string"),
    ("spaceUsed", "text"),
]
USER_ENDPOINTS = ("user_usages", "marketplace-component-user-usages", "marketplace-offering-users")


def storage_stack(make_stack: Callable[..., SandboxStack], **overrides: Any) -> SandboxStack:
    # Ten resources: the dataset then has paths without data and on unit rounding edges.
    return make_stack(accounts=10, offering=STORAGE_OFFERING, **overrides)


def without_data(stack: SandboxStack, month: str) -> list[str]:
    """Backend IDs whose path DWDI does not return for ``month`` (by the double's own account)."""
    paths = stack.seeded[0].paths()
    missing = set(stack.storage.paths_without_data(month, list(paths.values()), "capstor", "store"))
    return sorted(backend_id for backend_id, path in paths.items() if path in missing)


def user_usage_requests(stack: SandboxStack) -> list[str]:
    return [
        endpoint
        for endpoint in stack.waldur.request_counts()
        if any(marker in endpoint for marker in USER_ENDPOINTS)
    ]


def inject_bad_records(stack: SandboxStack) -> tuple[dict[str, tuple[str, str]], str]:
    """A different bad value on each of five paths with data, a sixth path answered twice.

    Returns ``({backend_id: (field, kind)}, backend ID answered twice)``.
    """
    paths = stack.seeded[0].paths()
    with_data = [backend_id for backend_id, path in sorted(paths.items()) if stack.storage.has_data(path)]
    injected = dict(zip(with_data, BAD_VALUES, strict=False))
    for backend_id, (field, kind) in injected.items():
        stack.storage.set_bad_value(paths[backend_id], field, kind)
    twice = with_data[len(injected)]
    stack.storage.answer_twice(paths[twice])
    return injected, twice


def test_month_to_date_levels_land_exactly_and_a_path_without_data_is_not_written(
    make_stack: Callable[..., SandboxStack],
) -> None:
    stack = storage_stack(make_stack)

    dag_run, months = run_month_to_date(stack)

    missing = without_data(stack, months[-1])
    assert missing  # the dataset leaves one path in ten without data
    pushed = xcom_results(dag_run, "push_to_waldur")[-1]
    assert (pushed["without_data"], pushed["without_data_count"]) == (missing, len(missing))
    assert pushed["user_usages_written"] == 0
    assert user_usage_requests(stack) == []
    # The mapped resource was asked for by its own path, and its level landed.
    assert stack.dwdi is not None
    assert LEGACY_PATH in {path for request in stack.dwdi.requests for path in request.query.get("paths", [])}
    assert stack.landed(stack.seeded[0], months[-1])["legacy"]["total"]["space"] is not None


def test_a_past_month_dry_run_then_run_then_re_run_writes_exactly_once(
    make_stack: Callable[..., SandboxStack],
) -> None:
    assert_a_past_month_is_written_once(storage_stack(make_stack))


def test_bad_levels_and_a_duplicate_path_fail_the_month_naming_each_and_write_nothing(
    make_stack: Callable[..., SandboxStack],
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = storage_stack(make_stack)
    injected, twice = inject_bad_records(stack)
    month = last_month()

    dag_run = run(stack, datetime.now(UTC), month=month)

    assert_failed_and_wrote_nothing(stack, dag_run, "aggregate_usage")
    log = task_log(capfd, caplog)
    for backend_id, (field, _kind) in injected.items():
        assert f"{field} of account {backend_id!r}" in log
    assert f"path {stack.seeded[0].paths()[twice]!r} is answered twice" in log


def test_skip_policy_bills_every_good_path_exactly_and_lists_each_bad_one(
    make_stack: Callable[..., SandboxStack],
) -> None:
    stack = storage_stack(make_stack, bad_value_policy="skip")
    injected, twice = inject_bad_records(stack)
    month = last_month()

    dag_run = run(stack, datetime.now(UTC), month=month)

    assert str(dag_run.state) == "success", task_states(dag_run)
    # The expected levels leave the bad paths out: Waldur must hold nothing for them.
    assert_waldur_holds_dwdi_totals(stack, month)
    landed = stack.landed(stack.seeded[0], month)
    assert all(
        value is None for backend_id in [*injected, twice] for value in landed[backend_id]["total"].values()
    )
    report = xcom_results(dag_run, "aggregate_usage")[0]
    listed = {(issue["account"], issue["field"]) for issue in report["issues"]}
    assert listed == {
        *((backend_id, field) for backend_id, (field, _kind) in injected.items()),
        (twice, "path"),
    }
    assert {issue["kind"] for issue in report["issues"] if issue["account"] == twice} == {"duplicate_path"}
    assert set(report["accounts"]).isdisjoint({*injected, twice})
    assert xcom_results(dag_run, "push_to_waldur")[0]["skipped"] == len(injected) + 1


def test_the_accounts_param_fetches_and_writes_only_those_paths(
    make_stack: Callable[..., SandboxStack],
) -> None:
    stack = storage_stack(make_stack)
    month = last_month()
    item = stack.seeded[0]
    chosen = ["legacy", item.accounts[-1]]

    dag_run = run(stack, datetime.now(UTC), month=month, accounts=chosen)

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert stack.dwdi is not None
    asked = {path for request in stack.dwdi.requests for path in request.query.get("paths", [])}
    assert asked == {item.paths()[backend_id] for backend_id in chosen}
    landed = stack.landed(item, month)
    written = {backend_id for backend_id, data in landed.items() if data["total"]["space"] is not None}
    expected = stack.expected(item, month)
    assert written == {
        backend_id for backend_id in chosen if expected[backend_id]["total"]["space"] is not None
    }
    assert all(landed[backend_id] == expected[backend_id] for backend_id in written)


def test_a_dwdi_without_the_storage_api_fails_the_fetch_naming_the_extra(
    make_stack: Callable[..., SandboxStack],
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = storage_stack(make_stack)
    assert stack.dwdi is not None
    stack.dwdi.set_endpoint_available("storage", False)

    dag_run = run(stack, datetime.now(UTC), month=last_month())

    assert_failed_and_wrote_nothing(stack, dag_run, "fetch_usage")
    log = task_log(capfd, caplog)
    assert (
        "this DWDI release has no storage API at /api/v1/storage/usage-month: set storage_usage_path" in log
    )


@pytest.mark.parametrize("policy", ["fail", "skip"])
def test_bytes_billed_with_unit_factor_1_fail_the_push_before_any_write_under_both_policies(
    make_stack: Callable[..., SandboxStack],
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    policy: str,
) -> None:
    bytes_as_tb = {**STORAGE_COMPONENTS, "space": {**STORAGE_COMPONENTS["space"], "unit_factor": "1"}}
    stack = make_stack(
        accounts=10,
        offering={**STORAGE_OFFERING, "backend_components": bytes_as_tb},
        bad_value_policy=policy,
    )
    month = last_month()
    expected = stack.expected(stack.seeded[0], month)
    over = sorted(
        backend_id for backend_id, account in expected.items() if (account["total"]["space"] or 0) >= 10**12
    )
    assert over  # the dataset has paths of a terabyte and more

    dag_run = run(stack, datetime.now(UTC), month=month)

    states = task_states(dag_run)
    assert states["push_to_waldur[0]"] == "failed", states
    assert writes(stack) == []
    log = task_log(capfd, caplog)
    assert f"Nothing of {month} was written to offering" in log
    for backend_id in over:
        assert f"resource {backend_id}, component space: " in log
    assert "DWDI field spaceUsed x unit_factor 1)" in log
    assert "bytes with unit_factor 1" in log
