"""Removing any one check makes the checks' tests fail (the issue's "must show", kept by CI).

Each check is taken out in turn (its function in ``core.anomalies.checks`` made to find nothing)
and ``test_checks.py`` is run against the rest in a child interpreter: it must fail, and pass
again once the check is back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_cscs_dwdi.core.anomalies import AnomalyCheck, checks

ROOT = Path(__file__).resolve().parents[3]
CHECKS_TESTS = Path(__file__).with_name("test_checks.py")

#: The function of ``core.anomalies.checks`` that finds each check's anomalies.
FINDS = {
    AnomalyCheck.TOTAL_DECREASE: "_total_decrease",
    AnomalyCheck.CLUSTER_MISSING: "_cluster_missing",
    AnomalyCheck.ACCOUNTS_FELL: "_accounts_fell",
    AnomalyCheck.JUMP: "_jump",
    AnomalyCheck.STORAGE_PATH_UNMATCHED: "_path_unmatched",
    AnomalyCheck.STORAGE_LEVEL_CHANGE: "_level_change",
    AnomalyCheck.STORAGE_NONE_MATCHED: "_none_matched",
}


def test_every_check_has_its_function() -> None:
    assert set(FINDS) == set(AnomalyCheck)
    assert all(callable(getattr(checks, name, None)) for name in FINDS.values())


def test_the_checks_tests_fail_without_any_one_check() -> None:
    # One child interpreter for all of them (each pytest run is a fresh session): the module's
    # functions are looked up at each call, so taking one out and putting it back is enough.
    script = (
        "import json, sys, pytest\n"
        "import airflow_provider_cscs_dwdi.core.anomalies.checks as checks\n"
        "codes = {}\n"
        f"for name in {sorted(FINDS.values())!r}:\n"
        "    kept = getattr(checks, name)\n"
        "    setattr(checks, name, lambda *args, **kwargs: iter(()))\n"
        f"    codes[name] = int(pytest.main(['-q', '-x', '-p', 'no:cacheprovider', '--noconftest', {str(CHECKS_TESTS)!r}]))\n"
        "    setattr(checks, name, kept)\n"
        f"codes['(none removed)'] = int(pytest.main(['-q', '-p', 'no:cacheprovider', '--noconftest', {str(CHECKS_TESTS)!r}]))\n"
        "print(json.dumps(codes))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )

    assert result.returncode == 0, result.stderr[-2000:]
    codes = json.loads(result.stdout.strip().splitlines()[-1])
    failed = int(pytest.ExitCode.TESTS_FAILED)
    assert codes == {**dict.fromkeys(FINDS.values(), failed), "(none removed)": int(pytest.ExitCode.OK)}
