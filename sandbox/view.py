"""`make view`: the demo's pipeline, then Airflow's api-server on loopback with the billing view.

1. runs ``python -m sandbox.demo`` (its Airflow home ``.demo/airflow`` keeps the DAG runs and XComs);
2. starts ``airflow api-server`` on 127.0.0.1 against that database, signing in through the
   SimpleAuthManager with a user ``admin`` whose password is made for this run;
3. prints the view's URL and the credentials and keeps serving until Ctrl-C.

:class:`ViewServer` is also what the browser test starts (tests/view/test_view_browser.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import requests

REPO = Path(__file__).resolve().parents[1]
VIEW_PATH = "/cscs-dwdi-billing/"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ViewServer:
    """``airflow api-server`` on loopback reading an existing metadata database.

    :param home: the AIRFLOW_HOME whose database the pipeline wrote (also holds the log and the
        passwords file).
    :param database_url: that database.
    :param users: ``{username: (role, password)}`` for the SimpleAuthManager (or a subclass).
    :param auth_manager: the auth manager class path.
    :param environment: more variables for the server process.
    :param python_path: folders the server imports from besides the virtualenv (e.g. a test's auth
        manager). Not the repository root: a build's ``*.egg-info`` there would make Airflow find
        the provider's plugin entry point twice and report the second as a plugin import error.
    """

    def __init__(
        self,
        home: Path,
        *,
        database_url: str,
        users: Mapping[str, tuple[str, str]],
        auth_manager: str = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        environment: Mapping[str, str] | None = None,
        python_path: Sequence[Path] = (),
    ) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "view-api-server.log"
        passwords = home / "view-passwords.json"
        passwords.write_text(json.dumps({name: password for name, (_, password) in users.items()}))
        passwords.chmod(0o600)
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
        self.env = {
            **inherited,
            "PYTHONPATH": os.pathsep.join(str(folder) for folder in python_path),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": auth_manager,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{name}:{role}" for name, (role, _) in users.items()
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(64),
            "AIRFLOW__API__BASE_URL": self.url,
            **(environment or {}),
        }
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ViewServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, timeout: float = 240) -> None:
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.home,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the api-server exited early:\n{self.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).ok:
                    return
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"the api-server was not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        # Its own process group: the gunicorn/uvicorn worker it forked ends with it.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait(self) -> int:
        assert self._process is not None
        return self._process.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="The demo's pipeline, then the billing view in Airflow's UI."
    )
    parser.add_argument("--home", default=str(REPO / ".demo" / "airflow"), help="the demo's AIRFLOW_HOME")
    parser.add_argument("--skip-demo", action="store_true", help="serve what the last demo left")
    args = parser.parse_args(argv)
    home = Path(args.home).resolve()
    if not args.skip_demo:
        demo = subprocess.run(
            [sys.executable, "-m", "sandbox.demo", "--home", str(home)], cwd=REPO, check=False
        )
        if demo.returncode != 0:
            print("make view: the demo failed; nothing to show.", file=sys.stderr)
            return demo.returncode
    password = secrets.token_urlsafe(12)
    server = ViewServer(
        home, database_url=f"sqlite:///{home / 'airflow.db'}", users={"admin": ("admin", password)}
    )
    # A terminated `make view` stops its api-server too (it runs in its own session).
    signal.signal(signal.SIGTERM, _interrupt)
    # A shell starting `make view &` from a script hands it SIGINT ignored; Ctrl-C must still stop it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print("\nStarting Airflow's api-server on loopback with the billing view ...", flush=True)
    with server:
        print(
            f"\n  Billing view:  {server.url}{VIEW_PATH}\n"
            f"  Airflow UI:    {server.url}/  (Browse > Billing)\n"
            f"  Sign in as:    admin / {password}\n"
            f"  Server log:    {server.log_path}\n\nCtrl-C stops it.",
            flush=True,
        )
        try:
            return server.wait()
        except KeyboardInterrupt:
            print("\nStopping the api-server.")
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
