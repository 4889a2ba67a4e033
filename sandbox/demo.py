"""`make demo`: the whole pipeline on this machine, then what landed in Waldur next to DWDI's totals.

1. starts the sandbox (OIDC issuer, DWDI and Waldur doubles on loopback ports), seeded from the
   example offerings file the DAGs are built from;
2. configures Airflow in ``.demo/airflow`` (embedded SQLite, connections as ``AIRFLOW_CONN_*``);
3. runs every offering's DAG for the current month with ``dag.test()`` (real tasks, real XCom; the
   previous month in the first hours of a month, before Waldur accepts a date in it; ``--month``
   chooses):
   compute, storage and inference offerings alike;
4. prints, per offering (with its usage kind), resource and (compute) user, the DWDI totals and
   what Waldur now holds, and exits non-zero if anything differs. A storage path DWDI has no data
   for shows ``-`` on both sides: nothing to write, and nothing was written;
5. lets the scheduler's own code create the asset-triggered run of the first offering's example
   invoicing DAG (``dags/cscs_dwdi_invoicing_example.py``) from the push's asset event, runs it
   in-process as ``dag.test()`` runs tasks, and prints the extra it received;
6. pushes the first offering's closed months and runs its drift audit DAG once: it must be clean
   (its per-month counts and its table of differences are printed);
7. shows the anomaly guard (docs/anomaly-guard.md): DWDI answers one account of the first
   offering without its last cluster's rows (as when that cluster's data is late), the daily DAG
   runs again, its push holds the account's falling total and ``approve_held_values`` asks for
   approval; the held row is printed as *Required Actions* shows it, the demo approves it through
   Airflow's own REST handler, and prints the new value landed in Waldur.

Airflow is imported only after the environment is set, because it reads its configuration once.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = REPO / "dags" / "cscs_dwdi_offerings.example.yaml"


def _prepare_airflow_home(home: Path) -> None:
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("DEMO_LOG_LEVEL", "WARNING"),
            # Signs the in-process task tokens of the invoicing run (else Airflow warns and makes one).
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            # The example invoicing DAGs must be unpaused for the push's asset event to queue them.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        }
    )


def _amount(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_comparison(title: str, expected: dict[str, Any], landed: dict[str, Any]) -> int:
    """Print DWDI totals next to Waldur's; returns the number of differing cells."""
    from sandbox.expected import same_amount

    print(f"\n{title}")
    header = f"  {'resource / user':<22} {'component':<16} {'DWDI':>14} {'Waldur':>14}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    bad = 0
    for account in sorted(expected):
        want, got = expected[account], landed.get(account, {"total": {}, "users": {}})
        for component, amount in want["total"].items():
            held = got["total"].get(component)
            ok = same_amount(amount, held)
            bad += not ok
            note = "ok (no DWDI data: not written)" if ok and amount is None else "ok" if ok else "DIFFERS"
            print(f"  {account:<22} {component:<16} {_amount(amount):>14} {_amount(held):>14}  {note}")
        for username in sorted(want["users"]):
            for component, amount in want["users"][username].items():
                held = got["users"].get(username, {}).get(component)
                ok = (held is None and amount == 0) or (held is not None and Decimal(held) == amount)
                bad += not ok
                print(
                    f"    {username:<20} {component:<16} {_amount(amount):>14} {_amount(held):>14}  "
                    f"{'ok' if ok else 'DIFFERS'}"
                )
    return bad


def run_clean_audit(item: Any, now: datetime) -> int:
    """Push the offering's audited closed months, then run its audit DAG; returns 1 unless clean."""
    from airflow_provider_cscs_dwdi.core.alerts import drift_table
    from airflow_provider_cscs_dwdi.core.audit_result import AuditResult
    from airflow_provider_cscs_dwdi.core.months import audited_months
    from airflow_provider_cscs_dwdi.dag_factory import AUDIT_DAG_ID_PREFIX, DAG_ID_PREFIX, load_dags_from_env
    from sandbox.airflow_runs import xcom_results

    dags = load_dags_from_env()
    usage, audit = dags[DAG_ID_PREFIX + item.config.slug], dags[AUDIT_DAG_ID_PREFIX + item.config.slug]
    for task in [*usage.tasks, *audit.tasks]:
        task.retries = 0
    months = audited_months(item.config.audit.months, item.config.billing_timezone, repair_month=None)
    for offset, month in enumerate(months, 1):
        dag_run = usage.test(logical_date=now + timedelta(seconds=offset), run_conf={"month": month})
        print(f"{usage.dag_id}: closed month {month} pushed, run finished {dag_run.state}")
    print(f"\n=== dag.test({audit.dag_id}): the drift audit of {', '.join(months)} ===")
    dag_run = audit.test(logical_date=now + timedelta(seconds=len(months) + 1))
    print(f"{audit.dag_id}: run {dag_run.run_id} finished {dag_run.state}")
    documents = xcom_results(dag_run, "audit_waldur")
    if not documents:
        return 1
    result = AuditResult.from_xcom(documents[0])
    for month in result.months:
        print(
            f"  {month['month']}: {month['resources']} resource(s) compared, {month['unchanged']} identical, "
            f"{month['drifts']} difference(s)"
        )
    for line in drift_table(result.drifts) if result.drifts else ["no difference between DWDI and Waldur"]:
        print(f"  {line}")
    return int(str(dag_run.state) != "success" or not result.clean)


