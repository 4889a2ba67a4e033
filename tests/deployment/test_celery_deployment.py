"""The offering's DAGs on the CeleryExecutor with two worker "hosts", an S3 archive and XCom store.

One deployment for the module, as docs/scale-out.md describes it: PostgreSQL, redis-server (the
broker), the api-server, the scheduler and the dag-processor, and two ``airflow celery worker
--concurrency 1``, each in its own mount and UTS namespace (``unshare``): its own hostname and a
private tmpfs as its Airflow home, so nothing a worker writes to local disk is seen by the other.
The provider comes from the wheel built from this checkout, installed with its ``[s3,celery]``
extras and the project's constraints into a virtualenv of its own (``deployment_virtualenv``).
A cluster policy sends ``fetch_usage`` to the queue only ``worker-a`` serves and
``aggregate_usage`` to the one only ``worker-b`` serves; the test checks from the REST API's
task-instance hostnames that it happened. moto's S3 server (``moto[server]``, run by the test
process) on loopback is the S3 endpoint.

Two offerings: ``s3_hpc`` (``archive_path: s3://...``, the archive and the XCom object-storage
backend on moto) must land exact totals; ``local_hpc`` (the default local archive) must fail in
``aggregate_usage``, naming both hosts, and write nothing. Last, worker loss: while a push of
``s3_hpc`` is held inside a Waldur write, the worker running it is killed with its whole
namespace, and the retry on the other worker must write exactly the month.

Measured on the 2-core development machine shared with other test runs: 2 min 40 s to 3 min 45 s
for the module, creating its virtualenv included (about 1 minute of it with a warm pip cache, 2 with
a cold one; the virtualenv is kept outside the clone and reused while pyproject.toml, the constraints
and Python are unchanged, see ``deployment_virtualenv``).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_cscs_dwdi.core.config import load_config
from airflow_provider_cscs_dwdi.core.months import months_to_report, previous_month
from airflow_provider_cscs_dwdi.dag_factory import CONFIG_ENV_VAR, DAG_ID_PREFIX
from sandbox.stack import SandboxStack
from tests.deployment.airflow_processes import REPO_ROOT, AirflowDeployment, DeploymentError, wait_for
from tests.deployment.test_deployment import (
    BILLING_TIMEZONE,
    ISSUER_CLIENT,
    assert_succeeded_without_approval,
    assert_waldur_holds_dwdi_totals,
    parse_instant,
    usage_writes_of,
)
from tests.fixtures.offerings import NODE_AND_GPU_COMPONENTS
from tests.fixtures.postgres import PostgresServer, free_port
from tests.fixtures.redis import RedisServer

# It builds the wheel in the checkout, as the packaging test and the installation page do.
pytestmark = [
    pytest.mark.deployment,
    pytest.mark.timeout(900),
    pytest.mark.xdist_group("builds_in_the_checkout"),
]

S3_CONN_ID = "dwdi_archive_s3"
BUCKET = "cscs-dwdi-billing"
S3_OFFERING = {
    "name": "Scaled-out HPC",
    "slug": "s3_hpc",
    "offering_uuid": "5c2a7f3b0d4e4f6a9b8c7d6e5f4a3b2c",
    "billing_timezone": BILLING_TIMEZONE,
    "backend_components": NODE_AND_GPU_COMPONENTS,
    "archive_path": f"s3://{S3_CONN_ID}@{BUCKET}/archive",
}
LOCAL_OFFERING = {
    "name": "Local-archive HPC",
    "slug": "local_hpc",
    "offering_uuid": "6d3b8a4c1e5f4a7b8c9d0e1f2a3b4c5d",
    "billing_timezone": BILLING_TIMEZONE,
    "backend_components": NODE_AND_GPU_COMPONENTS,
}
S3_DAILY = DAG_ID_PREFIX + S3_OFFERING["slug"]
LOCAL_DAILY = DAG_ID_PREFIX + LOCAL_OFFERING["slug"]
WORKERS = {"worker-a": "default,fetch", "worker-b": "default,aggregate"}
RUN_TIMEOUT = 300
# What docs/scale-out.md tells a Celery + S3 deployment to install.
DEPLOYMENT_EXTRAS = "[s3,celery]"

# The cluster policy of this deployment (airflow_local_settings.py on every process's path): fetch
# and aggregate of a month never share a worker. The short retry delay only keeps the worker-loss
# test short (the provider's default is 5 minutes).
CLUSTER_POLICY = """
from datetime import timedelta

QUEUES = {"fetch_usage": "fetch", "aggregate_usage": "aggregate"}


