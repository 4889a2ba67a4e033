"""Session fixtures of the real-Waldur tests: the built Waldur MasterMind 7.0.7 on PostgreSQL.

``waldur_build`` builds it from the source tarball (tests/real_waldur/build.py; cached between
runs, outside the clone). A missing prerequisite fails the session under ``CI=true`` (a CI that
skips the real server proves nothing) and skips elsewhere; a build or start that fails with the
prerequisites present is always a failure.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.fixtures.postgres import PostgresServer
from tests.real_waldur.build import Unavailable, WaldurBuild, ensure_build, restore
from tests.real_waldur.server import RealWaldur


@pytest.fixture(scope="session")
def waldur_build() -> WaldurBuild:
    return build_or_fail()


def build_or_fail() -> WaldurBuild:
    """The build for the session; a missing prerequisite fails it under ``CI=true``, skips it elsewhere."""
    started = time.monotonic()
    lines: list[str] = []
    try:
        build = ensure_build(lines.append)
    except Unavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the real-Waldur test cannot run under CI: {error}")
        pytest.skip(str(error))
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        pytest.fail("building Waldur failed:\n" + "\n".join(lines) + f"\n{error}")
    if lines:  # something was built: say so in the report of the session
        print(f"real Waldur built in {time.monotonic() - started:.0f} s:", *lines, sep="\n")
    return build


@pytest.fixture(scope="session")
def real_waldur(waldur_build: WaldurBuild) -> Iterator[RealWaldur]:
    """The migrated dump restored into a fresh PostgreSQL and a runserver on the real clock."""
    postgres = PostgresServer(waldur_build.pg_bin)
    waldur: RealWaldur | None = None
    try:
        postgres.start()
        restore(waldur_build, postgres)
        waldur = RealWaldur(waldur_build, postgres).start()
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        if waldur is not None:
            waldur.stop()
        postgres.stop()
        pytest.fail(f"the real Waldur did not start: {error}")
    yield waldur
    waldur.stop()
    postgres.stop()
