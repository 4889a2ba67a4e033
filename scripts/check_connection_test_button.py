#!/usr/bin/env python
"""Click the Airflow UI's connection "Test" button in headless Chromium, for both connection types.

What it proves, end to end on the installed Airflow: the provider's connection form shows a Port
field, a connection that stores its port passes the api-server's "same host and port" check and
the hook's ``test_connection()`` reaches the sandbox (real OIDC issuer, DWDI and Waldur doubles),
whether the port is written in the host URL or only in the Port field; a wrong secret shows a
failure message that does not contain the secret; and what the button does for a connection saved
without a port (Airflow 3.3.2 answers 400, see docs/connections/index.md, "The Test button").

It starts, all on loopback and torn down at the end:

- a throw-away Airflow (AIRFLOW_HOME in a temp dir, SQLite, ``airflow db migrate``, ``airflow
  api-server`` on a free port, simple auth manager in all-admins mode, ``test_connection = Enabled``)
  that imports the provider from this checkout (checked, not assumed);
- ``sandbox.stack.SandboxStack``, so the Test has something real to talk to.

It creates the connections through the REST API with the body the UI's form sends (empty fields
left out), adds one more through the "Add Connection" form itself, opens the connection list in
Chromium, clicks Test on every row, reads the toast the UI shows, and saves screenshots. It also
types the missing port into the edit dialog of the portless ones (recording whether that dialog
has a Test button of its own: Airflow 3.3.2's has none) and tests them again.
Exit status 0 only when every expectation held.

Needs: Debian's ``chromium`` (``apt-get install chromium``) and ``pip install -e '.[browser]'``
(Playwright's Python package; no ``playwright install``, the Debian browser is used). CI runs it
(``tests/browser/test_forms_in_chromium.py``).

    .venv/bin/python scripts/check_connection_test_button.py [--screenshots DIR] [--chromium PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # the sandbox package and this checkout's provider

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROUTE_400 = "The host or port to test differs from the stored connection"
TOAST_TITLES = ("Test Connection Successful", "Test Connection Failed")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Case:
    """One saved connection and what its Test button must show.

    ``expect`` is "success", "failure" or "route-400-or-success" (a connection without a port:
    Airflow 3.3.2's route refuses it; an Airflow that accepts the UI's port 0 must then succeed).
    """

    conn_id: str
    body: dict[str, Any]
    expect: str
    why: str
    secret: str | None = None  # must not appear in what the UI shows


@dataclass
class Observed:
    """What the UI showed after a Test click, and what the api-server answered it."""

    conn_id: str
    title: str
    message: str
    http_status: int
    http_detail: str
    screenshot: Path


def form_body(conn_id: str, conn_type: str, **fields: Any) -> dict[str, Any]:
    """The POST body the "Add Connection" form sends: empty fields left out, extra as JSON text."""
    body: dict[str, Any] = {"connection_id": conn_id, "conn_type": conn_type}
    for key, value in fields.items():
        if value in (None, "", {}):
            continue
        body[key] = json.dumps(value) if key == "extra" else value
    return body


class AirflowApiServer:
    """A throw-away Airflow api-server on loopback that imports the provider from this checkout."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "api-server.log"
        self._process: subprocess.Popen[bytes] | None = None
        dags = home / "dags"
        dags.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            # First on the path, so the api-server runs this checkout, not the editable install.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            # Every request is an admin: acceptable only because it listens on 127.0.0.1 and
            # lives for the length of this script.
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
            "AIRFLOW__API__BASE_URL": self.url,
        }

    def provider_module_file(self) -> str:
        """Where the api-server's Python imports the provider from."""
        probe = "import airflow_provider_cscs_dwdi as m; print(m.__file__)"
        done = subprocess.run(
            [sys.executable, "-c", probe], env=self.env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def start(self) -> None:
        say(f"airflow: AIRFLOW_HOME={self.home}; airflow db migrate ...")
        subprocess.run([AIRFLOW, "db", "migrate"], env=self.env, capture_output=True, check=True, timeout=600)
        say(f"airflow: api-server on {self.url} (log {self.log_path}) ...")
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the api-server exited early; see {self.log_path}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).ok:
                    say("airflow: api-server healthy")
                    return
            time.sleep(1)
        raise RuntimeError(f"the api-server did not become healthy in 180 s; see {self.log_path}")

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    def create_connection(self, body: dict[str, Any]) -> None:
        response = requests.post(f"{self.url}/api/v2/connections", json=body, timeout=30)
        if response.status_code != 201:
            raise RuntimeError(f"creating {body['connection_id']}: HTTP {response.status_code}")

    def stored(self, conn_id: str) -> dict[str, Any]:
        response = requests.get(f"{self.url}/api/v2/connections/{conn_id}", timeout=30)
        response.raise_for_status()
        return dict(response.json())


