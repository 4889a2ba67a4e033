"""The offering's DAGs in a real Airflow deployment: what ``dag.test()`` cannot show.

Also the hand-overs only a scheduler makes: a push's asset event triggering the example invoicing
DAG (``dags/cscs_dwdi_invoicing_example.py``), the alert mails the task processes send to a
real SMTP server on loopback, and the anomaly guard's ``approve_held_values`` requests, answered
through the REST API as a person's script would (a second offering, so its held writes stay out
of the first one's checks).

One set of processes for the module: PostgreSQL (Airflow refuses backfills on SQLite), the
api-server, the scheduler, the dag-processor and the triggerer with the LocalExecutor, and the sandbox (OIDC
issuer, DWDI, a Waldur 8.x that honours the usage ``date``). Runs are created the way operators
create them: REST API v2 triggers with a ``conf``, unpausing (the scheduler's own runs), and the
docs/backfills.md ``airflow backfill create`` recipe. Tasks run in separate processes through the task
SDK's execution API, reading serialized DAGs and passing XCom across processes. What Waldur holds
is compared with totals computed straight from the generated DWDI rows (``SandboxStack.expected``).

The runs are started once (``workload``) and proceed in parallel while the tests wait for the ones
they check, so the module takes about as long as its longest chain of runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from airflow_provider_cscs_dwdi.core.audit_result import AuditResult
from airflow_provider_cscs_dwdi.core.config import load_config
from airflow_provider_cscs_dwdi.core.months import months_to_report, previous_month
from airflow_provider_cscs_dwdi.dag_factory import (
    AUDIT_DAG_ID_PREFIX,
    CLOSING_DAG_ID_PREFIX,
    CONFIG_ENV_VAR,
    DAG_ID_PREFIX,
)
from airflow_provider_cscs_dwdi.invoicing_example import INVOICING_DAG_ID_PREFIX
from sandbox.expected import expected_compute
from sandbox.stack import SandboxStack, SeededOffering, differences
from tests.deployment.airflow_processes import (
    FINISHED_RUN_STATES,
    REPO_ROOT,
    AirflowDeployment,
    DeploymentError,
    wait_for,
)
from tests.fixtures.offerings import NODE_AND_GPU_COMPONENTS
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.smtp_server import SmtpServer

pytestmark = [pytest.mark.deployment, pytest.mark.timeout(420)]

BILLING_TIMEZONE = "Europe/Zurich"
OFFERING = {
    "name": "Deployed HPC",
    "slug": "deployed_hpc",
    "offering_uuid": "4b1f6e2a9c3d4e5f8a7b6c5d4e3f2a1b",
    "billing_timezone": BILLING_TIMEZONE,
    "backend_components": NODE_AND_GPU_COMPONENTS,
    # Triggered by the test only; its two closed months are the ones the module's runs write.
    "audit": {"schedule": None, "months": 2},
    "notifications": [
        {
            "events": ["failure", "issues", "month_closed"],
            "notifier": "smtp",
            "conn_id": "deployed_alerts_smtp",
            "options": {"to": "billing-ops@example.org"},
        }
    ],
}
# Guarded by the anomaly guard's defaults, as every offering; its runs are the held ones.
GUARDED = {
    "name": "Guarded HPC",
    "slug": "guarded_hpc",
    "offering_uuid": "9c2d7e4f1a3b4c5d8e6f7a8b9c0d1e2f",
    "billing_timezone": BILLING_TIMEZONE,
    "backend_components": NODE_AND_GPU_COMPONENTS,
    "audit": {"schedule": None, "months": 2},
}
GUARDED_DAILY = DAG_ID_PREFIX + GUARDED["slug"]
APPROVAL_TASK = "approve_held_values"
# The page whose REST API commands answer the held runs, and the DAG id its commands name.
GUARD_PAGE = REPO_ROOT / "docs" / "anomaly-guard.md"
DOCUMENTED_DAG = "cscs_dwdi_usage_cscs_hpc_daint"
DAILY = DAG_ID_PREFIX + OFFERING["slug"]
CLOSING = CLOSING_DAG_ID_PREFIX + OFFERING["slug"]
AUDIT = AUDIT_DAG_ID_PREFIX + OFFERING["slug"]
INVOICING = INVOICING_DAG_ID_PREFIX + OFFERING["slug"]
BILLING_ASSET_URI = f"cscs-dwdi://{OFFERING['offering_uuid']}/compute"
# The recipe of docs/backfills.md: January to March 2026, dates with the billing zone's offset.
BACKFILL_ARGUMENTS = (
    "--dag-id",
    CLOSING,
    "--from-date",
    "2026-01-01T00:00:00+01:00",
    "--to-date",
    "2026-03-01T00:00:00+01:00",
    "--reprocess-behavior",
    "completed",
)
BACKFILLED_MONTHS = ["2026-01", "2026-02", "2026-03"]
# The session OIDC issuer's default client (tests/fixtures/oidc_issuer.py).
ISSUER_CLIENT = ("dwdi-client", "dwdi-secret")
RUN_TIMEOUT = 300


@dataclass
class Deployment:
    airflow: AirflowDeployment
    stack: SandboxStack
    smtp: SmtpServer


@dataclass
class Workload:
    """The runs the module started, and the months each kind of run must write."""

    current_month: str
    triggered_month: str
    triggered_run: str
    dry_run_month: str
    dry_run: str
    guarded_month: str
    guarded_run: str


def month_of(instant: datetime) -> str:
    local = instant.astimezone(ZoneInfo(BILLING_TIMEZONE))
    return f"{local.year:04d}-{local.month:02d}"


def parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def deployment(
    postgres_server: PostgresServer,
    oidc_issuer: Any,
    smtp_server: SmtpServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("deployment")
    config_file = root / "offerings.yaml"
    offerings = [{**item, "archive_path": f"file://{root}/archive"} for item in (OFFERING, GUARDED)]
    config_file.write_text(yaml.safe_dump({"offerings": offerings}))
    stack = SandboxStack(
        load_config(config_file).offerings,
        accounts_per_offering=4,
        waldur_version="8",  # honours the usage `date`: past months can be written
        external_issuer=(oidc_issuer.realm_url, oidc_issuer.jwks_url, oidc_issuer.token_url),
        client_id=ISSUER_CLIENT[0],
        client_secret=ISSUER_CLIENT[1],
    )
    stack.start()
    smtp_server.clear()
    airflow = AirflowDeployment(
        Path(root),
        database_url=postgres_server.url,
        environment={
            CONFIG_ENV_VAR: str(config_file),
            **stack.connection_env(),
            "AIRFLOW_CONN_DEPLOYED_ALERTS_SMTP": json.dumps(smtp_server.connection()),
        },
    )
    try:
        airflow.start(triggerer=True)
        airflow.wait_until_ready([DAILY, CLOSING, AUDIT, INVOICING, GUARDED_DAILY])
        yield Deployment(airflow, stack, smtp_server)
    except DeploymentError as error:
        pytest.fail(f"{error}\n{airflow.log_tails()}")
    finally:
        airflow.stop()
        stack.stop()


@pytest.fixture(scope="module")
def workload(deployment: Deployment) -> Workload:
    """Start every run of the module at once: they proceed while the tests wait for them."""
    airflow = deployment.airflow
    current = month_of(datetime.now(UTC))
    triggered_month = previous_month(previous_month(current))
    dry_run_month = previous_month(triggered_month)
    # Before any push: a paused DAG gets no asset-triggered run.
    airflow.unpause(INVOICING)
    # Unpausing lets the scheduler create the latest scheduled run of each DAG at once.
    airflow.unpause(DAILY)
    triggered_run = airflow.trigger(DAILY, {"month": triggered_month})
    dry_run = airflow.trigger(DAILY, {"month": dry_run_month, "dry_run": True})
    airflow.unpause(CLOSING)
    airflow.run_cli("backfill", "create", *BACKFILL_ARGUMENTS)
    # The guarded offering's first push of its month: the one the held runs are compared with.
    airflow.unpause(GUARDED_DAILY)
    guarded_run = airflow.trigger(GUARDED_DAILY, {"month": triggered_month, "reconcile": True})
    return Workload(
        current, triggered_month, triggered_run, dry_run_month, dry_run, triggered_month, guarded_run
    )


def wait_for_run(deployment: Deployment, dag_id: str, run_id: str) -> dict[str, Any]:
    (run,) = deployment.airflow.wait_for_runs(
        dag_id, lambda run: run["dag_run_id"] == run_id, count=1, timeout=RUN_TIMEOUT
    )
    return run


def assert_succeeded_without_approval(states: Mapping[str, str]) -> None:
    """Every task succeeded, except ``approve_held_values``, which skipped: nothing was held, so
    nobody was asked."""
    approvals = {key for key in states if key.split("[")[0] == APPROVAL_TASK}
    assert {states[key] for key in approvals} <= {"skipped"}, states
    assert {state for key, state in states.items() if key not in approvals} == {"success"}, states


def assert_every_task_succeeded(deployment: Deployment, dag_id: str, run: dict[str, Any]) -> dict[str, str]:
    states = deployment.airflow.task_states(dag_id, run["dag_run_id"])
    assert run["state"] == "success", states
    assert_succeeded_without_approval(states)
    return states


def assert_waldur_holds_dwdi_totals(stack: SandboxStack, month: str) -> None:
    item = stack.seeded[0]
    expected = stack.expected(item, month)
    assert any(amount > 0 for account in expected.values() for amount in account["total"].values())
    assert differences(expected, stack.landed(item, month)) == [], month


def usage_writes_of(stack: SandboxStack, item: SeededOffering, since: int = 0) -> list[Any]:
    """The ``set_usage`` requests for ``item``'s resources the sandbox Waldur received (from ``since``)."""
    resources = set(item.resources.values())
    return [
        request
        for request in stack.waldur.requests[since:]
        if request.method == "POST"
        and request.path.endswith("set_usage/")
        and request.json["resource"] in resources
    ]