def task_policy(task):
    if task.task_id in QUEUES:
        task.queue = QUEUES[task.task_id]
    if task.task_id == "push_to_waldur":
        task.retry_delay = timedelta(seconds=2)
"""


@dataclass
class Worker:
    """One ``airflow celery worker`` in its own mount and UTS namespace."""

    hostname: str
    home: Path
    process: subprocess.Popen[bytes]

    def namespace_pids(self, namespace: str) -> list[int]:
        """Every process in the UTS namespace ``namespace`` (the worker, its pool and task processes)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(entry / "ns" / "uts") == namespace:
                        pids.append(int(entry.name))
        return pids

    def kill_namespace(self) -> None:
        """SIGKILL every process of the "host" at once, as a power cut would; wait until none is left."""
        try:
            namespace = os.readlink(f"/proc/{self.process.pid}/ns/uts")
        except OSError:  # gone already
            self.process.wait(timeout=30)
            return
        deadline = time.monotonic() + 30
        while pids := self.namespace_pids(namespace):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                raise DeploymentError(f"processes of {self.hostname} survive SIGKILL: {pids}")
            time.sleep(0.2)
        self.process.wait(timeout=30)

    def task_logs(self) -> str:
        """Every task log in the worker's private home (path, then text), read through its mount namespace."""
        logs = Path(f"/proc/{self.process.pid}/root") / str(self.home).lstrip("/") / "logs"
        files = sorted(logs.rglob("*")) if logs.is_dir() else []
        return "\n".join(f"{path}\n{path.read_text(errors='replace')}" for path in files if path.is_file())


@dataclass
class CeleryDeployment:
    airflow: AirflowDeployment
    stack: SandboxStack
    workers: dict[str, Worker]
    s3: Any  # a boto3 S3 client on the moto server
    s3_secret: str


