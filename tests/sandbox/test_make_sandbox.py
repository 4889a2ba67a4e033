"""``make sandbox``: starts, prints connections that work, shows what its Waldur holds, stops on Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from airflow_provider_cscs_dwdi.hooks.dwdi.hook import DWDIHook
from airflow_provider_cscs_dwdi.hooks.waldur.hook import WaldurHook

REPO_ROOT = Path(__file__).resolve().parents[2]


def read_until_ready(process: subprocess.Popen[str], timeout: float = 180) -> str:
    """What ``make sandbox`` printed up to its ready line (a thread reads, so no read blocks)."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if line.startswith("Sandbox ready."):
            return "".join(seen)
    with contextlib.suppress(ProcessLookupError):  # it may have exited by itself
        os.killpg(process.pid, signal.SIGKILL)  # started in a session of its own: the issuer too
    process.wait(timeout=30)
    raise AssertionError("make sandbox did not print 'Sandbox ready.':\n" + "".join(seen))


def exported(output: str) -> dict[str, str]:
    """The ``export NAME=value`` lines it printed, as a POSIX shell reads them."""
    values = {}
    for line in output.splitlines():
        if line.strip().startswith("export "):
            name, _, value = line.strip().removeprefix("export ").partition("=")
            values[name] = shlex.split(value)[0]
    return values


@pytest.mark.timeout(300)
def test_make_sandbox_prints_working_connections_and_stops_on_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    process = subprocess.Popen(
        ["make", "--no-print-directory", "sandbox"],
        cwd=REPO_ROOT,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    values: dict[str, str] = {}
    try:
        output = read_until_ready(process)
        values.update(exported(output))
        assert set(values) == {
            "SANDBOX_DWDI_CONN",
            "SANDBOX_WALDUR_CONN",
            "SANDBOX_WALDUR_URL",
            "SANDBOX_OFFERINGS",
        }
        assert Path(values["SANDBOX_OFFERINGS"]) == REPO_ROOT / "dags" / "cscs_dwdi_offerings.example.yaml"
        assert f"Offerings file: {values['SANDBOX_OFFERINGS']}" in output
        for name in ("SANDBOX_DWDI_CONN", "SANDBOX_WALDUR_CONN"):
            connection = json.loads(values[name])
            # Only loopback, and the port in the Port field too (the UI's Test button needs it).
            assert connection["host"].startswith("http://127.0.0.1:"), connection
            assert f":{connection['port']}" in connection["host"]

        # The printed connections work: a token from the issuer reaches DWDI; Waldur knows the token.
        monkeypatch.setenv("AIRFLOW_CONN_CSCS_DWDI_DEFAULT", values["SANDBOX_DWDI_CONN"])
        monkeypatch.setenv("AIRFLOW_CONN_WALDUR_DEFAULT", values["SANDBOX_WALDUR_CONN"])
        ok, message = DWDIHook().test_connection()
        assert ok, message
        waldur = WaldurHook()
        ok, message = waldur.test_connection()
        assert ok, message
        assert "staff" in message, message

        # The printed read command: nothing yet, then a total written through the API.
        read = re.search(r"python -m sandbox waldur --url (\S+)", output)
        assert read is not None
        assert read.group(1) == values["SANDBOX_WALDUR_URL"]
        command = [sys.executable, "-m", "sandbox", "waldur", "--url", read.group(1)]
        before = subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True
        )
        assert before.stdout.strip() == "the Waldur double holds no usage"
        daint = "0b8a5f3c-2d4e-4f61-9a7b-3c5d6e7f8a91"
        resource = next(iter(waldur.list_resources(daint)))
        waldur.set_usage(
            resource["uuid"],
            [{"type": "nodeHours", "amount": "12.34"}],
            usage_date="2026-11-15T12:00:00+00:00",
        )
        after = subprocess.run(
            [*command, "--month", "2026-11"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        lines = after.stdout.splitlines()
        assert lines[0].split() == ["offering", "month", "resource", "component", "user", "usage"]
        assert lines[1].split() == [
            "CSCS",
            "HPC",
            "Daint",
            "2026-11",
            resource["backend_id"],
            "nodeHours",
            "-",
            "12.34",
        ]
        assert len(lines) == 2
        waldur.close()
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches the whole group
        process.wait(timeout=60)
    # make itself reports the interrupt (status -2); what counts is that every service is gone.
    for name in ("SANDBOX_DWDI_CONN", "SANDBOX_WALDUR_CONN"):
        port = json.loads(values[name])["port"]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.timeout(300)
def test_ctrl_c_stops_a_sandbox_started_in_the_background_of_a_script() -> None:
    # `make sandbox &` in a non-interactive shell starts it with SIGINT ignored.
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=_ignore_sigint,
    )
    try:
        read_until_ready(process)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