def written_months(stack: SandboxStack) -> set[str]:
    """The months of every usage write of the first offering the sandbox Waldur received."""
    return {request.json["date"][:7] for request in usage_writes_of(stack, stack.seeded[0])}


def test_processes_serve_every_dag_of_the_offering_without_import_errors(deployment: Deployment) -> None:
    airflow = deployment.airflow

    health = airflow.api("GET", "/api/v2/monitor/health").json()
    errors = airflow.api("GET", "/api/v2/importErrors").json()
    dags = airflow.api("GET", "/api/v2/dags", params={"tags": OFFERING["slug"]}).json()["dags"]

    assert {part: health[part]["status"] for part in ("metadatabase", "scheduler", "dag_processor")} == {
        "metadatabase": "healthy",
        "scheduler": "healthy",
        "dag_processor": "healthy",
    }
    assert errors["total_entries"] == 0, errors
    assert sorted(dag["dag_id"] for dag in dags) == sorted([AUDIT, CLOSING, DAILY, INVOICING])


def test_triggered_run_lands_its_month_in_waldur(deployment: Deployment, workload: Workload) -> None:
    run = wait_for_run(deployment, DAILY, workload.triggered_run)

    states = assert_every_task_succeeded(deployment, DAILY, run)
    assert {task for task in states if task.startswith("fetch_usage")} == {"fetch_usage[0]"}
    assert_waldur_holds_dwdi_totals(deployment.stack, workload.triggered_month)
    # XCom written by one task process, read back by the api-server.
    airflow = deployment.airflow
    assert airflow.xcom(DAILY, run["dag_run_id"], "billing_months") == [workload.triggered_month]
    pushed = airflow.xcom(DAILY, run["dag_run_id"], "push_to_waldur", map_index=0)
    assert (pushed["dry_run"], pushed["failed"]) == (False, 0)
    assert pushed["written"] > 0


