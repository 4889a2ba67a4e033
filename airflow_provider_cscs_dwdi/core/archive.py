"""The audit archive of raw DWDI responses: gzip-compressed JSON lines.

Line 1 is a header (month, window, query, requested accounts; for storage and inference also the
usage kind and the key maps); every further line is one DWDI response page with the body exactly as DWDI sent it, except that line breaks become spaces (JSON
allows them only between tokens, so the document is unchanged). Readers stream the file line by
line, so memory is bounded by the largest page, not by the month.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import IO, Any, Protocol

from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError

ARCHIVE_FORMAT = "cscs-dwdi-archive"
ARCHIVE_VERSION = 1
# Fast compression: the archive is written once per run and the month's raw JSON is large
# (hundreds of MB for big offerings); level 3 keeps most of the size gain at a fraction of the CPU.
COMPRESS_LEVEL = 3
_LINE_BREAKS = bytes.maketrans(b"\r\n", b"  ")


class ArchiveError(CscsDwdiError):
    """An archive is not in the documented format (or was damaged)."""


class _CountingHashingWriter:
    """Binary sink that counts and hashes the compressed bytes on their way to the real file."""

    def __init__(self, target: IO[bytes]) -> None:
        self._target = target
        self.digest = hashlib.sha256()
        self.bytes_written = 0

    def write(self, chunk: bytes) -> int:
        self.digest.update(chunk)
        self.bytes_written += len(chunk)
        self._target.write(chunk)
        return len(chunk)

    def flush(self) -> None:
        self._target.flush()


class ArchiveWriter:
    """Write one archive into a binary file object (local file or object storage stream).

    Use as a context manager; ``sha256`` and ``bytes_written`` describe the compressed file and
    are final once the context has exited.
    """

    def __init__(self, target: IO[bytes]) -> None:
        self._sink = _CountingHashingWriter(target)
        # mtime=0 keeps the bytes reproducible: the same responses give the same checksum.
        self._gzip = gzip.GzipFile(fileobj=self._sink, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0)
        self._header_written = False

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if not self._gzip.closed:
            self._gzip.close()

    @property
    def sha256(self) -> str:
        return self._sink.digest.hexdigest()

    @property
    def bytes_written(self) -> int:
        return self._sink.bytes_written

    def write_header(
        self,
        *,
        month: str,
        window: Mapping[str, str],
        query: Mapping[str, Any],
        accounts: Sequence[str] | None,
        created: datetime | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the header line; ``details`` adds fields (storage and inference: ``usage_kind``
        and the key maps that turn DWDI's paths or UUIDs back into backend IDs)."""
        header = {
            "format": ARCHIVE_FORMAT,
            "version": ARCHIVE_VERSION,
            "month": month,
            "window": dict(window),
            "query": dict(query),
            "accounts": None if accounts is None else list(accounts),
            "created": (created or datetime.now(UTC)).isoformat(),
            **(details or {}),
        }
        self._gzip.write(json.dumps(header, separators=(",", ":")).encode() + b"\n")
        self._header_written = True

    def write_page(self, index: int, status: int, accounts: Sequence[str] | None, raw: bytes) -> None:
        """Append one DWDI response body (raw bytes, valid JSON) as a page line."""
        if not self._header_written:
            raise ArchiveError("write_header() must come before the first page")
        prefix = json.dumps(
            {"page": index, "status": status, "accounts": None if accounts is None else list(accounts)},
            separators=(",", ":"),
        )
        # Splice the raw body in unparsed: re-serialising would change DWDI's number formatting
        # and cost a second JSON encode of the whole month.
        self._gzip.write(prefix[:-1].encode() + b',"body":' + raw.strip().translate(_LINE_BREAKS) + b"}\n")


class ReadableBytes(Protocol):
    """What :func:`read_archive` reads from: a binary file, or a :class:`ChecksumReader` around one."""

    def read(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, /) -> object: ...