def run_asset_triggered_invoicing(dag_id: str) -> list[dict[str, Any]]:
    """Create ``dag_id``'s asset-triggered run as the scheduler does, run it, return what it received.

    There is no scheduler process in the demo: its run-creation step is called once, on the
    events the pushes queued, then the run's tasks are run in-process as ``dag.test()`` runs them.
    """
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dag import DagModel
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunType
    from sqlalchemy import select

    from airflow_provider_cscs_dwdi.dag_factory import load_config_from_env
    from airflow_provider_cscs_dwdi.invoicing_example import build_invoicing_dags

    dag = build_invoicing_dags(load_config_from_env())[dag_id]
    with create_session() as session:
        dag_model = session.get(DagModel, dag_id)
        if dag_model is None:
            raise RuntimeError(f"{dag_id} is not in the metadata DB (dag.test() syncs the dags/ folder)")
        SchedulerJobRunner(job=Job())._create_dag_runs_asset_triggered(
            dag_models=[dag_model], session=session
        )
        session.commit()
        dag_run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_type == DagRunType.ASSET_TRIGGERED)
        ).one()
        dag_run.dag = DBDagBag().get_dag_for_run(dag_run, session=session)
        dag_run.state = DagRunState.RUNNING
        session.commit()
        print(
            f"{dag_id}: asset-triggered run {dag_run.run_id}, {len(dag_run.consumed_asset_events)} event(s)"
        )
        while dag_run.state == DagRunState.RUNNING:
            schedulable, _ = dag_run.update_state(session=session)
            for ti in schedulable:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            for ti in dag_run.get_task_instances(session=session):
                if ti.state == TaskInstanceState.SCHEDULED:
                    _run_task(ti=ti, task=dag.task_dict[ti.task_id])
            session.expire_all()
        print(f"{dag_id}: run {dag_run.run_id} finished {dag_run.state}")
        if str(dag_run.state) != "success":
            return []
        logged = dag_run.get_task_instance("log_invoice_input", session=session)
        return list(logged.xcom_pull(task_ids="log_invoice_input", session=session) or []) if logged else []


def run_held_value(stack: Any, item: Any, month: str, now: datetime) -> int:
    """One account loses its last cluster's rows: the run holds its values, an approval writes them.

    Returns 1 unless exactly one approval was asked for, and once approved Waldur holds DWDI's new
    (lower) values of the account.
    """
    from airflow_provider_cscs_dwdi.dag_factory import DAG_ID_PREFIX, load_dags_from_env
    from sandbox.airflow_runs import xcom_results
    from sandbox.approvals import answering
    from sandbox.expected import expected_compute, same_amount

    dataset = stack.dataset
    late = dataset.clusters[-1]
    account = next(name for name in item.accounts if dataset.clusters_of(name) == dataset.clusters)
    before = stack.landed(item, month)[account]["total"]
    stack.dwdi.set_entries(
        month,
        [
            entry
            for entry in dataset.entries(month)
            if (entry["account"], entry["cluster"]) != (account, late)
        ],
    )
    dag = load_dags_from_env()[DAG_ID_PREFIX + item.config.slug]
    for task in dag.tasks:
        task.retries = 0
    print(f"\n=== the anomaly guard: DWDI answers {account} without its {late} rows (late data) ===")
    with answering("Approve") as answers:
        dag_run = dag.test(logical_date=now + timedelta(minutes=1), run_conf={"month": month})
    print(f"{dag.dag_id}: run {dag_run.run_id} finished {dag_run.state}")
    for request in answers.requests:
        print(f"  Required Actions: {request['subject']}")
        rows = [
            [cell.strip() for cell in line.strip("|").split("|")]
            for line in str(request["body"]).splitlines()
            if line.startswith("|") and not line.startswith("|---")
        ]
        for resource, component, user, waldur_now, dwdi_new, *_ in rows:
            print(f"    {resource:<10} {component:<14} {user:<12} {waldur_now:>12} {dwdi_new:>12}")
        if len(rows) > 1:
            print(f"    why: {rows[1][-1]}")
    for decision in xcom_results(dag_run, "approve_held_values", key="decision"):
        print(
            f"  {decision['decision']} by {decision['by']} at {decision['at']}: {decision['written']} resource(s) written"
        )
    kept = [name for name in dataset.clusters if name != late]
    new = expected_compute(dataset, month, [account], item.config.components, kept)[account]["total"]
    landed = stack.landed(item, month)[account]["total"]
    print(f"  {account} in Waldur ({month}):")
    for component, amount in new.items():
        print(
            f"    {component:<16} before {_amount(before.get(component)):>10}   "
            f"DWDI new {_amount(amount):>10}   Waldur now {_amount(landed.get(component)):>10}"
        )
    stack.dwdi.set_entries(month, None)
    landed_new = all(same_amount(amount, landed.get(component)) for component, amount in new.items())
    fell = any(not same_amount(amount, before.get(component)) for component, amount in new.items())
    asked_once = len(answers.requests) == 1 and not answers.errors
    return int(not (str(dag_run.state) == "success" and asked_once and landed_new and fell))


