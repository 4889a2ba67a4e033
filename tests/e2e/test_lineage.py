"""OpenLineage end to end: a real ``dag.test()`` run with the OpenLineage provider's listener and its
file transport, then the events read back from the file.

The listener is the provider's own (``get_openlineage_listener``), registered with the task SDK's
listener manager for this test only: the provider's plugin decides at import whether it is enabled,
and the test session imports it long before this test sets the transport.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sandbox.airflow_runs import xcom_results
from sandbox.stack import SandboxStack
from tests.e2e.support import ISSUER_CLIENT_SECRET, UTC, last_month, run
from tests.fixtures.airflow_env import task_states

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def _clear_openlineage_caches() -> None:
    """The OpenLineage provider caches its configuration and its listener per process."""
    from airflow.providers.openlineage import conf
    from airflow.providers.openlineage.plugins import listener

    for value in vars(conf).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()
    listener.get_openlineage_listener.cache_clear()


@pytest.fixture
def lineage_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """OpenLineage events of the test, one JSON document per line, through the file transport."""
    from airflow.providers.openlineage.plugins.listener import get_openlineage_listener
    from airflow.sdk.listener import get_listener_manager

    events = tmp_path / "openlineage.jsonl"
    monkeypatch.setenv(
        "AIRFLOW__OPENLINEAGE__TRANSPORT",
        json.dumps({"type": "file", "log_file_path": str(events), "append": True}),
    )
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__NAMESPACE", "cscs-dwdi-test")
    # A thread, not a fork per event: the test reads the file once the run is over.
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", "true")
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT", "60")
    _clear_openlineage_caches()
    listener = get_openlineage_listener()
    manager = get_listener_manager()
    manager.add_listener(listener)
    try:
        yield events
    finally:
        manager.pm.unregister(listener)
        monkeypatch.undo()
        _clear_openlineage_caches()


def complete_events(events_file: Path) -> dict[str, dict[str, Any]]:
    """The COMPLETE event of each task, by task id (the job name is ``<dag_id>.<task_id>``)."""
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    return {
        event["job"]["name"].split(".", 1)[1]: event
        for event in events
        if event["eventType"] == "COMPLETE" and "." in event["job"]["name"]
    }


def test_fetch_aggregate_and_push_emit_the_dwdi_month_in_and_the_waldur_offering_out(
    make_stack: Callable[..., SandboxStack], lineage_file: Path
) -> None:
    stack = make_stack()
    month = last_month()
    offering_uuid = stack.seeded[0].uuid

    dag_run = run(stack, datetime.now(UTC), month=month)

    assert str(dag_run.state) == "success", task_states(dag_run)
    completed = complete_events(lineage_file)
    fetched, reported, pushed = (
        xcom_results(dag_run, task_id)[0] for task_id in ("fetch_usage", "aggregate_usage", "push_to_waldur")
    )
    dwdi_url, waldur_url = stack.dwdi_url, stack.waldur.url

    fetch = completed["fetch_usage"]
    (dwdi_input,) = fetch["inputs"]
    assert dwdi_input["namespace"] == namespace_of(dwdi_url)
    assert dwdi_input["name"] == f"/api/v1/compute/usage-month-multiaccount?month={month}"
    (archive_output,) = fetch["outputs"]
    assert (archive_output["namespace"], archive_output["name"]) == (
        "file",
        fetched["archive"].removeprefix("file://"),
    )
    assert archive_output["outputFacets"]["outputStatistics"]["size"] == fetched["archive_bytes"]
    assert fetch["run"]["facets"]["cscsDwdi"]["counts"] == {
        "pages": fetched["pages"],
        "entries": fetched["entries"],
        "user_rows": fetched["user_rows"],
    }

    aggregate = completed["aggregate_usage"]
    assert [(item["namespace"], item["name"]) for item in aggregate["inputs"]] == [
        (archive_output["namespace"], archive_output["name"])
    ]
    assert aggregate["run"]["facets"]["cscsDwdi"]["month"] == month
    assert (
        aggregate["run"]["facets"]["cscsDwdi"]["counts"]["accounts_reported"]
        == (reported["counts"]["accounts_reported"])
    )

    push = completed["push_to_waldur"]
    (offering_output,) = push["outputs"]
    assert offering_output["namespace"] == namespace_of(waldur_url)
    assert offering_output["name"] == f"/api/marketplace-provider-offerings/{offering_uuid}/"
    assert offering_output["outputFacets"]["outputStatistics"]["rowCount"] == pushed["written"] > 0
    facet = push["run"]["facets"]["cscsDwdi"]
    assert (facet["month"], facet["usageKind"]) == (month, "compute")
    assert facet["counts"]["written"] == pushed["written"]
    assert facet["counts"]["user_usages_written"] == pushed["user_usages_written"]

    everything = lineage_file.read_text()
    assert ISSUER_CLIENT_SECRET not in everything
    assert stack.waldur.staff_token not in everything


def namespace_of(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"