class ChecksumReader:
    """Read-only file wrapper that hashes what passes through, to verify an archive's sha256.

    ``read_archive(ChecksumReader(raw))`` streams the archive; :meth:`drain` then hashes what the
    gzip reader left unread (its trailer), so :meth:`hexdigest` covers the whole file.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self._digest.update(chunk)
        return chunk

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0, /) -> int:
        # Skipping or re-reading bytes would make the checksum lie; gzip reads sequentially anyway.
        raise io.UnsupportedOperation("ChecksumReader reads sequentially: seeking would break the sha256")

    def drain(self) -> None:
        """Read (and hash) the rest of the file."""
        while self.read(1 << 16):
            pass

    def hexdigest(self) -> str:
        """The sha256 of everything read so far."""
        return self._digest.hexdigest()


def read_archive(source: ReadableBytes) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """Open an archive; returns its header and a lazy iterator over its pages.

    Numbers are parsed as ``Decimal`` so no value is ever rounded through a float.

    :raises ArchiveError: when the header is missing or of an unknown format/version, or a page
        line is not valid JSON (the message names the line number).
    """
    stream = gzip.GzipFile(fileobj=source, mode="rb")
    first = stream.readline()
    try:
        header = json.loads(first)
    except ValueError as error:
        raise ArchiveError(f"archive header is not JSON: {first[:80]!r}") from error
    if not isinstance(header, dict) or header.get("format") != ARCHIVE_FORMAT:
        raise ArchiveError(f"not a {ARCHIVE_FORMAT} file (header {str(header)[:80]!r})")
    if header.get("version") != ARCHIVE_VERSION:
        raise ArchiveError(f"unsupported archive version {header.get('version')!r}")

    def pages() -> Iterator[dict[str, Any]]:
        for line_number, line in enumerate(stream, start=2):
            if not line.strip():
                continue
            try:
                page = json.loads(line, parse_float=Decimal)
            except ValueError as error:
                raise ArchiveError(f"archive line {line_number} is not valid JSON: {error}") from error
            if not isinstance(page, dict) or "body" not in page:
                raise ArchiveError(f"archive line {line_number} is not a page record")
            yield page

    return header, pages()


def missing_archive_message(archive_url: str, *, written_on: str | None, read_on: str) -> str:
    """Why the archive at ``archive_url`` is not there, and the fix, for the aggregate task's failure.

    The usual cause is scale-out: the fetch task ran on one worker and wrote to its local disk
    (the default ``archive_path``), the aggregate task runs on another worker. ``written_on`` is
    the host recorded in the fetch result (None for results written before it was recorded).
    """
    writer = f"host {written_on}" if written_on else "a worker host that was not recorded"
    message = f"Archive {archive_url} written on {writer} is not readable on host {read_on}"
    if not archive_url.startswith("file://"):
        return f"{message}: it does not exist (deleted, or expired in the object store); nothing was pushed."
    if written_on == read_on:
        # Pods or containers that share one hostname look like one host: a re-run would land on
        # another worker's disk again and fail the same way, so it is not the advice.
        return (
            f"{message}: nothing was pushed. The fetch and this task report the same hostname, so the "
            "hosts cannot be told apart: either the file was deleted or moved after the fetch, or (with "
            "several workers, e.g. pods or containers sharing one hostname) the archive location is not "
            "shared between workers and the fetch wrote to another worker's local disk. Fix: set "
            "archive_path to storage every worker reaches (e.g. archive_path: s3://conn_id@bucket/dwdi "
            "with an Airflow connection for the object store, or a mount shared by every worker), or "
            "give each worker a distinct hostname so this message can name both hosts. Running the "
            "month again without that change fails the same way."
        )
    return (
        f"{message}: archive_path is the worker's local disk (file://); nothing was pushed. With workers "
        "on several hosts set archive_path to storage they all reach (e.g. archive_path: "
        "s3://bucket/dwdi with an Airflow connection for the object store, or a mount shared by every "
        "worker), then re-run the month."
    )
