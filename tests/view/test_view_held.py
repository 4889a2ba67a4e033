"""The billing view after the anomaly guard held values: a held value is not shown as in Waldur.

A real pipeline against its own sandbox (``dag.test``, real XCom): a daily push of the month,
then DWDI loses a cluster's rows (late data), the next run's push holds the falling totals and
the request is rejected (answered in process through Airflow's own HITL handler); then a third
run is approved. After each, the view's "in Waldur" equals what the sandbox Waldur holds, the
month table names the held values, the overview counts them, and a resource's history says what
was not written.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from airflow_provider_cscs_dwdi.dag_factory import DAG_ID_PREFIX, load_dags_from_env
from airflow_provider_cscs_dwdi.view.app import URL_PREFIX, create_app
from sandbox.airflow_runs import xcom_results
from sandbox.approvals import REVIEWER, answering
from sandbox.stack import SandboxStack
from tests.e2e.conftest import COMPUTE_OFFERING
from tests.e2e.support import month_of, month_to_date_instant, operators_clock_at
from tests.fixtures.airflow_env import task_states
from tests.view.conftest import offering_stack

pytestmark = [pytest.mark.airflow]

SLUG = "view_held"


def _run(stack: SandboxStack, at: Any, month: str, answer: str | None) -> Any:
    dag = load_dags_from_env()[DAG_ID_PREFIX + SLUG]
    for task in dag.tasks:
        task.retries = 0
    with answering(answer) as answers:
        dag_run = dag.test(logical_date=at, run_conf={"month": month})
    assert answers.errors == []
    assert str(dag_run.state) == "success", task_states(dag_run)
    return dag_run


def _waldur_sums(stack: SandboxStack, month: str) -> dict[str, Decimal]:
    item = stack.seeded[0]
    sums = {component.type: Decimal(0) for component in item.config.components}
    for account in stack.landed(item, month).values():
        for component, amount in account["total"].items():
            sums[component] += amount or Decimal(0)
    return sums


def _view(stack: SandboxStack, month: str) -> dict[str, Any]:
    """What the view's JSON endpoints answer now (sign-in and authorization are test_view_app's)."""
    app = FastAPI()
    app.mount(URL_PREFIX, create_app(user_dependency=lambda: "tester", authorize=lambda user, item: True))
    client = TestClient(app)
    offering = client.get(f"{URL_PREFIX}/api/offerings/{SLUG}").json()
    table = client.get(f"{URL_PREFIX}/api/offerings/{SLUG}/{month}?page_size=1000").json()
    overview = next(row for row in client.get(f"{URL_PREFIX}/api/offerings").json() if row["slug"] == SLUG)
    html = client.get(f"{URL_PREFIX}/offerings/{SLUG}/{month}").text
    return {"offering": offering, "table": table, "overview": overview, "html": html, "client": client}


def _in_waldur(view: dict[str, Any], month: str) -> dict[str, Decimal]:
    row = next(row for row in view["offering"]["rows"] if row["month"] == month)
    return {cell["component"]: Decimal(cell["in_waldur"]) for cell in row["cells"]}


@pytest.fixture(scope="module")
def held(
    oidc_issuer: Any, airflow_db: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    offering = {**COMPUTE_OFFERING, "slug": SLUG}
    with offering_stack(oidc_issuer, tmp_path_factory.mktemp("view-held"), offering) as stack:
        now = month_to_date_instant(stack)
        month = month_of(now)
        with operators_clock_at(now):
            _run(stack, now, month, None)
        assert stack.dwdi is not None
        assert stack.dwdi.dataset is not None
        late = stack.dwdi.dataset.clusters[-1]
        kept = [name for name in stack.dwdi.dataset.clusters if name != late]
        stack.dwdi.set_entries(month, stack.dwdi.dataset.entries(month, clusters=kept))
        yield {"stack": stack, "month": month, "now": now}


def test_a_rejected_held_value_is_not_shown_in_waldur_then_an_approved_one_is(held: dict[str, Any]) -> None:
    stack, month, now = held["stack"], held["month"], held["now"]
    before = _waldur_sums(stack, month)
    with operators_clock_at(now + timedelta(minutes=1)):
        rejected = _run(stack, now + timedelta(minutes=1), month, "Reject")
    all_rows = [
        row
        for document in xcom_results(rejected, "push_to_waldur", key="held_values")
        for row in document["rows"]
    ]
    held_rows = [row for row in all_rows if row["user"] is None]
    assert held_rows, "the guard held nothing: the scenario did not happen"
    [decision] = [d for d in xcom_results(rejected, "approve_held_values", key="decision") if d]
    assert decision["decision"] == "rejected"
    assert _waldur_sums(stack, month) == before  # the sandbox Waldur kept its values

    view = _view(stack, month)
    # "In Waldur" is what Waldur holds, not DWDI's new (lower) totals.
    assert _in_waldur(view, month) == before
    row = next(row for row in view["offering"]["rows"] if row["month"] == month)
    assert any(Decimal(cell["billed"]) != Decimal(cell["in_waldur"]) for cell in row["cells"])
    assert row["held"] == len({(r["resource"], r["component"]) for r in held_rows})
    assert row["approval"].startswith(f"rejected by {REVIEWER}")
    # The month table names each held resource's value as not in Waldur, with what Waldur holds.
    issues = {cells[0]: cells[-1] for cells in view["table"]["rows"]}
    for held_row in held_rows:
        assert "not in Waldur, which holds" in issues[held_row["resource"]]
    assert "value(s) held for approval" in view["html"]
    # The overview: the last push's held count next to written / unchanged, and the open issue.
    last = view["overview"]["last_push"]
    assert last["held"] == len(all_rows)  # the push's count: totals and user usages
    assert last["approval"].startswith("rejected")
    assert any("held for approval" in line for line in view["overview"]["open_issues"])
    # The resource's history: the held value, not written.
    account = held_rows[0]["resource"]
    detail = view["client"].get(f"{URL_PREFIX}/api/offerings/{SLUG}/{month}/resources/{account}").json()
    assert detail["history"][-1]["note"].endswith("not written")

    with operators_clock_at(now + timedelta(minutes=2)):
        _run(stack, now + timedelta(minutes=2), month, "Approve")
    after = _waldur_sums(stack, month)
    assert after != before
    view = _view(stack, month)
    assert _in_waldur(view, month) == after
    row = next(row for row in view["offering"]["rows"] if row["month"] == month)
    assert row["held"] == 0
    assert row["approval"].startswith(f"approved by {REVIEWER}")
    assert [Decimal(cell["billed"]) for cell in row["cells"]] == [
        Decimal(cell["in_waldur"]) for cell in row["cells"]
    ]
    assert view["overview"]["open_issues"] == []


def test_a_report_the_api_server_cannot_read_is_named_unreachable_never_a_partial_table(
    held: dict[str, Any],
) -> None:
    """The month's last report is kept by an object-storage XCom backend the api-server is not set
    up for (its XCom row holds only the object's address): the pages say so and name the settings."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    month = held["month"]
    with create_session() as session:
        row = session.scalars(
            select(XComModel)
            .where(
                XComModel.dag_id == DAG_ID_PREFIX + SLUG,
                XComModel.task_id == "aggregate_usage",
                XComModel.key == "return_value",
            )
            .order_by(XComModel.timestamp.desc())
            .limit(1)
        ).one()
        saved = (row.value, row.timestamp)
        # What XComObjectStorageBackend leaves in the database: the address of the stored object.
        row.value = f"file:///xcom-of-another-host/{SLUG}/aggregate_usage.json"
        row.timestamp = saved[1] + timedelta(seconds=1)  # a new stored row for the view's cache
    try:
        view = _view(held["stack"], month)
        assert "Data unreachable" in view["html"]
        assert "[core] xcom_backend" in view["html"]
        assert "<table id='resources'" not in view["html"]
        assert view["table"]["rows"] == []
        assert "[core] xcom_backend" in view["table"]["unreachable"]
        reply = view["client"].get(f"{URL_PREFIX}/offerings/{SLUG}/{month}.csv")
        assert reply.status_code == 503
        assert "unreachable" in reply.text
        row_of_month = next(r for r in view["offering"]["rows"] if r["month"] == month)
        assert row_of_month["unreachable"]
        assert [cell["in_waldur"] for cell in row_of_month["cells"]] == [""] * len(row_of_month["cells"])
    finally:
        with create_session() as session:
            stored = session.scalars(
                select(XComModel).where(
                    XComModel.dag_run_id == row.dag_run_id,
                    XComModel.task_id == "aggregate_usage",
                    XComModel.map_index == row.map_index,
                    XComModel.key == "return_value",
                )
            ).one()
            stored.value, stored.timestamp = saved


def test_stored_documents_are_parsed_once_per_stored_row_not_per_request(held: dict[str, Any]) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_cscs_dwdi.view.source import CACHE

    stack, month = held["stack"], held["month"]
    _view(stack, month)
    parsed = CACHE.misses
    for _ in range(3):
        _view(stack, month)  # 4 requests each, every one reading the runs' documents
    assert CACHE.misses == parsed
    # A stored row written again (a re-run: a new timestamp) is read again, and only that one.
    with create_session() as session:
        row = session.scalars(
            select(XComModel)
            .where(XComModel.dag_id == DAG_ID_PREFIX + SLUG, XComModel.task_id == "push_to_waldur")
            .limit(1)
        ).one()
        row.timestamp = row.timestamp + timedelta(seconds=5)
    _view(stack, month)
    assert CACHE.misses == parsed + 1
