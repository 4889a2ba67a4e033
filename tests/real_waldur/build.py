"""Builds Waldur MasterMind 7.0.7 from its source tarball for the real-Waldur tests, with caches.

``python -m tests.real_waldur.build`` (what ``scripts/real_waldur.sh`` runs) builds whatever is
not cached yet and prints where the parts are; the test session calls :func:`ensure_build` the
same way, so a warm cache costs a few hash checks. Everything is cached outside the clone, under
``$CSCS_DWDI_CACHE`` (default ``${XDG_CACHE_HOME:-~/.cache}/cscs-dwdi/real-waldur``):

- ``src-<tarball>``: the unpacked source (the editable install points into it);
- ``requirements-<tarball>.txt``: ``poetry export`` of the tarball's lock file, with the one git
  dependency replaced by its release on the package index (the git host is not reachable);
- ``venv-<requirements+tarball+python>``: Python 3.11 with the exported requirements and Waldur;
  pip's own download cache (``pip cache dir``) makes a rebuild of it quicker too;
- ``waldur-<tarball+settings+postgres>.dump``: ``pg_dump`` of a migrated database with the roles
  imported and the staff user made: a run restores it instead of paying ``migrate`` (minutes).

A missing prerequisite raises :class:`Unavailable`; the fixtures fail on it under ``CI=true``.
"""

from __future__ import annotations

import ctypes.util
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.postgres import PostgresServer, PostgresUnavailable, find_server_bin_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
TARBALL_NAME = "waldur-mastermind-7.0.7-1ea6cb82.tar.gz"
#: Beside the clone, as CI lays it out; ``CSCS_WALDUR_TARBALL`` overrides.
DEFAULT_TARBALL = REPO_ROOT.parent / "shared" / "waldur" / TARBALL_NAME
SETTINGS_DIR = Path(__file__).resolve().parent / "waldur_settings"
SETTINGS_MODULE = "cscs_real_waldur_settings"
#: Waldur requires ``>=3.10,<3.12``; the project's own venv may be newer.
WALDUR_PYTHON = os.environ.get("CSCS_WALDUR_PYTHON", "python3.11")
POETRY_PINS = ("poetry==1.8.5", "poetry-plugin-export==1.8.0")
UPLOAD_VALIDATOR = "django-upload-validator==1.1.6"
STAFF_USERNAME = "staff"
#: Loopback-only test server whose database is thrown away after the session.
STAFF_PASSWORD = "cscs-dwdi-staff-test-only"
STAFF_EMAIL = "staff@example.org"
LIBFAKETIME_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
)
#: The Debian packages Waldur's requirements build against (scripts/bootstrap.sh installs them).
DEBIAN_PACKAGES = "libldap2-dev libsasl2-dev libmagic1 build-essential libpq-dev faketime libfaketime"


class Unavailable(RuntimeError):
    """A prerequisite of the build (a tool, a Debian package, the tarball) is missing."""


