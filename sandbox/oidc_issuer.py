"""Run the Keycloak-shaped OIDC test issuer (``sandbox/oidc/issuer.js``) as a child process.

The issuer is the npm library ``oidc-provider`` (OpenID-certified) behind Keycloak's URL layout
(``/realms/<realm>/protocol/openid-connect/{token,certs,token/introspect}``). It issues RS256 JWT
access tokens (RFC 9068) for the audience ``dwdi-api`` by the client-credentials grant, with the
client authenticating by ``client_secret_post`` or ``client_secret_basic``; a wrong secret or an
unknown client gets ``401 {"error": "invalid_client"}``. Each client has its own access-token
lifetime (``ttl``, seconds), so expiry can be tested in seconds.

Used by the tests (``tests/fixtures/oidc_issuer.py``), the demo and docker-compose::

    python -m sandbox.oidc_issuer --port 9000 --host 0.0.0.0 [--public-url http://sandbox-oidc:9000]

Clients come from ``ISSUER_CLIENTS`` (JSON list of ``{"client_id", "client_secret", "ttl"}``) on
the command line, from ``clients=`` in Python; default :data:`DEFAULT_CLIENTS`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
ISSUER_SCRIPT = OIDC_DIR / "issuer.js"
NODE_MODULES = OIDC_DIR / "node_modules"
AUDIENCE = "dwdi-api"
# Node starts in about a second; a loaded CI machine (two cores shared with Airflow) can be slower.
START_TIMEOUT_SECONDS = 60.0
NPM_CI_TIMEOUT_SECONDS = 300.0
DEFAULT_CLIENTS: list[dict[str, Any]] = [
    {"client_id": "dwdi-client", "client_secret": "dwdi-secret", "ttl": 300},
    {"client_id": "dwdi-short", "client_secret": "short-secret", "ttl": 2},
    # Short enough that renewal at half-life is reached on the hook's clock, long enough in real time
    # that a loaded machine never lets it expire between a test's calls.
    {"client_id": "dwdi-brief", "client_secret": "brief-secret", "ttl": 60},
]
_STDERR_TAIL_LINES = 40


class IssuerUnavailable(RuntimeError):
    """The issuer cannot run here (no node, no node_modules) or did not come up in time."""


class _SilentStart(IssuerUnavailable):
    """node still runs but has not said READY in time."""


def _process_state(pid: int) -> str:
    """What a silent node was doing: its state and kernel wait channel, and the load average."""
    parts = []
    for name, label in (("stat", "state"), ("wchan", "waiting in")):
        try:
            text = Path(f"/proc/{pid}/{name}").read_text().strip()
        except OSError:
            continue
        parts.append(f"{label} {text.rsplit(')', 1)[-1].split()[0] if name == 'stat' else text}")
    with contextlib.suppress(OSError):
        parts.append("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return ", ".join(parts) or "no process state readable"


def _node() -> str | None:
    # /usr/bin/node is where the machines of this project have it, even with a bare PATH.
    return shutil.which("node") or shutil.which("node", path="/usr/bin")


def issuer_available() -> tuple[bool, str]:
    """Whether the issuer can start here: ``(True, "")`` or ``(False, reason)``."""
    if _node() is None:
        return False, "node is not installed (needed for the OIDC test issuer in sandbox/oidc)"
    if not (NODE_MODULES / "oidc-provider" / "package.json").is_file():
        return False, f"{NODE_MODULES} is missing: run `npm ci` in {OIDC_DIR}"
    return True, ""


def ensure_node_modules() -> None:
    """Install the issuer's Node packages (``npm ci`` from the committed lock file) if missing.

    Raises IssuerUnavailable when npm is missing or ``npm ci`` fails (its output tail included).
    """
    if (NODE_MODULES / "oidc-provider" / "package.json").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise IssuerUnavailable(f"npm is not installed: cannot create {NODE_MODULES}")
    try:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=OIDC_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise IssuerUnavailable(f"`npm ci` in {OIDC_DIR} took more than {exc.timeout:.0f} s") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise IssuerUnavailable(f"`npm ci` in {OIDC_DIR} failed (exit {result.returncode}):\n{tail}")


class OidcIssuerProcess:
    """The Node OIDC issuer as a child process; a context manager (``with ... as issuer``).

    :param port: TCP port, 0 = the OS chooses (read back from the issuer's READY line).
    :param host: address to bind (``0.0.0.0`` in docker).
    :param clients: ``[{"client_id", "client_secret", "ttl"}]``; default :data:`DEFAULT_CLIENTS`.
    :param realm: Keycloak realm name in the URLs.
    :param public_url: base URL other hosts use (docker: ``http://sandbox-oidc:9000``); it goes
        into the issuer (``iss``) and every URL attribute. Default: the local address.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        clients: list[dict[str, Any]] | None = None,
        realm: str = "cscs",
        public_url: str | None = None,
    ) -> None:
        self.port = port
        self.host = host
        self.clients: list[dict[str, Any]] = [dict(client) for client in (clients or DEFAULT_CLIENTS)]
        self.realm = realm
        self.public_url = public_url.rstrip("/") if public_url else None
        self.audience = AUDIENCE
        self._process: subprocess.Popen[str] | None = None
        self._local_url: str | None = None
        self._ready = threading.Event()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ URLs

    @property
    def local_url(self) -> str:
        """``http://127.0.0.1:<port>``: where this machine reaches the issuer (admin API too)."""
        if self._local_url is None:
            raise RuntimeError("start() the issuer first")
        return self._local_url

    @property
    def base_url(self) -> str:
        """Base URL of the issuer (``public_url`` if given, else the local address)."""
        return self.public_url or self.local_url

    @property
    def realm_url(self) -> str:
        """The issuer identifier (``iss``): ``<base_url>/realms/<realm>``."""
        return f"{self.base_url}/realms/{self.realm}"

    @property
    def token_url(self) -> str:
        """Keycloak-style token endpoint."""
        return f"{self.realm_url}/protocol/openid-connect/token"

    @property
    def jwks_url(self) -> str:
        """Keycloak-style JWKS endpoint (``.../certs``)."""
        return f"{self.realm_url}/protocol/openid-connect/certs"

    @property
    def introspection_url(self) -> str:
        """Keycloak-style token introspection endpoint."""
        return f"{self.realm_url}/protocol/openid-connect/token/introspect"

    @property
    def discovery_url(self) -> str:
        """The OpenID discovery document."""
        return f"{self.realm_url}/.well-known/openid-configuration"

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> OidcIssuerProcess:
        """Start node and wait for its READY line; raise IssuerUnavailable if it does not come.

        A node that is still running but silent after ``timeout`` is stopped and started once more
        (seen once in a CI run: a start that printed nothing for 60 s, on a loaded machine); the
        error of a second silent start says what the process was doing and the machine's load.
        """
        if self._process is not None:
            raise RuntimeError("the issuer is already started")
        available, reason = issuer_available()
        if not available:
            raise IssuerUnavailable(reason)
        try:
            return self._start_once(timeout)
        except _SilentStart as first:
            print(f"oidc issuer: {first}; starting it once more", file=sys.stderr, flush=True)
            try:
                return self._start_once(timeout)
            except _SilentStart as second:
                raise IssuerUnavailable(f"{first}; then again: {second}") from None

    def _start_once(self, timeout: float) -> OidcIssuerProcess:
        command = [_node() or "node", str(ISSUER_SCRIPT), "--port", str(self.port), "--host", self.host]
        command += ["--realm", self.realm]
        if self.public_url:
            command += ["--public-url", self.public_url]
        env = {**os.environ, "ISSUER_CLIENTS": json.dumps(self.clients)}
        self._ready.clear()
        self._stderr_tail.clear()
        self._process = subprocess.Popen(
            command,
            cwd=OIDC_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        # Both pipes are drained for the life of the process so node never blocks on a full pipe.
        process = self._process
        self._threads = [
            threading.Thread(
                target=self._read_stdout, args=(process,), name="oidc-issuer-stdout", daemon=True
            ),
            threading.Thread(
                target=self._read_stderr, args=(process,), name="oidc-issuer-stderr", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            exited = process.poll() is not None
            if exited or time.monotonic() > deadline:
                state = "" if exited else _process_state(process.pid)
                self.stop()
                for thread in self._threads:
                    thread.join(timeout=1)
                tail = "\n".join(self._stderr_tail) or "(no stderr output)"
                if exited:
                    raise IssuerUnavailable(
                        f"the OIDC issuer ({ISSUER_SCRIPT}) exited with status {process.returncode}; "
                        f"stderr:\n{tail}"
                    )
                raise _SilentStart(
                    f"the OIDC issuer ({ISSUER_SCRIPT}) printed no READY line within {timeout:.0f} s "
                    f"({state}); stderr:\n{tail}"
                )
        return self

    def _read_stdout(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("READY ") and not self._ready.is_set():
                self._local_url = line.split(" ", 1)[1].strip()
                self._ready.set()

    def _read_stderr(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            self._stderr_tail.append(line.rstrip("\n"))

    def stop(self) -> None:
        """Stop the issuer (SIGTERM, then SIGKILL after 5 s). Safe to call twice."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self._ready.clear()

    @property
    def running(self) -> bool:
        """Whether the node process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def stderr_tail(self) -> str:
        """The last lines the issuer wrote to stderr (for diagnostics)."""
        return "\n".join(self._stderr_tail)

    def __enter__(self) -> OidcIssuerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ admin API

    def _admin(self, method: str, path: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.local_url}{path}", method=method, data=b"" if method == "POST" else None
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body: dict[str, Any] = json.loads(response.read())
        return body

    def stats(self) -> dict[str, Any]:
        """``{"tokens_issued": {client_id: n}, "total": n}``: client-credentials tokens issued."""
        return self._admin("GET", "/sandbox/stats")

    def token_count(self, client_id: str | None = None) -> int:
        """Tokens issued since start or the last reset, for one client or (None) for all."""
        stats = self.stats()
        if client_id is None:
            return int(stats["total"])
        return int(stats["tokens_issued"].get(client_id, 0))

    def reset_counts(self) -> None:
        """Zero the token counts."""
        self._admin("POST", "/sandbox/reset")


def _clients_from_env() -> list[dict[str, Any]] | None:
    raw = os.environ.get("ISSUER_CLIENTS")
    if not raw:
        return None
    clients = json.loads(raw)
    if not isinstance(clients, list):
        raise SystemExit("ISSUER_CLIENTS must be a JSON list of {client_id, client_secret, ttl}")
    return clients


def main(argv: list[str] | None = None) -> int:
    """Run the issuer in the foreground until SIGINT/SIGTERM (docker-compose, demo)."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.oidc_issuer", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--realm", default="cscs")
    parser.add_argument(
        "--public-url", default=None, help="base URL other hosts use, e.g. http://sandbox-oidc:9000"
    )
    parser.add_argument(
        "--install", action="store_true", help="run `npm ci` first if node_modules is missing"
    )
    args = parser.parse_args(argv)

    if args.install:
        ensure_node_modules()
    issuer = OidcIssuerProcess(
        port=args.port,
        host=args.host,
        clients=_clients_from_env(),
        realm=args.realm,
        public_url=args.public_url,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        issuer.start()
    except IssuerUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    info = {
        "issuer": issuer.realm_url,
        "token_url": issuer.token_url,
        "jwks_url": issuer.jwks_url,
        "introspection_url": issuer.introspection_url,
        "audience": issuer.audience,
        "clients": [client["client_id"] for client in issuer.clients],
    }
    print(json.dumps(info), flush=True)
    try:
        while not stop.wait(0.5):
            if not issuer.running:
                print(f"the OIDC issuer stopped:\n{issuer.stderr_tail}", file=sys.stderr)
                return 1
    finally:
        issuer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
