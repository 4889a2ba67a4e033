"""The raw-response archive: what is written is read back exactly, and damage is detected."""

from __future__ import annotations

import gzip
import io
import json
from decimal import Decimal

import pytest

from airflow_provider_cscs_dwdi.core.archive import (
    ArchiveError,
    ArchiveWriter,
    ChecksumReader,
    missing_archive_message,
    read_archive,
)

WINDOW = {"from": "2026-11-01", "to": "2026-11-23"}
QUERY = {"from": "2026-11", "to": "2026-11", "clusters": None}


def write(
    pages: list[tuple[list[str] | None, bytes]], accounts: list[str] | None = None
) -> tuple[bytes, ArchiveWriter]:
    buffer = io.BytesIO()
    with ArchiveWriter(buffer) as archive:
        archive.write_header(month="2026-11", window=WINDOW, query=QUERY, accounts=accounts)
        for index, (page_accounts, raw) in enumerate(pages):
            archive.write_page(index, 200, page_accounts, raw)
    return buffer.getvalue(), archive


def test_round_trip_keeps_numbers_exact_and_pages_in_order() -> None:
    raw_pages = [
        (["g1"], b'{"compute": [{"account": "g1", "totalNodeHours": 0.1,\n "users": []}]}'),
        (["g2"], b'{\r\n"compute": [{"account": "g2", "totalNodeHours": 12345678901234567890.125}]}\n'),
    ]
    data, _ = write(raw_pages, accounts=["g1", "g2"])

    header, pages = read_archive(io.BytesIO(data))
    assert header["month"] == "2026-11"
    assert header["accounts"] == ["g1", "g2"]
    assert header["window"] == WINDOW
    pages = list(pages)
    assert [page["page"] for page in pages] == [0, 1]
    assert [page["accounts"] for page in pages] == [["g1"], ["g2"]]
    assert pages[0]["body"]["compute"][0]["totalNodeHours"] == Decimal("0.1")
    assert pages[1]["body"]["compute"][0]["totalNodeHours"] == Decimal("12345678901234567890.125")


def test_checksum_and_size_describe_the_compressed_bytes() -> None:
    import hashlib

    data, archive = write([(None, b'{"compute": []}')])
    assert archive.bytes_written == len(data)
    assert archive.sha256 == hashlib.sha256(data).hexdigest()


def test_reading_through_the_checksum_reader_verifies_the_whole_file() -> None:
    data, archive = write([(["g1"], b'{"compute": []}'), (["g2"], b'{"compute": []}')])

    reader = ChecksumReader(io.BytesIO(data))
    _header, pages = read_archive(reader)
    assert len(list(pages)) == 2
    reader.drain()

    assert reader.hexdigest() == archive.sha256
    damaged = ChecksumReader(io.BytesIO(data[:-1] + bytes([data[-1] ^ 1])))
    damaged.drain()
    assert damaged.hexdigest() != archive.sha256
    # A skip or a re-read would make the checksum lie: seeking is refused, as unseekable files do.
    with pytest.raises(io.UnsupportedOperation, match="seeking would break the sha256"):
        reader.seek(0)


def test_raw_body_is_kept_verbatim_apart_from_line_breaks() -> None:
    raw = b'{"compute":[{"account":"g1","totalNodeHours":1.50,"users":[{"username":"a","nodeHours":1.50}]}]}'
    data, _ = write([(["g1"], raw)])
    lines = gzip.decompress(data).splitlines()
    assert len(lines) == 2
    assert lines[1].endswith(b',"body":' + raw + b"}")


def test_header_only_archive_has_no_pages() -> None:
    data, _ = write([], accounts=[])
    header, pages = read_archive(io.BytesIO(data))
    assert header["accounts"] == []
    assert list(pages) == []


def test_foreign_or_damaged_files_are_refused() -> None:
    with pytest.raises(ArchiveError, match="not a cscs-dwdi-archive"):
        read_archive(io.BytesIO(gzip.compress(b'{"format": "other"}\n')))
    with pytest.raises(ArchiveError, match="header is not JSON"):
        read_archive(io.BytesIO(gzip.compress(b"hello\n")))
    header = json.dumps({"format": "cscs-dwdi-archive", "version": 1}).encode()
    _, pages = read_archive(io.BytesIO(gzip.compress(header + b"\n{broken\n")))
    with pytest.raises(ArchiveError, match="line 2"):
        list(pages)


def test_page_before_header_is_a_programming_error() -> None:
    with pytest.raises(ArchiveError, match="write_header"):
        ArchiveWriter(io.BytesIO()).write_page(0, 200, None, b"{}")


@pytest.mark.parametrize(
    ("url", "written_on", "expected"),
    [
        (
            "file:///data/a.jsonl.gz",
            "worker-a",
            "Archive file:///data/a.jsonl.gz written on host worker-a is not readable on host worker-b: "
            "archive_path is the worker's local disk (file://)",
        ),
        (
            "file:///data/a.jsonl.gz",
            "worker-b",
            "Archive file:///data/a.jsonl.gz written on host worker-b is not readable on host worker-b: "
            "nothing was pushed. The fetch and this task report the same hostname, so the hosts cannot be "
            "told apart",
        ),
        (
            "file:///data/a.jsonl.gz",
            None,
            "written on a worker host that was not recorded is not readable on host worker-b: archive_path",
        ),
        (
            "s3://bucket/dwdi/a.jsonl.gz",
            "worker-a",
            "Archive s3://bucket/dwdi/a.jsonl.gz written on host worker-a is not readable on host worker-b: "
            "it does not exist",
        ),
    ],
)
def test_a_missing_archive_is_explained_by_where_it_was_written(
    url: str, written_on: str | None, expected: str
) -> None:
    message = missing_archive_message(url, written_on=written_on, read_on="worker-b")

    assert expected in message
    assert "nothing was pushed" in message
    # Only a local disk seen from another host calls for shared storage.
    assert ("s3://bucket/dwdi with an Airflow connection" in message) == (
        url.startswith("file://") and written_on != "worker-b"
    )


def test_equal_hostnames_name_the_unshared_archive_and_both_fixes_and_never_advise_a_re_run() -> None:
    message = missing_archive_message(
        "file:///data/a.jsonl.gz", written_on="airflow-worker", read_on="airflow-worker"
    )

    assert "the hosts cannot be told apart" in message
    assert "the archive location is not shared between workers" in message
    assert "set archive_path to storage every worker reaches (e.g. archive_path: s3://" in message
    assert "give each worker a distinct hostname" in message
    assert "re-run" not in message.lower()
    assert "Running the month again without that change fails the same way." in message