def test_dry_run_writes_nothing(deployment: Deployment, workload: Workload) -> None:
    run = wait_for_run(deployment, DAILY, workload.dry_run)

    assert_every_task_succeeded(deployment, DAILY, run)
    pushed = deployment.airflow.xcom(DAILY, run["dag_run_id"], "push_to_waldur", map_index=0)
    assert (pushed["dry_run"], pushed["written"]) == (True, 0)
    assert pushed["changed"] == len(deployment.stack.seeded[0].accounts)
    assert workload.dry_run_month not in written_months(deployment.stack)


def serve_without_cluster(stack: SandboxStack, month: str, accounts: list[str], cluster: str) -> None:
    """DWDI answers ``month`` as before, except that ``cluster`` has no rows for ``accounts``
    (its data arrives late): every other account, of every offering, is unchanged."""
    if stack.dwdi is None:
        raise RuntimeError("start() the sandbox first")
    stack.dwdi.set_entries(
        month,
        [
            entry
            for entry in stack.dataset.entries(month)
            if not (entry["account"] in accounts and entry["cluster"] == cluster)
        ],
    )


def expected_without_cluster(
    stack: SandboxStack, item: SeededOffering, month: str, accounts: list[str]
) -> Any:
    """What Waldur holds for ``month`` once the values of DWDI without the last cluster for
    ``accounts`` are written (the other accounts as DWDI always reported them)."""
    components = item.config.components
    expected = dict(stack.expected(item, month))
    late = stack.dataset.clusters[-1]
    on_time = [cluster for cluster in stack.dataset.clusters if cluster != late]
    expected.update(expected_compute(stack.dataset, month, accounts, components, on_time))
    return expected