def build_cases(stack: Any) -> list[Case]:
    """The connections to test: both types, port in the URL or only in the Port field, no port, wrong secret."""
    dwdi_port = int(stack.dwdi_url.rsplit(":", 1)[1])
    waldur_port = int(stack.waldur.url.rsplit(":", 1)[1])
    dwdi = stack.dwdi_connection()
    waldur = stack.waldur_connection()
    dwdi_fields = {"login": dwdi["login"], "password": dwdi["password"], "extra": dwdi["extra"]}
    waldur_fields = {"password": waldur["password"], "extra": waldur["extra"]}
    wrong_secret = secrets.token_urlsafe(18)
    wrong_token = secrets.token_hex(20)
    return [
        Case(
            "dwdi_port_in_url",
            form_body("dwdi_port_in_url", "cscs_dwdi", host=stack.dwdi_url, port=dwdi_port, **dwdi_fields),
            "success",
            "DWDI, port in the host URL and in the Port field",
        ),
        Case(
            "dwdi_port_field",
            form_body("dwdi_port_field", "cscs_dwdi", host="http://127.0.0.1", port=dwdi_port, **dwdi_fields),
            "success",
            "DWDI, host URL without a port, port only in the Port field",
        ),
        Case(
            "waldur_port_in_url",
            form_body("waldur_port_in_url", "waldur", host=waldur["host"], port=waldur_port, **waldur_fields),
            "success",
            "Waldur, port in the host URL and in the Port field",
        ),
        Case(
            "waldur_port_field",
            form_body(
                "waldur_port_field", "waldur", host="http://127.0.0.1/api/", port=waldur_port, **waldur_fields
            ),
            "success",
            "Waldur, host URL without a port, port only in the Port field",
        ),
        Case(
            "dwdi_no_port",
            form_body("dwdi_no_port", "cscs_dwdi", host=stack.dwdi_url, **dwdi_fields),
            "route-400-or-success",
            "DWDI saved without a port (port only in the host URL)",
        ),
        Case(
            "waldur_no_port",
            form_body("waldur_no_port", "waldur", host=waldur["host"], **waldur_fields),
            "route-400-or-success",
            "Waldur saved without a port (port only in the host URL)",
        ),
        Case(
            "dwdi_wrong_secret",
            form_body(
                "dwdi_wrong_secret",
                "cscs_dwdi",
                host=stack.dwdi_url,
                port=dwdi_port,
                **{**dwdi_fields, "password": wrong_secret},
            ),
            "failure",
            "DWDI with a wrong client secret",
            secret=wrong_secret,
        ),
        Case(
            "waldur_wrong_token",
            form_body(
                "waldur_wrong_token",
                "waldur",
                host=waldur["host"],
                port=waldur_port,
                **{**waldur_fields, "password": wrong_token},
            ),
            "failure",
            "Waldur with a wrong API token",
            secret=wrong_token,
        ),
    ]


