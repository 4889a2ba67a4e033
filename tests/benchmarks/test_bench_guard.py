"""The guard benchmark's own checks hold at a small size (its figures are not asserted: a benchmark)."""

from __future__ import annotations

import json

import pytest

from benchmarks import bench_guard


def test_a_small_run_finds_nothing_on_a_normal_day_and_every_late_cluster(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert bench_guard.main(["--accounts", "200", "--users", "3", "--days", "5", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    # Two accounts lose their cluster: each is named by cluster_missing and total_decrease.
    assert figures["anomalies_late_cluster"] == 4
    assert figures["accounts"] == 200