def demo_month(now: datetime) -> str:
    """The current month, or the previous one until Waldur can be given a date in the new month
    (the first hours of the 1st, UTC: :func:`core.months.usage_date`), when a push writes nothing."""
    from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError
    from airflow_provider_cscs_dwdi.core.months import previous_month, usage_date

    month = f"{now.year:04d}-{now.month:02d}"
    try:
        usage_date(month, now)
    except CscsDwdiError:
        return previous_month(month)
    return month


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the CSCS-DWDI -> Waldur pipeline against the sandbox.")
    parser.add_argument("--config", default=str(EXAMPLE_CONFIG), help="offerings YAML (default: the example)")
    parser.add_argument("--home", default=str(REPO / ".demo" / "airflow"), help="AIRFLOW_HOME for the demo")
    parser.add_argument("--accounts", type=int, default=6, help="accounts per offering")
    parser.add_argument("--month", help="YYYY-MM to report (default: the current month, see demo_month)")
    args = parser.parse_args(argv)

    _prepare_airflow_home(Path(args.home))
    os.environ["CSCS_DWDI_CONFIG"] = str(Path(args.config).resolve())

    from airflow_provider_cscs_dwdi.core.config import load_config
    from sandbox.stack import SandboxStack

    offerings = load_config(args.config).offerings
    now = datetime.now(UTC)
    month = args.month or demo_month(now)
    with SandboxStack(offerings, accounts_per_offering=args.accounts) as stack:
        os.environ.update(stack.connection_env())
        print(f"Sandbox: DWDI {stack.dwdi_url}, Waldur {stack.waldur.url}, OIDC issuer {stack.issuer_url}")

        from airflow.utils.db import resetdb

        from airflow_provider_cscs_dwdi.dag_factory import DAG_ID_PREFIX, load_dags_from_env
        from airflow_provider_cscs_dwdi.invoicing_example import INVOICING_DAG_ID_PREFIX

        print(f"Migrating the Airflow metadata database in {args.home} (SQLite) ...")
        resetdb()
        # The daily DAGs only: the monthly closing DAGs report past months, not this one.
        dags = {
            dag_id: dag for dag_id, dag in load_dags_from_env().items() if dag_id.startswith(DAG_ID_PREFIX)
        }
        failures = 0
        for dag_id, dag in dags.items():
            for task in dag.tasks:
                task.retries = 0  # a demo should fail at once, not wait out retry delays
            print(f"\n=== dag.test({dag_id}) for {month} ===")
            dag_run = dag.test(logical_date=now, run_conf={"month": month})
            print(f"{dag_id}: run {dag_run.run_id} finished {dag_run.state}")
            failures += str(dag_run.state) != "success"

        differing = 0
        for item in stack.seeded:
            differing += print_comparison(
                f"{item.config.name} ({item.usage_kind.value}, offering {item.uuid}), {month}: "
                "DWDI totals vs Waldur",
                stack.expected(item, month),
                stack.landed(item, month),
            )
        writes = sum(1 for request in stack.waldur.requests if request.method == "POST")
        print(f"\nWaldur received {len(stack.waldur.requests)} request(s), {writes} of them writes.")

        invoicing_dag_id = INVOICING_DAG_ID_PREFIX + stack.seeded[0].config.slug
        print(f"\n=== the push's asset event triggers {invoicing_dag_id} ===")
        received = run_asset_triggered_invoicing(invoicing_dag_id)
        for extra in received:
            print(f"  received: {json.dumps(extra, sort_keys=True)}")
        failures += not received
        # After the invoicing run: the audit's own pushes of closed months add asset events too.
        failures += run_clean_audit(stack.seeded[0], now)
        # Last: its second push of the month would otherwise add an event to the invoicing run.
        failures += run_held_value(stack, stack.seeded[0], month, now)
        if failures or differing:
            print(
                f"DEMO FAILED: {failures} DAG run(s) failed, {differing} amount(s) differ.", file=sys.stderr
            )
            return 1
        kinds = ", ".join(sorted({item.usage_kind.value for item in stack.seeded}))
        print(f"Demo OK ({kinds}): Waldur holds exactly the DWDI totals for every resource and user.")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
