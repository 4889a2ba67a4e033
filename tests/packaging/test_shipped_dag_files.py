"""The DAG file and example offerings: one content in dags/ and in the package, and ``init`` writes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_cscs_dwdi.__main__ import SHIPPED_FILES, main, shipped_file

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", SHIPPED_FILES)
def test_the_repository_dags_folder_and_the_package_hold_the_same_file(name: str) -> None:
    # dags/ stays at the top level for docker-compose and the demo; the wheel ships the package copy.
    assert (REPO_ROOT / "dags" / name).read_bytes() == shipped_file(name)


def test_init_writes_both_files_into_a_new_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "airflow" / "dags"

    assert main(["init", str(target)]) == 0

    for name in SHIPPED_FILES:
        assert (target / name).read_bytes() == (REPO_ROOT / "dags" / name).read_bytes()
    printed = capsys.readouterr().out
    assert f"wrote {target / 'cscs_dwdi_usage.py'}" in printed
    assert "CSCS_DWDI_CONFIG" in printed


def test_init_leaves_an_edited_file_alone_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = tmp_path / "cscs_dwdi_offerings.example.yaml"
    edited.write_text("offerings: []  # mine\n")

    assert main(["init", str(tmp_path)]) == 1
    assert edited.read_text() == "offerings: []  # mine\n"
    assert not (tmp_path / "cscs_dwdi_usage.py").exists()  # nothing half-written
    assert (
        f"not overwriting files that differ from the shipped ones (use --force to replace them): {edited}"
        in (capsys.readouterr().err)
    )

    assert main(["init", "--force", str(tmp_path)]) == 0
    assert edited.read_bytes() == shipped_file(edited.name)


def test_init_again_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["init", str(tmp_path)])
    capsys.readouterr()

    assert main(["init", str(tmp_path)]) == 0
    assert "already up to date" in capsys.readouterr().out


def test_python_dash_m_runs_the_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_cscs_dwdi", "init", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(SHIPPED_FILES)