@pytest.fixture(scope="session")
def deployment_virtualenv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with the provider's wheel installed (not editable) with ``[s3,celery]``.

    The dependencies are installed once per pyproject.toml + constraints + Python, into
    ``${XDG_CACHE_HOME:-~/.cache}/cscs-dwdi/deployment-venv/<key>`` (outside the clone, as the
    real-Waldur build's cache): the install of the documented extras with the project's
    constraints into a brand-new virtualenv, the first time a key is seen, is the check that they
    resolve, and the same files give the same resolution every later time. (``[test]``
    is installed with the same constraints into ``.venv`` by scripts/bootstrap.sh; as the
    constraints pin every package, the two installs together check ``[test,s3,celery]``.)
    The wheel built from this checkout is reinstalled every session.
    """
    key = hashlib.sha256(
        DEPLOYMENT_EXTRAS.encode()
        + sys.version.encode()
        + (REPO_ROOT / "pyproject.toml").read_bytes()
        + (REPO_ROOT / "requirements/constraints.txt").read_bytes()
    ).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cscs-dwdi"
    venv = cache / "deployment-venv" / key
    python = venv / "bin" / "python"
    wheel_dir = tmp_path_factory.mktemp("wheel")

    def pip(*arguments: str, timeout: float = 900) -> None:
        result = subprocess.run(
            [str(python), "-m", "pip", *arguments],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"pip {' '.join(arguments)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )

    for stale in venv.parent.glob("*"):  # virtualenvs of earlier pyproject.toml/constraints
        if stale != venv:
            shutil.rmtree(stale, ignore_errors=True)
    ready = venv / ".ready"
    if not ready.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
    pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheel_dir), ".")
    (wheel,) = wheel_dir.glob("airflow_provider_cscs_dwdi-*.whl")
    if not ready.exists():
        pip(
            "install",
            "--quiet",
            "--constraint",
            "requirements/constraints.txt",
            f"{wheel}{DEPLOYMENT_EXTRAS}",
            "psycopg[binary]",  # Airflow's driver for the PostgreSQL metadata DB
        )
        ready.touch()
    else:
        pip("install", "--quiet", "--no-deps", "--force-reinstall", str(wheel))
    return venv


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port (the URL of its endpoint)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def start_worker(airflow: AirflowDeployment, hostname: str, queues: str) -> Worker:
    """``airflow celery worker`` as its own "host": new mount and UTS namespaces, private tmpfs home."""
    home = airflow.root / hostname
    home.mkdir()
    # The tmpfs is mounted inside the new mount namespace: the directory stays empty for everyone else.
    script = (
        'mount -t tmpfs -o size=512m,mode=0700 tmpfs "$AIRFLOW_HOME" && hostname "$1" && shift && exec "$@"'
    )
    process = airflow.start_process(
        hostname,
        [
            "unshare",
            "--mount",
            "--uts",
            "--",
            "sh",
            "-c",
            script,
            "worker",
            hostname,
            airflow.airflow_cli,
            "celery",
            "worker",
            "--concurrency",
            "1",
            "--queues",
            queues,
            "--celery-hostname",
            f"celery@{hostname}",
            # The api-server cannot reach a worker by this made-up hostname anyway.
            "--skip-serve-logs",
            "--without-mingle",
            "--without-gossip",
        ],
        environment={"AIRFLOW_HOME": str(home)},
        watched=False,
    )
    return Worker(hostname, home, process)


@pytest.fixture(scope="module")
def deployment(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    oidc_issuer: Any,
    s3_endpoint: str,
    deployment_virtualenv: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CeleryDeployment]:
    import boto3

    if os.geteuid() != 0 or shutil.which("unshare") is None:
        reason = "the workers' own hosts need root and unshare (util-linux) for mount and UTS namespaces"
        if os.environ.get("CI") == "true":
            pytest.fail(f"required under CI: {reason}")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("celery-deployment")
    config_file = root / "offerings.yaml"
    # s3_hpc first: assert_waldur_holds_dwdi_totals checks the first seeded offering.
    config_file.write_text(yaml.safe_dump({"offerings": [S3_OFFERING, LOCAL_OFFERING]}))
    policy_dir = root / "cluster-policy"
    policy_dir.mkdir()
    (policy_dir / "airflow_local_settings.py").write_text(CLUSTER_POLICY)

    s3_key, s3_secret = "cscs-dwdi-test", secrets.token_urlsafe(24)
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=s3_key,
        aws_secret_access_key=s3_secret,
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket=BUCKET)
    stack = SandboxStack(
        load_config(config_file).offerings,
        accounts_per_offering=4,
        waldur_version="8",  # honours the usage `date`: past months can be written
        external_issuer=(oidc_issuer.realm_url, oidc_issuer.jwks_url, oidc_issuer.token_url),
        client_id=ISSUER_CLIENT[0],
        client_secret=ISSUER_CLIENT[1],
    )
    stack.start()
    s3_connection = {
        "conn_type": "aws",
        "login": s3_key,
        "password": s3_secret,
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    }
    airflow = AirflowDeployment(
        Path(root),
        # Its own database: the LocalExecutor module's DAGs and runs stay out of this deployment.
        database_url=postgres_server.create_database("airflow_celery"),
        airflow_cli=str(deployment_virtualenv / "bin" / "airflow"),
        repository_on_path=False,
        environment={
            CONFIG_ENV_VAR: str(config_file),
            **stack.connection_env(),
            f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": json.dumps(s3_connection),
            "PYTHONPATH": str(policy_dir),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": redis_server.url(0),
            "AIRFLOW__CELERY__RESULT_BACKEND": redis_server.url(1),
            "AIRFLOW__CELERY__OPERATION_TIMEOUT": "30",
            "AIRFLOW__CORE__XCOM_BACKEND": "airflow.providers.common.io.xcom.backend.XComObjectStorageBackend",
            "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH": f"s3://{S3_CONN_ID}@{BUCKET}/xcom",
            "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD": "100",
            # The task's hostname is the worker's own (its UTS namespace), with no DNS lookup.
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "socket.gethostname",
            # A killed worker's task is failed (and retried) after this many seconds without heartbeat.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        },
    )
    workers: dict[str, Worker] = {}
    try:
        airflow.start()
        workers = {name: start_worker(airflow, name, queues) for name, queues in WORKERS.items()}
        airflow.wait_until_ready([S3_DAILY, LOCAL_DAILY])
        for worker in workers.values():
            if worker.process.poll() is not None:
                raise DeploymentError(
                    f"celery worker {worker.hostname} exited with {worker.process.returncode}"
                )
        yield CeleryDeployment(airflow, stack, workers, s3, s3_secret)
    except DeploymentError as error:
        pytest.fail(f"{error}\n{airflow.log_tails()}")
    finally:
        for worker in workers.values():
            worker.kill_namespace()
        airflow.stop()
        stack.stop()


@dataclass
class ScheduledRuns:
    s3_run: dict[str, Any]
    local_run: dict[str, Any]
    months: list[str]


@pytest.fixture(scope="module")
def scheduled_runs(deployment: CeleryDeployment) -> ScheduledRuns:
    """Unpause both daily DAGs: the scheduler creates the latest scheduled run of each at once."""
    airflow = deployment.airflow
    airflow.unpause(S3_DAILY)
    airflow.unpause(LOCAL_DAILY)
    (s3_run,) = airflow.wait_for_runs(S3_DAILY, lambda run: True, count=1, timeout=RUN_TIMEOUT)
    (local_run,) = airflow.wait_for_runs(LOCAL_DAILY, lambda run: True, count=1, timeout=RUN_TIMEOUT)
    months = months_to_report(
        parse_instant(s3_run["data_interval_end"]), BILLING_TIMEZONE, reopen_days=3, previous_allowed=True
    )
    return ScheduledRuns(s3_run, local_run, months)


def usage_writes(stack: SandboxStack, offering_uuid: str) -> list[Any]:
    """The usage writes the sandbox Waldur received for one offering's resources."""
    (item,) = [item for item in stack.seeded if item.uuid == offering_uuid]
    return usage_writes_of(stack, item)


def test_deployment_runs_the_wheel_with_the_documented_extras_consistently_installed(
    deployment_virtualenv: Path,
) -> None:
    python = str(deployment_virtualenv / "bin" / "python")
    probe = (
        "import json, importlib.metadata as m, airflow_provider_cscs_dwdi as p; print(json.dumps({"
        "'module': p.__file__, 'versions': {name: m.version(name) for name in ('celery', "
        "'apache-airflow-providers-celery', 'apache-airflow-providers-amazon', 's3fs', 'redis')}}))"
    )

    checked = subprocess.run(
        [python, "-m", "pip", "check"], capture_output=True, text=True, timeout=120, check=False
    )
    installed = json.loads(
        subprocess.check_output([python, "-c", probe], text=True, timeout=120, cwd=deployment_virtualenv)
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The provider the deployment runs is the installed wheel, not this checkout.
    assert Path(installed["module"]).is_relative_to(deployment_virtualenv / "lib"), installed["module"]
    assert installed["versions"]["celery"].startswith("5.6."), installed
    constraints = (REPO_ROOT / "requirements/constraints.txt").read_text().lower().splitlines()
    for name, version in installed["versions"].items():
        assert f"{name}=={version}".lower() in constraints, (name, version)


def test_s3_archive_run_fetches_and_aggregates_on_different_hosts_and_lands_exact_totals(
    deployment: CeleryDeployment, scheduled_runs: ScheduledRuns
) -> None:
    airflow, stack = deployment.airflow, deployment.stack
    run = scheduled_runs.s3_run

    tis = airflow.task_instances(S3_DAILY, run["dag_run_id"])

    assert run["state"] == "success", {key: ti["state"] for key, ti in tis.items()}
    assert_succeeded_without_approval({key: ti["state"] for key, ti in tis.items()})
    fetch_hosts = {ti["hostname"] for key, ti in tis.items() if key.startswith("fetch_usage")}
    aggregate_hosts = {ti["hostname"] for key, ti in tis.items() if key.startswith("aggregate_usage")}
    assert (fetch_hosts, aggregate_hosts) == ({"worker-a"}, {"worker-b"})
    for month in scheduled_runs.months:
        assert_waldur_holds_dwdi_totals(stack, month)


def test_archive_objects_on_s3_match_the_checksums_the_fetch_recorded(
    deployment: CeleryDeployment, scheduled_runs: ScheduledRuns
) -> None:
    s3 = deployment.s3
    run_id = scheduled_runs.s3_run["dag_run_id"]

    listed = {
        item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="archive/").get("Contents", [])
    }
    archives = {key for key in listed if key.endswith(".jsonl.gz")}
    xcoms = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="xcom/").get("Contents", [])]

    assert sorted(archives) == sorted(
        # The fetch task's file name: the run id with every other character run as "_".
        f"archive/{S3_DAILY}/{month}/{re.sub(r'[^A-Za-z0-9_.-]+', '_', run_id)}.jsonl.gz"
        for month in scheduled_runs.months
    )
    # Next to each, the anomaly guard's record of the month's last push names that archive.
    markers = listed - archives
    assert sorted(markers) == sorted(
        f"archive/{S3_DAILY}/{month}/last_push.json" for month in scheduled_runs.months
    )
    for marker in markers:
        recorded = json.loads(s3.get_object(Bucket=BUCKET, Key=marker)["Body"].read())
        assert recorded[
            "archive"
        ] == f"s3://{S3_CONN_ID}@{BUCKET}/{marker.removesuffix('last_push.json')}" + (
            f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', run_id)}.jsonl.gz"
        )
    # Every fetch result (above the 100-byte threshold) went to the XCom store: read them there.
    fetch_results = []
    for key in xcoms:
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        with contextlib.suppress(OSError):
            body = gzip.decompress(body)
        document = json.loads(body)
        # The local-archive offering's fetch results are there too (file:// archives).
        if isinstance(document, dict) and str(document.get("archive", "")).startswith("s3://"):
            fetch_results.append(document)
    assert sorted(result["archive"] for result in fetch_results) == sorted(
        f"s3://{S3_CONN_ID}@{BUCKET}/{key}" for key in archives
    )
    for result in fetch_results:
        key = result["archive"].split(f"{BUCKET}/", 1)[1]
        stored = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert hashlib.sha256(stored).hexdigest() == result["archive_sha256"]
        assert len(stored) == result["archive_bytes"]
        assert result["host"] == "worker-a"


