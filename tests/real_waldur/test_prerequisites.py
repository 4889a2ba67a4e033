"""A missing prerequisite of the real-Waldur test fails it under CI and skips it elsewhere.

Without the server the module proves nothing, so CI must not pass by skipping it. Checked with a
missing source tarball, the one prerequisite a test can take away without touching the machine;
the build stops at its prerequisite check, before anything is unpacked or installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.real_waldur.conftest import build_or_fail

#: What the session's build may end in besides a build: caught here so that a skip where a failure
#: is due fails this test instead of skipping it.
OUTCOMES = (pytest.fail.Exception, pytest.skip.Exception)


@pytest.fixture
def no_tarball(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    missing = tmp_path / "waldur-mastermind-missing.tar.gz"
    monkeypatch.setenv("CSCS_WALDUR_TARBALL", str(missing))
    monkeypatch.setenv("CSCS_DWDI_CACHE", str(tmp_path / "cache"))
    return missing


def test_a_missing_prerequisite_fails_the_session_under_ci(
    no_tarball: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")

    with pytest.raises(OUTCOMES) as outcome:
        build_or_fail()

    assert isinstance(outcome.value, pytest.fail.Exception), f"not a failure: {outcome.value!r}"
    assert "the real-Waldur test cannot run under CI" in str(outcome.value)
    assert str(no_tarball) in str(outcome.value)


def test_a_missing_prerequisite_skips_the_session_outside_ci(
    no_tarball: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(OUTCOMES) as outcome:
        build_or_fail()

    assert isinstance(outcome.value, pytest.skip.Exception), f"not a skip: {outcome.value!r}"
    assert "the real-Waldur build needs" in str(outcome.value)


def test_the_build_command_exits_2_on_a_missing_prerequisite_for_the_test_script(no_tarball: Path) -> None:
    # scripts/test.sh turns exit status 2 into a failure of the run under CI=true.
    done = subprocess.run(
        [sys.executable, "-m", "tests.real_waldur.build"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parents[2],
    )

    assert done.returncode == 2, done.stdout + done.stderr
    assert str(no_tarball) in done.stderr