def add_through_form(
    page: Any, base_url: str, conn_id: str, host: str, port: int, token: str, shots: Path
) -> None:
    """Save a Waldur connection by typing into the UI's "Add Connection" form, Port field included."""
    page.goto(f"{base_url}/connections")
    page.get_by_role("button", name=re.compile("Add Connection")).first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("textbox").first.fill(conn_id)
    # react-select: type into its input and take the highlighted option.
    dialog.get_by_role("combobox").fill("Waldur")
    page.get_by_role("option", name="Waldur", exact=True).click()
    dialog.get_by_text("Waldur API port").wait_for()
    page.screenshot(path=str(shots / "add-form-waldur-empty.png"), full_page=True)
    dialog.get_by_placeholder("https://waldur.example.org/api/").fill(host)
    dialog.locator("input[type=number]").fill(str(port))
    dialog.locator("input[type=password]").fill(token)
    page.screenshot(path=str(shots / "add-form-waldur.png"), full_page=True)
    dialog.get_by_role("button", name=re.compile("Save")).click()
    dialog.wait_for(state="hidden", timeout=30_000)


def click_test(page: Any, conn_id: str, shots: Path, suffix: str = "") -> Observed:
    """Click the Test button on ``conn_id``'s row and read the toast it raises."""
    row = page.get_by_role("row").filter(has=page.get_by_text(conn_id, exact=True))
    with page.expect_response(lambda r: r.url.endswith("/api/v2/connections/test")) as answer:
        row.get_by_role("button", name="Test Connection").click()
    response = answer.value
    detail = ""
    if response.status != 200:
        with contextlib.suppress(Exception):
            detail = str(response.json().get("detail", ""))
    toast = page.locator("[data-scope=toast][data-part=root]").filter(
        has_text=re.compile("|".join(TOAST_TITLES))
    )
    toast.first.wait_for(timeout=90_000)
    text = toast.first.inner_text()
    title = next((t for t in TOAST_TITLES if t in text), "")
    message = text.replace(title, "", 1).strip()
    screenshot = shots / f"list-test-{conn_id}{suffix}.png"
    page.screenshot(path=str(screenshot), full_page=True)
    # Close every toast so the next row's result cannot be confused with this one.
    for close in page.locator("[data-scope=toast][data-part=close-trigger]").all():
        with contextlib.suppress(Exception):
            close.click(timeout=2_000)
    page.locator("[data-scope=toast][data-part=root]").first.wait_for(state="detached", timeout=15_000)
    return Observed(conn_id, title, message, response.status, detail, screenshot)


def judge(case: Case, seen: Observed) -> tuple[bool, str]:
    leaked = bool(case.secret) and case.secret in f"{seen.title} {seen.message} {seen.http_detail}"
    if leaked:
        return False, "the secret appears in the UI"
    if case.expect == "success":
        return seen.title == TOAST_TITLES[0], "expected success"
    if case.expect == "failure":
        return seen.title == TOAST_TITLES[1], "expected a failure"
    if seen.title == TOAST_TITLES[1] and seen.http_status == 400 and ROUTE_400 in seen.http_detail:
        return True, f"Airflow limitation, see docs/connections/index.md: HTTP 400 {seen.http_detail!r}"
    return seen.title == TOAST_TITLES[0], "an Airflow that accepts port 0 must then succeed"


def add_port_through_edit_dialog(page: Any, conn_id: str, label: str, port: int, shots: Path) -> bool:
    """Type ``port`` into ``conn_id``'s edit dialog and save; says whether the dialog has a Test button."""
    row = page.get_by_role("row").filter(has=page.get_by_text(conn_id, exact=True))
    row.get_by_role("button", name=re.compile("Edit Connection")).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(label).wait_for()
    has_test = dialog.get_by_role("button", name=re.compile("Test", re.IGNORECASE)).count() > 0
    dialog.locator("input[type=number]").fill(str(port))
    page.screenshot(path=str(shots / f"edit-dialog-{conn_id}.png"), full_page=True)
    dialog.get_by_role("button", name=re.compile("Save")).click()
    dialog.wait_for(state="hidden", timeout=30_000)
    return has_test


