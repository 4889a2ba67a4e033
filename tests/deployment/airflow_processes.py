"""Real Airflow processes for the deployment tests: api-server, scheduler, dag-processor (and triggerer).

:class:`AirflowDeployment` runs them as a deployment would (LocalExecutor by default, a PostgreSQL
metadata DB, the repository's dags/ folder, connections as ``AIRFLOW_CONN_*`` variables), each
logging to its own file, and talks to them only through the REST API v2 and the ``airflow`` CLI.
Nothing of the test process's own Airflow set-up (SQLite home, unit-test mode) leaks into them.
More processes (Celery workers) join with :meth:`AirflowDeployment.start_process`.
Human-in-the-loop requests (the anomaly guard's ``approve_held_values``) are found through the REST
API's ``hitlDetails`` endpoints; the tests answer them with the curl commands of docs/anomaly-guard.md.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import requests

from tests.fixtures.postgres import free_port

AIRFLOW_CLI = str(Path(sys.executable).with_name("airflow"))
REPO_ROOT = Path(__file__).resolve().parents[2]
FINISHED_RUN_STATES = frozenset({"success", "failed"})
# What the test process set for its own in-process Airflow; the deployment must not inherit it.
_TEST_PROCESS_ONLY = ("AIRFLOW_HOME", "CSCS_DWDI_TEST_AIRFLOW_HOME", "CSCS_DWDI_CONFIG")
_Result = TypeVar("_Result")


class DeploymentError(RuntimeError):
    """A process died, did not become ready in time, or answered unexpectedly."""


def wait_for(
    what: str, probe: Callable[[], _Result | None], *, timeout: float, interval: float = 1.0
) -> _Result:
    """Call ``probe`` until it returns something other than None; DeploymentError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise DeploymentError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class AirflowDeployment:
    """Airflow 3 on this machine, as separate processes sharing one metadata database.

    :param root: an empty directory for AIRFLOW_HOME and the process logs.
    :param database_url: SQLAlchemy URL of the metadata DB (PostgreSQL: backfills need it).
    :param environment: extra variables for every process (connections, ``CSCS_DWDI_CONFIG``).
    :param airflow_cli: the ``airflow`` executable (default: this virtualenv's, with the provider
        from the repository; another virtualenv's runs the provider installed there).
    :param repository_on_path: put the repository on ``PYTHONPATH`` (off when the provider must
        come from what ``airflow_cli``'s virtualenv installed).
    """

    def __init__(
        self,
        root: Path,
        *,
        database_url: str,
        environment: Mapping[str, str],
        airflow_cli: str = AIRFLOW_CLI,
        repository_on_path: bool = True,
    ) -> None:
        self.root = root
        self.airflow_cli = airflow_cli
        self._repository_on_path = repository_on_path
        self.home = root / "airflow-home"
        self.log_dir = root / "process-logs"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._database_url = database_url
        self._extra_environment = dict(environment)
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        # Started with watched=False: allowed to die (a worker the test kills).
        self._unwatched: set[str] = set()
        self._session = requests.Session()
        self._token: str | None = None
        self._env = self.environment()

    # ------------------------------------------------------------------ processes

    def environment(self) -> dict[str, str]:
        """The environment every Airflow process of this deployment runs with."""
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AIRFLOW__", "AIRFLOW_CONN_")) and name not in _TEST_PROCESS_ONLY
        }
        return {
            **inherited,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # Two cores are shared with other work: a few task processes at a time is plenty.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self._database_url,
            # psycopg 3 serves the async engine too (Airflow would otherwise look for asyncpg).
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": self._database_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            # Workers reach the execution API here; its default assumes port 8080.
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # Shared by the api-server (which signs task tokens) and the scheduler's workers.
            # 64 bytes: shorter HMAC keys make every token signature warn.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(64),
            # The scheduler serves task logs; its fixed default port would clash with another Airflow.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "PYTHONPATH": os.pathsep.join(
                filter(
                    None, [str(REPO_ROOT) if self._repository_on_path else "", os.environ.get("PYTHONPATH")]
                )
            ),
            **self._extra_environment,
        }

    def run_cli(self, *arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``airflow <arguments>`` against this deployment's DB; DeploymentError when it fails."""
        result = subprocess.run(
            [self.airflow_cli, *arguments],
            env=self._env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise DeploymentError(
                f"airflow {' '.join(arguments)} failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def start(self, *, triggerer: bool = False) -> AirflowDeployment:
        """Migrate the metadata DB, then start the api-server, the scheduler and the dag-processor.

        :param triggerer: also start a triggerer, as the deployments of docs/deployment.md run one
            (on Airflow 3.3 a human-in-the-loop task waits without it; the test shows it is harmless).
        """
        self.home.mkdir(parents=True)
        self.log_dir.mkdir(parents=True)
        self.run_cli("db", "migrate")
        components = [
            ("api-server", ["api-server", "--port", str(self.port), "--host", "127.0.0.1"]),
            ("scheduler", ["scheduler"]),
            ("dag-processor", ["dag-processor"]),
        ]
        if triggerer:
            components.append(("triggerer", ["triggerer"]))
        for name, command in components:
            self.start_process(name, [self.airflow_cli, *command])
        return self

    def start_process(
        self,
        name: str,
        command: list[str],
        *,
        environment: Mapping[str, str] | None = None,
        watched: bool = True,
    ) -> subprocess.Popen[bytes]:
        """Start one more process of the deployment, logging to ``process-logs/<name>.log``.

        :param command: the full command line (e.g. ``[deployment.airflow_cli, "celery", "worker"]``).
        :param environment: variables that replace the deployment's own for this process.
        :param watched: a watched process that exits fails every later wait; a test that kills a
            process on purpose starts it unwatched.
        """
        with (self.log_dir / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                command,
                env={**self._env, **(environment or {})},
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own process group, so stop() also ends the task processes it forked.
                start_new_session=True,
            )
        self._processes[name] = process
        if not watched:
            self._unwatched.add(name)
        return process

    def _check_alive(self) -> None:
        for name, process in self._processes.items():
            if name not in self._unwatched and process.poll() is not None:
                raise DeploymentError(f"airflow {name} exited with {process.returncode}")

    def wait_until_ready(self, dag_ids: Iterable[str], *, timeout: float = 240) -> None:
        """Wait until every process reports healthy and the dag-processor has serialized ``dag_ids``."""

        def healthy() -> bool | None:
            self._check_alive()
            try:
                health = self._session.get(f"{self.base_url}/api/v2/monitor/health", timeout=10).json()
            except (requests.RequestException, ValueError):
                return None
            parts: tuple[str, ...] = ("metadatabase", "scheduler", "dag_processor")
            if "triggerer" in self._processes:
                parts = (*parts, "triggerer")
            return (
                True if all((health.get(part) or {}).get("status") == "healthy" for part in parts) else None
            )

        wait_for(
            f"the api-server and {', '.join(sorted(self._processes))} to be healthy", healthy, timeout=timeout
        )
        for dag_id in dag_ids:

            def registered(dag_id: str = dag_id) -> bool | None:
                self._check_alive()
                return True if self.api("GET", f"/api/v2/dags/{dag_id}", expect=None).ok else None

            wait_for(f"DAG {dag_id} to be serialized", registered, timeout=timeout)

    def stop(self) -> None:
        """SIGTERM every process group, then SIGKILL what is left after 8 s.

        Nothing of the deployment outlives the test, so a dag-processor that is busy parsing when
        asked to stop is not waited for longer.
        """
        for process in self._processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 8
        for process in self._processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Also ends task processes the process left behind in its group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        self._session.close()

    def log_tails(self, lines: int = 40) -> str:
        """The end of every process log, for the message of a failing test."""
        parts = []
        for log in sorted(self.log_dir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"----- {log.name} (last {len(tail)} lines) -----\n" + "\n".join(tail))
        return "\n".join(parts)

    def all_log_text(self) -> str:
        """Every process log and every task log of the deployment, concatenated."""
        files = [*self.log_dir.glob("*.log"), *(self.home / "logs").rglob("*")]
        return "\n".join(path.read_text(errors="replace") for path in files if path.is_file())

    # ------------------------------------------------------------------ REST API v2

    def token(self) -> str:
        """An all-admins bearer token of the REST API (what ``POST /auth/token`` gives a user)."""
        if self._token is None:
            reply = self._session.get(f"{self.base_url}/auth/token", timeout=30)
            reply.raise_for_status()
            self._token = str(reply.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, *, expect: int | None = 200, **kwargs: Any) -> requests.Response:
        """One REST call with an all-admins token; DeploymentError when the status is not ``expect``."""
        reply = self._session.request(
            method,
            f"{self.base_url}{path}",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=30,
            **kwargs,
        )
        if expect is not None and reply.status_code != expect:
            raise DeploymentError(f"{method} {path}: {reply.status_code} {reply.text[:2000]}")
        return reply

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: Mapping[str, Any]) -> str:
        """A manual run without a logical date (as a UI trigger with the date cleared); its run id."""
        reply = self.api(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", expect=200, json={"logical_date": None, "conf": conf}
        )
        return str(reply.json()["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of ``dag_id``, oldest logical date (or run_after) first."""
        reply = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100})
        return sorted(reply.json()["dag_runs"], key=lambda run: run.get("logical_date") or run["run_after"])

    def wait_for_runs(
        self, dag_id: str, select: Callable[[dict[str, Any]], bool], *, count: int, timeout: float
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` runs matching ``select`` exist and have finished; returns them."""

        def finished() -> list[dict[str, Any]] | None:
            self._check_alive()
            chosen = [run for run in self.runs(dag_id) if select(run)]
            done = len(chosen) == count and all(run["state"] in FINISHED_RUN_STATES for run in chosen)
            return chosen if done else None

        return wait_for(f"{count} finished run(s) of {dag_id}", finished, timeout=timeout, interval=2)

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """``{task_id[map_index]: task instance}`` of one run, as the REST API shows them."""
        reply = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {
            ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]": ti
            for ti in reply.json()["task_instances"]
        }

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """``{task_id[map_index]: state}`` of one run."""
        return {key: str(ti["state"]) for key, ti in self.task_instances(dag_id, run_id).items()}

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        """The ``return_value`` a task pushed, read back through the REST API."""
        reply = self.api(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"map_index": map_index},
        )
        return reply.json()["value"]

    # ------------------------------------------------------------------ human in the loop

    def hitl_detail(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> dict[str, Any] | None:
        """The human-in-the-loop request of one task instance, or None while it has made none."""
        reply = self.api(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails",
            expect=None,
        )
        if reply.status_code == 404:
            return None
        if reply.status_code != 200:
            raise DeploymentError(
                f"hitlDetails of {dag_id}/{run_id}/{task_id}: {reply.status_code} {reply.text}"
            )
        return dict(reply.json())

    def pending_hitl_details(self, dag_id: str) -> list[dict[str, Any]]:
        """Every unanswered request of ``dag_id``'s runs: what the UI's *Required actions* lists."""
        reply = self.api(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/~/hitlDetails",
            params={"response_received": "false", "limit": 100},
        )
        return list(reply.json()["hitl_details"])

    def wait_for_hitl_request(
        self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1, timeout: float
    ) -> dict[str, Any]:
        """Wait until the task instance waits for a person (``awaiting_input``); its request.

        Returns only once the scheduler has also seen the parked task's process exit. Airflow 3.3.2
        (LocalExecutor) fails a request answered before that: the answer queues the same try again,
        the late exit event of the parked process then drops it from the executor's running tasks,
        and the scheduler takes the queued try for one killed externally.
        """
        parked = f"TaskInstance Finished: dag_id={dag_id}, task_id={task_id}, run_id={run_id}, map_index={map_index},"

        def waiting() -> dict[str, Any] | None:
            self._check_alive()
            key = task_id if map_index < 0 else f"{task_id}[{map_index}]"
            state = self.task_states(dag_id, run_id).get(key)
            if state in ("failed", "upstream_failed", "skipped", "success"):
                raise DeploymentError(
                    f"{dag_id}/{run_id}/{task_id} finished ({state}) without asking a person"
                )
            detail = self.hitl_detail(dag_id, run_id, task_id, map_index)
            if detail is None or state != "awaiting_input":
                return None
            scheduler_log = (self.log_dir / "scheduler.log").read_text(errors="replace")
            seen = any(
                parked in line and "state=awaiting_input" in line for line in scheduler_log.splitlines()
            )
            return detail if seen else None

        return wait_for(f"{task_id} of {run_id} to wait for a person", waiting, timeout=timeout, interval=2)
