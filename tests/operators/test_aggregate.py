"""AggregateUsageOperator (the aggregate_usage task) without a DWDI server: the report of an
archive, and the refusal to bill from an archive or a fetch result it cannot trust.

The fetch task writing a real archive is in test_fetch.py; the whole DAG (dag.test()) in tests/e2e.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_cscs_dwdi.core.archive import ArchiveWriter
from airflow_provider_cscs_dwdi.core.components import parse_backend_components
from airflow_provider_cscs_dwdi.core.usage import BadValuePolicy
from airflow_provider_cscs_dwdi.core.xcom import FetchResult, UsageReport
from airflow_provider_cscs_dwdi.operators._kinds import report_from_archive
from airflow_provider_cscs_dwdi.operators.aggregate import AggregateUsageOperator

MONTH = "2026-10"
COMPONENTS = {"nodeHours": {"measured_unit": "node-hours", "accounting_type": "usage", "label": "Node Hours"}}


def write_archive(path: Path, bodies: list[bytes], accounts: list[str]) -> dict[str, Any]:
    """An archive as the fetch task writes it, and the fetch task's XCom pointing at it."""
    with path.open("wb") as raw_file, ArchiveWriter(raw_file) as archive:
        archive.write_header(
            month=MONTH,
            window={"from": f"{MONTH}-01", "to": f"{MONTH}-31"},
            query={"from": MONTH, "to": MONTH, "clusters": None},
            accounts=accounts,
        )
        for index, body in enumerate(bodies):
            archive.write_page(index, 200, accounts, body)
    return FetchResult(
        month=MONTH,
        window={"from": f"{MONTH}-01", "to": f"{MONTH}-31"},
        query={"from": MONTH, "to": MONTH, "clusters": None},
        accounts_requested=len(accounts),
        accounts_sha256=hashlib.sha256(json.dumps(accounts).encode()).hexdigest(),
        archive=f"file://{path}",
        archive_sha256=archive.sha256,
        archive_bytes=archive.bytes_written,
        pages=len(bodies),
        entries=0,
        user_rows=0,
    ).to_xcom()


def aggregate(fetch_result: dict[str, Any], policy: str = "fail") -> dict[str, Any]:
    operator = AggregateUsageOperator(
        task_id="aggregate_usage",
        fetch_result=fetch_result,
        backend_components=COMPONENTS,
        bad_value_policy=policy,
    )
    return operator.execute({})  # type: ignore[arg-type]


GOOD = json.dumps(
    {
        "compute": [
            {"account": "g1", "cluster": "daint", "users": [{"username": "alice", "nodeHours": 1.005}]},
            {"account": "g1", "cluster": "eiger", "users": [{"username": "alice", "nodeHours": 2}]},
            {"account": "zz", "cluster": "daint", "users": [{"username": "eve", "nodeHours": 9}]},
        ]
    }
).encode()


def test_the_report_sums_clusters_and_keeps_only_requested_accounts(tmp_path: Path) -> None:
    report = aggregate(write_archive(tmp_path / "a.jsonl.gz", [GOOD], ["g1", "g2"]))

    assert report["accounts"] == {
        "g1": {"total": {"nodeHours": "3.01"}, "users": {"alice": {"nodeHours": "3.01"}}},
        "g2": {"total": {"nodeHours": "0.00"}, "users": {}},
    }
    assert report["counts"]["accounts_ignored"] == 1
    assert UsageReport.from_xcom(report).to_xcom() == report


def test_an_archive_that_changed_since_the_fetch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz"
    fetch_result = write_archive(path, [GOOD], ["g1"])
    tampered = gzip.decompress(path.read_bytes()).replace(b"1.005", b"9.005")
    path.write_bytes(gzip.compress(tampered))

    with pytest.raises(AirflowException, match="does not match the checksum"):
        aggregate(fetch_result)
    assert hashlib.sha256(path.read_bytes()).hexdigest() != fetch_result["archive_sha256"]


def test_a_bad_value_fails_naming_the_record_and_nothing_is_reported(tmp_path: Path) -> None:
    body = b'{"compute": [{"account": "g1", "users": [{"username": "bob", "nodeHours": null}]}]}'
    fetch_result = write_archive(tmp_path / "a.jsonl.gz", [body], ["g1"])

    with pytest.raises(AirflowException) as raised:
        aggregate(fetch_result)

    message = str(raised.value)
    assert "nothing was pushed" in message
    assert "page 0, compute[0].users[0]" in message
    assert "'bob'" in message
    assert "'g1'" in message
    assert "nodeHours" in message


def test_a_truncated_dwdi_answer_fails_naming_the_archive_line(tmp_path: Path) -> None:
    fetch_result = write_archive(tmp_path / "a.jsonl.gz", [GOOD, b'{"compute": [{"account": "g1"'], ["g1"])

    with pytest.raises(AirflowException, match="nothing was pushed: archive line 3 is not valid JSON"):
        aggregate(fetch_result)


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("archive", None, "fetch result: archive: expected str, got nothing"),
        ("schema_version", 2, "fetch result: schema_version: expected 1, got 2"),
    ],
)
def test_a_fetch_result_it_cannot_read_is_refused_naming_the_field(
    tmp_path: Path, key: str, value: Any, error: str
) -> None:
    fetch_result = {**write_archive(tmp_path / "a.jsonl.gz", [GOOD], ["g1"]), key: value}

    with pytest.raises(AirflowException, match=f"nothing was pushed: {error}"):
        aggregate(fetch_result)


def test_an_archive_of_another_usage_kind_than_the_fetch_is_refused(tmp_path: Path) -> None:
    fetch_result = {**write_archive(tmp_path / "a.jsonl.gz", [GOOD], ["g1"]), "usage_kind": "storage"}

    with pytest.raises(AirflowException) as raised:
        aggregate(fetch_result)

    assert str(raised.value) == (
        f"Refusing to bill from file://{tmp_path / 'a.jsonl.gz'}: the archive holds compute usage "
        "but the fetch result says storage"
    )


def test_report_from_archive_rebuilds_the_billed_report_from_the_archive_alone(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz"
    billed = aggregate(write_archive(path, [GOOD], ["g1", "g2"]))

    with path.open("rb") as raw_file:
        rebuilt = report_from_archive(
            raw_file,
            parse_backend_components(COMPONENTS),
            month=MONTH,
            clusters=None,
            policy=BadValuePolicy.FAIL,
        )

    assert rebuilt.header["accounts"] == ["g1", "g2"]
    assert rebuilt.report.window == {"from": f"{MONTH}-01", "to": f"{MONTH}-31"}  # the header's
    assert rebuilt.report.to_xcom() == billed