def answer_as_documented(deployment: Deployment, option: str) -> dict[str, Any]:
    """Answer the one waiting request of the guarded offering with docs/anomaly-guard.md's curl
    commands, as written (the page's DAG id replaced by the guarded one): find it, then choose
    ``option``. The PATCH's answer."""
    section = GUARD_PAGE.read_text().split("## Approving from the REST API", 1)[1].split("\n## ", 1)[0]
    blocks = [
        block.replace(DOCUMENTED_DAG, GUARDED_DAILY)
        for block in re.findall(r"^```bash\n(.*?)^```", section, re.M | re.S)
    ]
    (find,) = [block for block in blocks if "RUN_ID=" in block]
    (answer,) = [block for block in blocks if f'"chosen_options": ["{option}"]' in block]
    marker = "__ANSWER__"
    airflow = deployment.airflow
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", f"{find}\necho {marker}\n{answer}"],
        env={
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
            "AIRFLOW_URL": airflow.base_url,
            "TOKEN": airflow.token(),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return dict(json.loads(result.stdout.split(marker, 1)[1]))


def held_run(deployment: Deployment, month: str) -> tuple[str, dict[str, Any]]:
    """Trigger the guarded offering's daily run of ``month``; once it waits for a person, its run
    id and its request (as *Required actions* and the REST API show it)."""
    airflow = deployment.airflow
    run_id = airflow.trigger(GUARDED_DAILY, {"month": month, "reconcile": True})
    request = airflow.wait_for_hitl_request(
        GUARDED_DAILY, run_id, APPROVAL_TASK, map_index=0, timeout=RUN_TIMEOUT
    )
    return run_id, request


def held_rows(deployment: Deployment, run_id: str) -> list[dict[str, Any]]:
    """The rows (a total, or a user's usage, of a resource's component) of the push's ``held_values``."""
    reply = deployment.airflow.api(
        "GET",
        f"/api/v2/dags/{GUARDED_DAILY}/dagRuns/{run_id}/taskInstances/push_to_waldur/xcomEntries/held_values",
        params={"map_index": 0},
    )
    return list(reply.json()["value"]["rows"])


def decision_of(deployment: Deployment, run_id: str) -> dict[str, Any]:
    reply = deployment.airflow.api(
        "GET",
        f"/api/v2/dags/{GUARDED_DAILY}/dagRuns/{run_id}/taskInstances/{APPROVAL_TASK}/xcomEntries/decision",
        params={"map_index": 0},
    )
    return dict(reply.json()["value"])


@pytest.mark.timeout(720)
def test_held_values_wait_for_a_rest_answer_approve_writes_them_and_reject_writes_nothing(
    deployment: Deployment, workload: Workload
) -> None:
    airflow, stack = deployment.airflow, deployment.stack
    item = stack.seeded[1]
    month = workload.guarded_month
    first = wait_for_run(deployment, GUARDED_DAILY, workload.guarded_run)
    assert first["state"] == "success", airflow.task_states(GUARDED_DAILY, first["dag_run_id"])
    # Nothing to approve in a normal month: the task skips without asking.
    assert airflow.task_states(GUARDED_DAILY, first["dag_run_id"])[f"{APPROVAL_TASK}[0]"] == "skipped"
    assert differences(stack.expected(item, month), stack.landed(item, month)) == []
    late = stack.dataset.clusters[-1]
    on_both = [
        account for account in item.accounts if stack.dataset.clusters_of(account) == stack.dataset.clusters
    ]
    assert len(on_both) >= 2, on_both
    before = stack.landed(item, month)

    # 1. The last cluster's rows of one account arrive late: its total falls, the guard holds it.
    serve_without_cluster(stack, month, on_both[:1], late)
    approved_run, request = held_run(deployment, month)

    assert request["options"] == ["Approve", "Reject"]
    assert on_both[0] in request["body"]
    assert [
        detail["task_instance"]["dag_run_id"] for detail in airflow.pending_hitl_details(GUARDED_DAILY)
    ] == [approved_run]
    held = held_rows(deployment, approved_run)
    expected = expected_without_cluster(stack, item, month, on_both[:1])
    (total,) = [row for row in held if (row["component"], row["user"]) == ("nodeHours", None)]
    assert (Decimal(total["waldur_now"]), Decimal(total["dwdi_new"])) == (
        before[on_both[0]]["total"]["nodeHours"],
        expected[on_both[0]]["total"]["nodeHours"],
    )
    assert {row["resource"] for row in held} == {on_both[0]}
    pushed = airflow.xcom(GUARDED_DAILY, approved_run, "push_to_waldur", map_index=0)
    assert pushed["held"] == len(held)
    # While the request waits, Waldur still holds the first push's values of the held account.
    assert stack.landed(item, month)[on_both[0]] == before[on_both[0]]
    writes = len(stack.waldur.requests)

    answer = answer_as_documented(deployment, "Approve")

    assert answer["chosen_options"] == ["Approve"]
    run = wait_for_run(deployment, GUARDED_DAILY, approved_run)
    assert run["state"] == "success", airflow.task_states(GUARDED_DAILY, approved_run)
    assert expected[on_both[0]]["total"]["nodeHours"] < before[on_both[0]]["total"]["nodeHours"]
    assert differences(expected, stack.landed(item, month)) == []
    assert {request.json["resource"] for request in usage_writes_of(stack, item, writes)} == {
        item.resources[on_both[0]]
    }
    decision = decision_of(deployment, approved_run)
    assert (decision["month"], decision["decision"], decision["by"]) == (
        month,
        "approved",
        answer["responded_by"]["name"],
    )
    assert decision["written"] == 1
    assert airflow.pending_hitl_details(GUARDED_DAILY) == []

    # 2. Now a second account's rows of that cluster are late too: held, and rejected.
    approved = stack.landed(item, month)
    serve_without_cluster(stack, month, on_both[:2], late)
    rejected_run, request = held_run(deployment, month)
    assert {row["resource"] for row in held_rows(deployment, rejected_run)} == {on_both[1]}
    writes = len(stack.waldur.requests)

    assert answer_as_documented(deployment, "Reject")["chosen_options"] == ["Reject"]

    run = wait_for_run(deployment, GUARDED_DAILY, rejected_run)
    assert run["state"] == "success", airflow.task_states(GUARDED_DAILY, rejected_run)
    assert decision_of(deployment, rejected_run)["decision"] == "rejected"
    assert usage_writes_of(stack, item, writes) == []
    assert stack.landed(item, month) == approved
    assert airflow.pending_hitl_details(GUARDED_DAILY) == []


def scheduled_runs(deployment: Deployment, dag_id: str) -> list[dict[str, Any]]:
    """The scheduled runs of ``dag_id``, once all have finished: the one created at unpause, and
    the next one when the module runs across midnight (daily) or a month's end (closing)."""
    airflow = deployment.airflow

    def finished() -> list[dict[str, Any]] | None:
        runs = [run for run in airflow.runs(dag_id) if run["run_type"] == "scheduled"]
        return runs if runs and all(run["state"] in FINISHED_RUN_STATES for run in runs) else None

    return wait_for(f"the scheduled run(s) of {dag_id}", finished, timeout=RUN_TIMEOUT, interval=2)


def module_runs(deployment: Deployment, dag_id: str, started: int) -> list[dict[str, Any]]:
    """The ``started`` runs the module triggered or backfilled, then the scheduled ones, all finished."""
    started_runs = deployment.airflow.wait_for_runs(
        dag_id, lambda run: run["run_type"] != "scheduled", count=started, timeout=RUN_TIMEOUT
    )
    return started_runs + scheduled_runs(deployment, dag_id)


def scheduled_months(run: dict[str, Any]) -> list[str]:
    """The months a scheduled daily run reports, from its own data interval (not the test's clock)."""
    return months_to_report(
        parse_instant(run["data_interval_end"]), BILLING_TIMEZONE, reopen_days=3, previous_allowed=True
    )


def test_scheduled_daily_run_reports_the_month_to_date(deployment: Deployment, workload: Workload) -> None:
    runs = scheduled_runs(deployment, DAILY)

    assert len(runs) in (1, 2)  # 2 only across midnight
    for run in runs:
        assert_every_task_succeeded(deployment, DAILY, run)
        expected_months = scheduled_months(run)
        assert deployment.airflow.xcom(DAILY, run["dag_run_id"], "billing_months") == expected_months
        for month in expected_months:
            assert_waldur_holds_dwdi_totals(deployment.stack, month)


def test_backfill_of_three_months_creates_three_runs_each_writing_its_month(
    deployment: Deployment, workload: Workload
) -> None:
    airflow = deployment.airflow

    runs = airflow.wait_for_runs(
        CLOSING, lambda run: run["run_type"] == "backfill", count=3, timeout=RUN_TIMEOUT
    )

    assert [month_of(parse_instant(run["logical_date"])) for run in runs] == BACKFILLED_MONTHS
    for run, month in zip(runs, BACKFILLED_MONTHS, strict=True):
        states = assert_every_task_succeeded(deployment, CLOSING, run)
        assert {task for task in states if task.startswith("push_to_waldur")} == {"push_to_waldur[0]"}
        assert airflow.xcom(CLOSING, run["dag_run_id"], "billing_months") == [month]
        assert airflow.xcom(CLOSING, run["dag_run_id"], "push_to_waldur", map_index=0)["written"] > 0
        assert_waldur_holds_dwdi_totals(deployment.stack, month)


def test_no_month_outside_the_runs_was_written(deployment: Deployment, workload: Workload) -> None:
    # Everything the module started: 2 triggered daily runs and the backfill of 3 months, and what
    # the scheduler started: a daily run and a closing run (one more of each across midnight or a
    # month's end).
    daily = module_runs(deployment, DAILY, started=2)
    closing = module_runs(deployment, CLOSING, started=3)
    scheduled = [run for run in daily if run["run_type"] == "scheduled"]
    closed = {
        month_of(parse_instant(run["logical_date"])) for run in closing if run["run_type"] == "scheduled"
    }
    # The latest month that has ended, closed by the scheduler as soon as the DAG was unpaused.
    assert previous_month(workload.current_month) in closed
    assert closed <= {previous_month(workload.current_month), workload.current_month}
    assert {run["state"] for run in daily + closing} == {"success"}

    allowed = {
        *BACKFILLED_MONTHS,
        workload.triggered_month,
        *closed,
        *(month for run in scheduled for month in scheduled_months(run)),
    }
    stack = deployment.stack
    assert written_months(stack) == allowed
    item = stack.seeded[0]
    month = previous_month(BACKFILLED_MONTHS[0])  # the month before the backfill's range ...
    while month <= workload.current_month:
        landed = stack.landed(item, month)
        if month in allowed:
            assert differences(stack.expected(item, month), landed) == [], month
        else:  # ... and every other month the runs had no business with holds nothing
            assert all(value is None for account in landed.values() for value in account["total"].values()), (
                month
            )
        month = next_month(month)
    assert stack.waldur.schema_violations == []


def test_rest_triggered_audit_of_the_written_months_is_clean(
    deployment: Deployment, workload: Workload
) -> None:
    airflow = deployment.airflow
    # Every run that writes: the audit must not read a month while it is being pushed.
    airflow.wait_for_runs(DAILY, lambda run: True, count=3, timeout=RUN_TIMEOUT)
    airflow.wait_for_runs(CLOSING, lambda run: True, count=4, timeout=RUN_TIMEOUT)
    wait_for(
        "every run of the guarded offering to finish",
        lambda: (
            True if all(run["state"] in FINISHED_RUN_STATES for run in airflow.runs(GUARDED_DAILY)) else None
        ),
        timeout=RUN_TIMEOUT,
    )
    writes_before = len(deployment.stack.waldur.requests)
    airflow.unpause(AUDIT)

    run = wait_for_run(deployment, AUDIT, airflow.trigger(AUDIT, {}))

    assert_every_task_succeeded(deployment, AUDIT, run)
    result = AuditResult.from_xcom(airflow.xcom(AUDIT, run["dag_run_id"], "audit_waldur"))
    assert result.clean
    audited = [workload.triggered_month, previous_month(workload.current_month)]
    assert [month["month"] for month in result.months] == audited
    assert all(month["unchanged"] == month["resources"] == 4 for month in result.months)
    assert all(month["pushed_archive"] for month in result.months)
    assert [
        request for request in deployment.stack.waldur.requests[writes_before:] if request.method == "POST"
    ] == []


def test_secrets_stay_out_of_every_process_and_task_log(deployment: Deployment, workload: Workload) -> None:
    module_runs(deployment, DAILY, started=2)
    logs = deployment.airflow.all_log_text()

    assert "push_to_waldur" in logs  # the task logs are there
    for secret in (deployment.stack.client_secret, deployment.stack.waldur.staff_token):
        assert secret not in logs


def test_a_push_triggers_the_invoicing_dag_with_its_extra_and_a_dry_run_emits_nothing(
    deployment: Deployment, workload: Workload
) -> None:
    airflow = deployment.airflow
    triggered = wait_for_run(deployment, DAILY, workload.triggered_run)
    dry_run = wait_for_run(deployment, DAILY, workload.dry_run)
    pushed = airflow.xcom(DAILY, triggered["dag_run_id"], "push_to_waldur", map_index=0)

    def events_of(run: dict[str, Any]) -> list[dict[str, Any]]:
        reply = airflow.api("GET", "/api/v2/assets/events", params={"source_run_id": run["dag_run_id"]})
        return reply.json()["asset_events"]

    [event] = events_of(triggered)
    assert event["uri"] == BILLING_ASSET_URI
    assert events_of(dry_run) == []
    assert event["extra"]["month"] == workload.triggered_month
    assert event["extra"]["closed"] is False
    assert (event["extra"]["written"], event["extra"]["unchanged"]) == (
        pushed["written"],
        pushed["unchanged"],
    )
    assert event["extra"]["checksum"].startswith("sha256:")

    # The scheduler batches the events queued since the last run: find the run that got this one.
    def consumed(run: dict[str, Any]) -> list[dict[str, Any]]:
        reply = airflow.api(
            "GET", f"/api/v2/dags/{INVOICING}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents"
        )
        return reply.json()["asset_events"]

    def downstream_run() -> dict[str, Any] | None:
        finished = [run for run in airflow.runs(INVOICING) if run["state"] == "success"]
        return next(
            (
                run
                for run in finished
                if any(e["source_run_id"] == triggered["dag_run_id"] for e in consumed(run))
            ),
            None,
        )

    run = wait_for(f"the {INVOICING} run of {triggered['dag_run_id']}", downstream_run, timeout=RUN_TIMEOUT)
    received = airflow.xcom(INVOICING, run["dag_run_id"], "log_invoice_input")
    source = f"{DAILY}/{triggered['dag_run_id']}"
    assert {"source": source, **event["extra"]} in received


def test_the_close_runs_mail_their_month_closed_and_nothing_else(
    deployment: Deployment, workload: Workload
) -> None:
    deployment.airflow.wait_for_runs(CLOSING, lambda run: True, count=4, timeout=RUN_TIMEOUT)
    deployment.airflow.wait_for_runs(DAILY, lambda run: True, count=3, timeout=RUN_TIMEOUT)

    mails = deployment.smtp.mails
    closed = sorted(
        found.group(1)
        for mail in mails
        if (found := re.fullmatch(r"\[cscs-dwdi\] Deployed HPC (\d{4}-\d\d): month closed .*", mail.subject))
    )
    assert closed == sorted([*BACKFILLED_MONTHS, previous_month(workload.current_month)])
    assert len(mails) == len(closed)  # every run succeeded without issues: no other alert
    for mail in mails:
        assert mail.recipients == ("billing-ops@example.org",)
        assert "Offering: Deployed HPC (4b1f6e2a9c3d4e5f8a7b6c5d4e3f2a1b)" in mail.body
        for secret in (deployment.stack.client_secret, deployment.stack.waldur.staff_token, "eyJ"):
            assert secret not in mail.raw


def next_month(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"