@contextlib.contextmanager
def running(server: AirflowApiServer) -> Iterator[AirflowApiServer]:
    try:
        server.start()
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the whole check; returns the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--screenshots",
        type=Path,
        default=REPO_ROOT / ".screenshots" / "connection-test-button",
        help="folder for the screenshots (git-ignored by default)",
    )
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium executable")
    parser.add_argument("--keep-home", action="store_true", help="keep the temporary AIRFLOW_HOME")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from airflow_provider_cscs_dwdi.core.config import load_config
    from sandbox.stack import SandboxStack

    shots: Path = args.screenshots
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    home = Path(tempfile.mkdtemp(prefix="cscs-dwdi-testbutton-"))
    server = AirflowApiServer(home)
    module_file = server.provider_module_file()
    say(f"airflow: the api-server imports the provider from {module_file}")
    if not module_file.startswith(str(REPO_ROOT)):
        say("FAIL: the api-server would not run this checkout's provider")
        return 1

    failures: list[str] = []
    offerings = load_config(REPO_ROOT / "dags" / "cscs_dwdi_offerings.example.yaml").offerings
    try:
        with SandboxStack(offerings, accounts_per_offering=1) as stack, running(server):
            say(f"sandbox: DWDI {stack.dwdi_url}, Waldur {stack.waldur.url}, issuer {stack.token_url}")
            cases = build_cases(stack)
            for case in cases:
                server.create_connection(case.body)
                stored = server.stored(case.conn_id)
                say(f"created {case.conn_id}: host={stored['host']} port={stored['port']} ({case.why})")

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                dwdi_port = int(stack.dwdi_url.rsplit(":", 1)[1])
                waldur_port = int(stack.waldur.url.rsplit(":", 1)[1])
                try:
                    add_through_form(
                        page,
                        server.url,
                        "waldur_from_form",
                        "http://127.0.0.1/api/",
                        waldur_port,
                        stack.waldur.staff_token,
                        shots,
                    )
                except Exception:
                    page.screenshot(path=str(shots / "failure.png"), full_page=True)
                    (shots / "failure.html").write_text(page.content())
                    raise
                stored = server.stored("waldur_from_form")
                say(f"created waldur_from_form through the Add Connection form: port={stored['port']}")
                cases.append(
                    Case("waldur_from_form", {}, "success", "Waldur saved through the UI form, Port filled")
                )

                page.goto(f"{server.url}/connections")
                page.get_by_text(cases[0].conn_id, exact=True).wait_for(timeout=60_000)
                page.screenshot(path=str(shots / "connection-list.png"), full_page=True)
                for case in cases:
                    seen = click_test(page, case.conn_id, shots)
                    ok, note = judge(case, seen)
                    verdict = "ok  " if ok else "FAIL"
                    say(
                        f"{verdict} Test {case.conn_id}: HTTP {seen.http_status}; the UI shows "
                        f"{seen.title}: {seen.message!r} ({note})"
                    )
                    say(f"     screenshot {seen.screenshot}")
                    if not ok:
                        failures.append(case.conn_id)

                # The fix for a connection saved without a port: type it into the edit dialog.
                for conn_id, label, port in (
                    ("dwdi_no_port", "DWDI API port", dwdi_port),
                    ("waldur_no_port", "Waldur API port", waldur_port),
                ):
                    has_test = add_port_through_edit_dialog(page, conn_id, label, port, shots)
                    say(
                        f"edit dialog of {conn_id}: "
                        + ("has a Test button" if has_test else "no Test button on this Airflow (list only)")
                        + f"; saved port {server.stored(conn_id)['port']}"
                    )
                    seen = click_test(page, conn_id, shots, suffix="-after-edit")
                    ok = seen.title == TOAST_TITLES[0]
                    say(
                        f"{'ok  ' if ok else 'FAIL'} Test {conn_id} after adding its port: HTTP "
                        f"{seen.http_status}; the UI shows {seen.title}: {seen.message!r}"
                    )
                    if not ok:
                        failures.append(f"{conn_id} after edit")
                page_text = page.content()
                for case in cases:
                    if case.secret and case.secret in page_text:
                        failures.append(f"{case.conn_id} secret in page")
                        say(f"FAIL the secret of {case.conn_id} is in the page")
                browser.close()
    finally:
        if not args.keep_home:
            shutil.rmtree(home, ignore_errors=True)
    say(f"screenshots in {shots}")
    if failures:
        say(f"FAILED: {', '.join(failures)}")
        return 1
    say("OK: every Test button showed what was expected")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