def test_default_local_archive_fails_the_aggregate_naming_both_hosts_and_writes_nothing(
    deployment: CeleryDeployment, scheduled_runs: ScheduledRuns
) -> None:
    airflow, stack = deployment.airflow, deployment.stack
    run = scheduled_runs.local_run

    tis = airflow.task_instances(LOCAL_DAILY, run["dag_run_id"])
    logs = deployment.workers["worker-b"].task_logs()

    assert run["state"] == "failed"
    states = {key: ti["state"] for key, ti in tis.items()}
    mapped = [f"[{index}]" for index in range(len(scheduled_runs.months))]
    assert {
        key: state for key, state in states.items() if key.startswith(("fetch", "aggregate", "push"))
    } == {
        **{f"fetch_usage{index}": "success" for index in mapped},
        **{f"aggregate_usage{index}": "failed" for index in mapped},
        "push_to_waldur": "upstream_failed",  # never expanded: no report to push
    }
    assert "written on host worker-a is not readable on host worker-b" in logs
    assert usage_writes(stack, LOCAL_OFFERING["offering_uuid"]) == []


def test_worker_killed_mid_push_is_retried_on_the_other_host_and_writes_exactly_the_month(
    deployment: CeleryDeployment, scheduled_runs: ScheduledRuns
) -> None:
    airflow, stack = deployment.airflow, deployment.stack
    month = previous_month(previous_month(scheduled_runs.months[0]))
    # The first usage write of the push waits in the sandbox Waldur: the worker dies mid-push.
    hold = stack.waldur.hold("POST", r"/set_usage/$")
    run_id = airflow.trigger(S3_DAILY, {"month": month})
    assert hold.arrived.wait(RUN_TIMEOUT), airflow.log_tails()

    pushing = airflow.task_instances(S3_DAILY, run_id)["push_to_waldur[0]"]
    assert pushing["state"] == "running"
    victim = deployment.workers[pushing["hostname"]]
    victim.kill_namespace()
    hold.release()  # the write the dead worker sent is committed, as a real server would
    (run,) = airflow.wait_for_runs(
        S3_DAILY, lambda run: run["dag_run_id"] == run_id, count=1, timeout=RUN_TIMEOUT
    )

    pushed = airflow.task_instances(S3_DAILY, run_id)["push_to_waldur[0]"]
    survivor = next(name for name in WORKERS if name != victim.hostname)
    assert run["state"] == "success", pushed
    assert (pushed["state"], pushed["try_number"], pushed["hostname"]) == ("success", 2, survivor)
    assert_waldur_holds_dwdi_totals(stack, month)
    assert stack.waldur.schema_violations == []


def test_secrets_stay_out_of_every_process_and_task_log(
    deployment: CeleryDeployment, scheduled_runs: ScheduledRuns
) -> None:
    airflow = deployment.airflow
    wait_for(
        "the runs of the module to finish",
        lambda: (
            True
            if all(
                run["state"] in ("success", "failed")
                for run in airflow.runs(S3_DAILY) + airflow.runs(LOCAL_DAILY)
            )
            else None
        ),
        timeout=RUN_TIMEOUT,
    )
    task_logs = "".join(
        worker.task_logs() for worker in deployment.workers.values() if worker.process.poll() is None
    )
    logs = airflow.all_log_text() + task_logs

    # The surviving worker's task logs are there, its retried push among them.
    assert "task_id=push_to_waldur" in task_logs
    assert "task_id=fetch_usage" in task_logs or "task_id=aggregate_usage" in task_logs
    for secret in (deployment.stack.client_secret, deployment.stack.waldur.staff_token, deployment.s3_secret):
        assert secret not in logs
