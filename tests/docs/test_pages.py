"""The documentation's commands run as written: installation, bare metal, backfills, operations,
audit and migration, in that order, as one reader would follow them.

The reader has a home directory of their own (a temp dir holding the source checkout as
``airflow-provider-cscs-dwdi``), ``make sandbox`` running (the same ``python -m sandbox``, whose
printed ``export`` lines are pasted into each page's shell), and a PostgreSQL database
(``DB_URL``; the page creates it with root rights CI does not use). Each page runs in one new
shell session (see :mod:`tests.docs.pages`); the pages after the bare-metal one start where a
reader's login shell would: the virtualenv active and ``~/airflow/airflow.env`` loaded, with the
Airflow components the bare-metal page started still running. Every block must exit 0; a few
claims the pages make about the output are checked on the session's transcript.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from tests.docs.pages import ILLUSTRATIVE, SYBIL, BlockFailed, ShellSession, run_page, stop_groups
from tests.fixtures.postgres import PostgresServer, free_port
from tests.sandbox.test_make_sandbox import read_until_ready

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs"
#: The tested pages, in the order a reader follows them.
PAGES = ["installation.md", "bare-metal.md", "backfills.md", "operations.md", "audit.md", "migration.md"]
#: What a reader's login shell does once the bare-metal page is done.
LOGIN = '. ~/airflow-venv/bin/activate\nset -a; . ~/airflow/airflow.env; set +a\nexport AIRFLOW_URL="http://127.0.0.1:$AIRFLOW__API__PORT"\n'
_NOT_THE_READERS = (
    "AIRFLOW_HOME",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "CSCS_DWDI_CONFIG",
    "CSCS_DWDI_TEST_AIRFLOW_HOME",
)

# The installation page builds the wheel in the checkout, as the packaging and Celery tests do.
pytestmark = [pytest.mark.deployment, pytest.mark.xdist_group("builds_in_the_checkout")]


def start_sandbox(env_file: Path) -> subprocess.Popen[str]:
    """``make sandbox``'s command; returns once it printed that it is ready."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--env-file", str(env_file)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    read_until_ready(process)
    return process


def stop(process: subprocess.Popen[str]) -> None:
    """Ctrl-C, as the reader stops it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class Reader:
    """The reader's home, environment and open shells."""

    def __init__(self, home: Path, environment: dict[str, str], pasted: str) -> None:
        self.home = home
        self.environment = environment
        self.pasted = pasted
        self.sessions: list[ShellSession] = []
        self.transcripts: dict[str, str] = {}
        self.failed: str | None = None

    def session(self, page: str, preamble: str) -> ShellSession:
        session = ShellSession(self.home, self.environment, name=page, preamble=self.pasted + preamble)
        self.sessions.append(session)
        return session


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> Iterator[Reader]:
    home = tmp_path_factory.mktemp("reader-home")
    (home / "airflow-provider-cscs-dwdi").symlink_to(REPO_ROOT)
    env_file = home / ".sandbox-exports"
    sandbox = start_sandbox(env_file)
    venv_bin = str(Path(sys.executable).parent)
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AIRFLOW") and name not in _NOT_THE_READERS
    }
    environment.update(
        HOME=str(home),
        PATH=os.pathsep.join(part for part in os.environ["PATH"].split(os.pathsep) if part != venv_bin),
        DB_URL=postgres_server.create_database("docs_reader"),
        AIRFLOW_PORT=str(free_port()),
        # Not on the page (its default, 8793, is fine on a host of its own): a free port here.
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
    )
    # The machine's pip set-up (its index and cache) stays the reader's with the new HOME.
    real_home = Path.home()
    user_pip_conf = [
        path for path in (real_home / ".config/pip/pip.conf", real_home / ".pip/pip.conf") if path.is_file()
    ]
    if user_pip_conf and "PIP_CONFIG_FILE" not in environment:
        environment["PIP_CONFIG_FILE"] = str(user_pip_conf[0])
    environment.setdefault("PIP_CACHE_DIR", str(real_home / ".cache" / "pip"))
    reader = Reader(home, environment, env_file.read_text())
    try:
        yield reader
    finally:
        for session in reader.sessions:
            session.close()
        stop_groups(reader.sessions)
        stop(sandbox)


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("page", PAGES)
def test_the_page_runs_as_written(page: str, reader: Reader) -> None:
    if reader.failed is not None:
        pytest.fail(f"not run: {reader.failed} failed before it (the pages build on each other)")
    preamble = "" if page in ("installation.md", "bare-metal.md") else LOGIN
    session = reader.session(page, preamble)
    try:
        ran = run_page(DOCS / page, session)
    except BlockFailed:
        reader.failed = page
        raise
    finally:
        reader.transcripts[page] = "\n".join(session.transcript)
        session.close()
    assert ran > 0, f"{page}: no block ran"
    transcript = reader.transcripts[page]
    if page == "installation.md":
        assert "No data found" in transcript
    if page == "audit.md":
        # The wait ends with the run's state, then prints its audit_waldur XCom.
        assert re.search(r"^audit run \S+: success$", transcript, re.MULTILINE), transcript[-4000:]
    if page == "bare-metal.md":
        # What the connection pages say the CLI prints.
        assert transcript.count("Connection success!") == 2, transcript[-4000:]
        # The daily run, the triggered run, the three months closed and the clean audit.
        assert re.search(r"cscs_dwdi_usage_cscs_hpc_daint scheduled__\S+: success", transcript)
        assert len(re.findall(r"cscs_dwdi_close_cscs_hpc_daint manual__\S+: success", transcript)) == 3
        # Each close closed the month asked for, as its log says: three consecutive ended months.
        closed = re.findall(
            r"^Closing (\d{4})-(\d{2}): asked for in the trigger form \(month\)$", transcript, re.MULTILINE
        )
        ordinals = sorted({int(year) * 12 + int(month) for year, month in closed})
        assert len(ordinals) == 3, closed
        assert ordinals == list(range(ordinals[0], ordinals[0] + 3)), closed
        now = datetime.now(ZoneInfo("Europe/Zurich"))
        assert ordinals[-1] < now.year * 12 + now.month, closed
        assert re.search(r"cscs_dwdi_audit_cscs_hpc_daint \S+: success", transcript), transcript[-4000:]