@dataclass(frozen=True)
class WaldurBuild:
    """Where a finished build lies."""

    venv: Path
    source: Path
    dump: Path
    libfaketime: Path
    pg_bin: Path

    @property
    def waldur(self) -> Path:
        return self.venv / "bin" / "waldur"

    def environment(self, *, db_port: int, state_dir: Path, db_name: str = "waldur") -> dict[str, str]:
        """The environment a ``waldur`` command of this build runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env.update(
            DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
            PYTHONPATH=str(SETTINGS_DIR),
            CSCS_WALDUR_DB_PORT=str(db_port),
            CSCS_WALDUR_DB_NAME=db_name,
            CSCS_WALDUR_STATE_DIR=str(state_dir),
            PATH=f"{self.venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
        )
        return env


def cache_root() -> Path:
    explicit = os.environ.get("CSCS_DWDI_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "cscs-dwdi" / "real-waldur"


def tarball_path() -> Path:
    return Path(os.environ.get("CSCS_WALDUR_TARBALL") or DEFAULT_TARBALL)


def _digest(*parts: bytes | str) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part.encode() if isinstance(part, str) else part)
        sha.update(b"\0")
    return sha.hexdigest()[:16]


def _file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]


def run(command: list[str], *, log: Callable[[str], None], timeout: float, **kwargs: object) -> str:
    log("$ " + " ".join(command))
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return str(result.stdout)


def check_prerequisites() -> tuple[Path, Path]:
    """The PostgreSQL server directory and libfaketime; :class:`Unavailable` names what is missing."""
    missing: list[str] = []
    if shutil.which(WALDUR_PYTHON) is None:
        missing.append(f"{WALDUR_PYTHON} (Waldur 7.0.7 requires Python >=3.10,<3.12)")
    for header, package in (
        ("/usr/include/ldap.h", "libldap2-dev"),
        ("/usr/include/sasl/sasl.h", "libsasl2-dev"),
        ("/usr/include/postgresql/libpq-fe.h", "libpq-dev"),
    ):
        if not Path(header).is_file():
            missing.append(f"{header} (Debian package {package})")
    if ctypes.util.find_library("magic") is None:
        missing.append("libmagic.so.1 (Debian package libmagic1)")
    if shutil.which("gcc") is None:
        missing.append("gcc (Debian package build-essential)")
    libfaketime = next((Path(p) for p in LIBFAKETIME_CANDIDATES if Path(p).is_file()), None)
    if libfaketime is None:
        missing.append("libfaketime.so.1 (Debian package libfaketime)")
    try:
        pg_bin = find_server_bin_dir()
    except PostgresUnavailable as error:
        missing.append(str(error))
        pg_bin = Path()
    else:
        for tool in ("pg_dump", "pg_restore"):
            if not (pg_bin / tool).is_file():
                missing.append(f"{pg_bin / tool}")
    if not tarball_path().is_file():
        missing.append(f"the Waldur source tarball {tarball_path()} (set CSCS_WALDUR_TARBALL)")
    if missing:
        raise Unavailable(
            "the real-Waldur build needs: "
            + "; ".join(missing)
            + f". scripts/bootstrap.sh installs the Debian packages as root ({DEBIAN_PACKAGES})."
        )
    assert libfaketime is not None
    return pg_bin, libfaketime


def _unpack(tarball: Path, target: Path, log: Callable[[str], None]) -> Path:
    if not (target / ".complete").is_file():
        log(f"==> unpacking {tarball.name}")
        shutil.rmtree(target, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix="src-", dir=target.parent))
        with tarfile.open(tarball) as archive:
            archive.extractall(staging, filter="data")
        staging.rename(target)
        (target / ".complete").touch()
    # The 7.0.7 tarball holds the project at its top level; other exports wrap it in one folder.
    roots = [path for path in (target, *target.iterdir()) if (path / "pyproject.toml").is_file()]
    if len(roots) != 1:
        raise RuntimeError(f"{tarball}: expected one project folder with a pyproject.toml, found {roots}")
    return roots[0]


def _export_requirements(source: Path, target: Path, cache: Path, log: Callable[[str], None]) -> str:
    if target.is_file():
        return target.read_text()
    tools = cache / f"poetry-{_digest(*POETRY_PINS)}"
    if not (tools / ".complete").is_file():
        log("==> poetry (only to export the lock file)")
        shutil.rmtree(tools, ignore_errors=True)
        run([WALDUR_PYTHON, "-m", "venv", str(tools)], log=log, timeout=300)
        run([str(tools / "bin" / "pip"), "install", "--quiet", *POETRY_PINS], log=log, timeout=900)
        (tools / ".complete").touch()
    log("==> poetry export")
    exported = run(
        [str(tools / "bin" / "poetry"), "export", "--without-hashes", "-f", "requirements.txt"],
        log=log,
        timeout=600,
        cwd=source,
    )
    # The git host of this one dependency is not reachable; its release on the index is the same code.
    requirements, count = re.subn(r"(?m)^django-upload-validator @ git\+\S+", UPLOAD_VALIDATOR, exported)
    if count != 1:
        raise RuntimeError("poetry export: no django-upload-validator git line to replace")
    staging = target.with_suffix(".tmp")
    staging.write_text(requirements)
    staging.rename(target)
    return requirements


def _python_version() -> str:
    return subprocess.run(
        [WALDUR_PYTHON, "-c", "import sys; print(sys.version)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def _build_venv(venv: Path, requirements: Path, source: Path, log: Callable[[str], None]) -> None:
    if (venv / ".complete").is_file():
        return
    log(f"==> building the Waldur virtualenv {venv.name} (cold: several minutes)")
    shutil.rmtree(venv, ignore_errors=True)
    run([WALDUR_PYTHON, "-m", "venv", str(venv)], log=log, timeout=300)
    pip = str(venv / "bin" / "pip")
    run([pip, "install", "--quiet", "--upgrade", "pip", "setuptools", "wheel"], log=log, timeout=600)
    run([pip, "install", "--quiet", "-r", str(requirements)], log=log, timeout=3600)
    run([pip, "install", "--quiet", "--no-deps", "-e", str(source)], log=log, timeout=900)
    (venv / ".complete").touch()


def _build_dump(build: WaldurBuild, target: Path, log: Callable[[str], None]) -> None:
    if target.is_file():
        return
    log(f"==> migrating an empty Waldur database into {target.name} (cold: about 5 minutes)")
    server = PostgresServer(build.pg_bin)
    state = Path(tempfile.mkdtemp(prefix="cscs-dwdi-waldur-state-"))
    try:
        server.start()
        server.create_database("waldur")
        env = build.environment(db_port=server.port, state_dir=state)
        waldur = str(build.waldur)
        run([waldur, "migrate", "--noinput"], log=log, timeout=3600, env=env)
        permissions = build.source / "docker" / "rootfs" / "etc" / "waldur" / "permissions.yaml"
        run([waldur, "import_roles", str(permissions)], log=log, timeout=600, env=env)
        run(
            [waldur, "createstaffuser", "-u", STAFF_USERNAME, "-p", STAFF_PASSWORD, "-e", STAFF_EMAIL],
            log=log,
            timeout=600,
            env=env,
        )
        # A token that never expires: the faked-clock server lives months ahead of the real one.
        run(
            [
                waldur,
                "shell",
                "-c",
                "from waldur_core.core.models import User;"
                f"User.objects.filter(username={STAFF_USERNAME!r}).update(token_lifetime=None)",
            ],
            log=log,
            timeout=600,
            env=env,
        )
        staging = target.with_suffix(".tmp")
        run(
            _pg_client(build, "pg_dump", server.port, "-Fc", "-d", "waldur", "-f", str(staging)),
            log=log,
            timeout=900,
        )
        staging.rename(target)
    finally:
        server.stop()
        shutil.rmtree(state, ignore_errors=True)


def _pg_client(build: WaldurBuild, tool: str, port: int, *args: str) -> list[str]:
    """A PostgreSQL client command as the current user over loopback TCP (the server trusts it):
    run as root, its files stay root's, where ``runuser -u postgres`` could not write them."""
    return [str(build.pg_bin / tool), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", *args]


def ensure_build(log: Callable[[str], None] = print) -> WaldurBuild:
    """Build (or find in the cache) the venv, the source and the migrated dump."""
    pg_bin, libfaketime = check_prerequisites()
    cache = cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    tarball = tarball_path()
    tar_key = _file_digest(tarball)
    source = _unpack(tarball, cache / f"src-{tar_key}", log)
    requirements_file = cache / f"requirements-{tar_key}.txt"
    requirements = _export_requirements(source, requirements_file, cache, log)
    venv = cache / f"venv-{_digest(requirements, tar_key, _python_version())}"
    _build_venv(venv, requirements_file, source, log)
    pg_version = (pg_bin / "postgres").resolve().parent.parent.name
    settings_text = (SETTINGS_DIR / f"{SETTINGS_MODULE}.py").read_text()
    dump = (
        cache / f"waldur-{_digest(tar_key, settings_text, pg_version, STAFF_USERNAME, STAFF_PASSWORD)}.dump"
    )
    build = WaldurBuild(venv=venv, source=source, dump=dump, libfaketime=libfaketime, pg_bin=pg_bin)
    _build_dump(build, dump, log)
    return build


def restore(build: WaldurBuild, server: PostgresServer, name: str = "waldur") -> None:
    """A new database ``name`` on ``server`` holding the migrated dump."""
    server.create_database(name)
    run(
        _pg_client(build, "pg_restore", server.port, "--no-owner", "-j", "2", "-d", name, str(build.dump)),
        log=lambda _line: None,
        timeout=900,
    )


def main(argv: Mapping[int, str] | None = None) -> int:
    started = time.monotonic()

    def log(line: str) -> None:
        print(f"[{time.monotonic() - started:6.0f}s] {line}", flush=True)

    try:
        build = ensure_build(log)
    except Unavailable as error:
        print(error, file=sys.stderr)
        return 2
    log(f"venv {build.venv}")
    log(f"source {build.source}")
    log(f"dump {build.dump}")
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