@pytest.mark.timeout(600)
def test_a_wrong_dag_id_or_flag_in_a_page_fails(reader: Reader, tmp_path: Path) -> None:
    """A page whose DAG id or flag no longer exists fails: what CI does with a stale page."""
    if reader.failed is not None or "operations.md" not in reader.transcripts:
        pytest.fail("needs the deployment the pages above set up")
    original = (DOCS / "operations.md").read_text()
    for broken in (
        original.replace("cscs_dwdi_usage_cscs_hpc_daint", "cscs_dwdi_usage_no_such_offering"),
        original.replace("--conf", "--config"),
    ):
        assert broken != original
        page = tmp_path / "operations.md"
        page.write_text(broken)
        with pytest.raises(BlockFailed, match=r"failed \(exit status"):
            run_page(page, reader.session("broken-operations.md", LOGIN))


# ---------------------------------------------------------------- without Airflow


class _FakeAirflowApi(BaseHTTPRequestHandler):
    """Answers the REST calls of the bare-metal page's wait helpers for three DAGs."""

    DAGS: ClassVar[dict[str, dict[str, object]]] = {
        # The page's own call at the end of the block: an unpaused DAG with a finished run.
        "cscs_dwdi_usage_cscs_hpc_daint": {"is_paused": False, "runs": {"scheduled__1": "success"}},
        "paused_dag": {"is_paused": True, "runs": {"manual__1": "queued"}},
        # What a typo in the audit page's unpause line leaves: the DAG paused, the triggered run queued.
        "cscs_dwdi_audit_cscs_hpc_daint": {"is_paused": True, "runs": {"manual__2": "queued"}},
    }

    def do_GET(self) -> None:
        parts = urlsplit(self.path).path.removeprefix("/api/v2/dags/").split("/")
        dag = self.DAGS.get(parts[0])
        runs: dict[str, str] = dag["runs"] if dag else {}  # type: ignore[assignment]
        if dag is None:
            body: object = None
        elif len(parts) == 1:
            body = {"dag_id": parts[0], "is_paused": dag["is_paused"]}
        elif len(parts) == 2:
            body = {"dag_runs": [{"dag_run_id": run_id} for run_id in runs]}
        else:
            body = {"state": runs[parts[2]]} if parts[2] in runs else None
        data = json.dumps(body if body is not None else {"detail": "Not Found"}).encode()
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_api_shell(tmp_path: Path) -> Iterator[ShellSession]:
    """A page's shell (its python on PATH, ``AIRFLOW_URL`` and ``TOKEN`` set) against the fake API."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeAirflowApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    environment = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),  # the page's python
        "AIRFLOW_URL": f"http://127.0.0.1:{server.server_port}",
        "TOKEN": "t",
    }
    session = ShellSession(tmp_path, environment, block_timeout=30)
    try:
        yield session
    finally:
        session.close()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ('wait_for_run no_such_dag "$(first_run no_such_dag)"', "no_such_dag: Airflow shows no such DAG"),
        ('wait_for_run paused_dag "$(first_run paused_dag)"', "paused_dag is paused: it gets no run"),
        ("wait_for_run paused_dag manual__1", "paused_dag is paused: it gets no run"),
    ],
)
def test_the_wait_helpers_stop_at_once_for_an_unknown_or_paused_dag(
    command: str, says: str, fake_api_shell: ShellSession
) -> None:
    """A DAG id changed in an ``airflow dags unpause`` line (which exits 0 for an unknown id) fails
    the next block at once instead of leaving it polling until the block timeout."""
    (helpers,) = [
        example.parsed
        for example in SYBIL.parse(DOCS / "bare-metal.md").examples()
        if "first_run() {" in str(example.parsed)
    ]
    session = fake_api_shell
    # The page's block as written: defines the helpers and waits for the daily DAG's first run.
    assert "cscs_dwdi_usage_cscs_hpc_daint scheduled__1: success" in session.run(helpers, label="helpers")
    with pytest.raises(BlockFailed, match=r"failed \(exit status") as failure:
        session.run(command, label="wait")
    assert says in str(failure.value)


def test_the_audit_pages_wait_stops_at_once_for_a_paused_dag(fake_api_shell: ShellSession) -> None:
    """The audit page's wait for its XCom fails at once when the DAG is still paused, instead of
    polling a run that stays queued until the block timeout."""
    (wait,) = [
        example.parsed
        for example in SYBIL.parse(DOCS / "audit.md").examples()
        if "xcomEntries/return_value" in str(example.parsed)
    ]
    with pytest.raises(BlockFailed, match=r"failed \(exit status") as failure:
        fake_api_shell.run(f"RUN_ID=manual__2\n{wait}", label="audit wait")
    assert "the DAG is paused: its runs wait" in str(failure.value)


def test_the_evaluator_fails_on_a_failing_command_and_skips_only_marked_blocks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n```bash\nexport GREETING=hello\ncd /\n```\n\n"
        f"*{ILLUSTRATIVE}, not run:*\n<!-- skip: next -->\n```bash\nexit 3\n```\n\n"
        '```python\nimport os, pathlib\nprint(os.environ["GREETING"], pathlib.Path.cwd())\n```\n\n'
        "```bash\nfalse | true\necho unreachable\n```\n"
    )
    session = ShellSession(tmp_path, dict(os.environ))
    try:
        with pytest.raises(BlockFailed, match=r"page\.md line 19 failed") as failure:
            run_page(page, session)
    finally:
        session.close()
    # The exported variable and the cd reached the python block; `false | true` failed (pipefail).
    assert "hello /" in "\n".join(session.transcript)
    assert "unreachable" not in str(failure.value).split("--- output ---")[1]


@pytest.mark.parametrize("page", PAGES)
def test_every_block_not_run_is_marked_visibly(page: str) -> None:
    """A skip marker is invisible on the rendered page: the line above it must say why."""
    text = (DOCS / page).read_text()
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if re.match(r"\s*<!--+\s*skip:", line):
            assert lines[number - 1].lstrip().startswith(f"*{ILLUSTRATIVE}"), f"{page}:{number + 1}"
    # Every bash/python block is either run or marked: nothing unmarked can be left out.
    document = SYBIL.parse(DOCS / page)
    assert [example for example in document.examples()], page


def test_shell_blocks_are_tagged_so_they_run() -> None:
    """An untagged fence holding commands, or a shell fence Sybil is not told about (``sh``,
    ``console``...), would silently escape the test."""
    for page in PAGES:
        languages = set(re.findall(r"^[ \t]*```+[ \t]*\{?([\w-]+)", (DOCS / page).read_text(), re.MULTILINE))
        assert languages <= {"bash", "python", "text", "json", "yaml"}, f"{page}: {sorted(languages)}"
        for match in re.finditer(r"^```\s*\n(.*?)^```", (DOCS / page).read_text(), re.MULTILINE | re.DOTALL):
            assert not re.match(r"\s*(airflow|curl|pip|python|cscs-dwdi-migrate|sh) ", match.group(1)), (
                f"{page}: an untagged block holds commands; tag it ```bash\n{match.group(1)}"
            )
