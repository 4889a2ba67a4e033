"""What every DWDI endpoint family shares: one answer page, its check, and counting its entries.

Every family answers ``{"<family>": [...]}`` (``compute``, ``storage``, ``inference``) and is
described by one :class:`Family`, which the hook's generic paging (``DWDIHook._iter_family``)
asks, splits, logs and merges by. A page is
checked the same way for all of them, so a login page or a proxy error never passes as data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from airflow_provider_cscs_dwdi.hooks.dwdi.errors import DWDIAPIError, DWDIResponseError

BODY_EXCERPT_BYTES = 200


@dataclass(frozen=True)
class DWDIPage:
    """One DWDI answer of any family (compute hands it on as ``UsagePage``): request ``index``
    (0-based), the repeated-key values it asked for in ``keys`` (accounts, paths or resource UUIDs;
    None = all), the HTTP status, the raw body exactly as received and the parsed body (floats as Decimal; None when
    the page was fetched with ``parse=False``)."""

    index: int
    keys: list[str] | None
    status: int
    raw: bytes = field(repr=False)
    data: dict[str, Any] | None = field(repr=False)


@dataclass(frozen=True)
class Family:
    """An endpoint family whose request repeats one key: what the hook needs to ask and to check.

    ``name`` names it in messages, ``list_key`` is the answer's list (``{"storage": [...]}``),
    ``key`` the repeated query key, ``item`` what one value of it is called in messages,
    ``entry_key`` the key every answer entry carries (counted for the fetch log) and ``extra`` the
    connection extra that sets the endpoint's path (None: a 404 is reported like any other
    status). ``repeated`` names the values in the "Ignoring repeated" log (default ``item``);
    a family whose entries list users (compute) names that list in ``users_key`` and the key
    every user row carries in ``user_key``, so the logs count user rows too.
    """

    name: str
    list_key: str
    key: str
    item: str
    entry_key: str
    extra: str | None
    repeated: str | None = None
    users_key: str | None = None
    user_key: str | None = None

    def count_entries(self, raw: bytes) -> int:
        """Entries of a raw answer of this family, counted from their keys without parsing it."""
        return count_keys(raw, self.entry_key)

    def count_user_rows(self, raw: bytes) -> int:
        """User rows of a raw answer, counted from their keys (0 for a family without users)."""
        return 0 if self.user_key is None else count_keys(raw, self.user_key)

    def missing(self, path: str) -> MissingEndpoint | None:
        """How a 404 of the family's endpoint at ``path`` is explained (None: as any status)."""
        return None if self.extra is None else MissingEndpoint(self.name, path, self.extra)

    def page_counts(self, raw: bytes) -> str:
        """``"12 entries"`` (``"12 entries, 40 user rows"`` with users) of a raw page, for the log."""
        counts = f"{self.count_entries(raw)} entries"
        return counts if self.user_key is None else f"{counts}, {self.count_user_rows(raw)} user rows"

    def merged_counts(self, entries: Sequence[Any]) -> str:
        """``"12 entries"`` (``"12 entries, 40 user rows"`` with users) of merged entries, for the log."""
        counts = f"{len(entries)} entries"
        if self.users_key is None:
            return counts
        users = sum(len(entry.get(self.users_key) or ()) for entry in entries if isinstance(entry, dict))
        return f"{counts}, {users} user rows"


@dataclass(frozen=True)
class MissingEndpoint:
    """How to explain a 404 of a family's endpoint: the family, its path and the extra that sets it."""

    family: str
    path: str
    extra: str

    def message(self, describe: str, excerpt: str) -> str:
        """The 404 message: what is missing, where, and which connection extra to set."""
        return (
            f"{describe}: this DWDI release has no {self.family} API at {self.path}: set {self.extra} "
            f"(connection extra) to this DWDI's {self.family} endpoint (HTTP 404: {excerpt!r})"
        )


def check_answer(
    status: int,
    body: bytes,
    content_type: str,
    *,
    describe: str,
    list_key: str,
    parse: bool,
    excerpt: Callable[[bytes], str],
    missing: MissingEndpoint | None = None,
) -> dict[str, Any] | None:
    """The parsed body of a 200 ``{list_key: [...]}`` answer (None with ``parse=False``).

    With ``parse=False`` only a cheap check runs (a JSON object mentioning ``list_key``): the
    caller archives the raw body and parses it once, later, where it is aggregated. Errors name
    the status, content type, size and first bytes (``excerpt`` redacts secrets).

    :raises DWDIAPIError: any status but 200 (with ``missing``, a 404 says which extra to set).
    :raises DWDIResponseError: a 200 whose body is not the documented JSON object.
    """
    if status != 200:
        shown = excerpt(body)
        if status == 404 and missing is not None:
            raise DWDIAPIError(missing.message(describe, shown), status=status, excerpt=shown)
        raise DWDIAPIError(
            f"{describe}: DWDI API answered {status} ({content_type or 'no content type'}): {shown!r}",
            status=status,
            excerpt=shown,
        )
    shape = f'is not the documented {{"{list_key}": [...]}} object'
    problem = None
    data: Any = None
    if not parse:
        stripped = body.strip()
        if not (stripped.startswith(b"{") and stripped.endswith(b"}")):
            problem = "is not a JSON object"
        elif f'"{list_key}"'.encode() not in stripped:
            problem = shape
        elif "json" not in content_type.lower():
            problem = "is not declared as JSON"
    else:
        try:
            data = json.loads(body, parse_float=Decimal)
        except ValueError:
            problem = "is not JSON"
        if problem is None and not (isinstance(data, dict) and isinstance(data.get(list_key), list)):
            problem = shape
    if problem is not None:
        shown = excerpt(body)
        raise DWDIResponseError(
            f"{describe}: the DWDI answer {problem} (HTTP {status}, content type "
            f"{content_type or 'none'!r}, {len(body)} bytes, first bytes: {shown!r})",
            status=status,
            content_type=content_type,
            excerpt=shown,
        )
    return data if isinstance(data, dict) else None


def count_keys(raw: bytes, key: str) -> int:
    """How often ``"key":`` occurs as an object key in a raw JSON answer, without parsing it.

    In valid JSON a quoted name followed by a colon is always an object key (a string value is
    followed by ``,``, ``]`` or ``}``, and quotes inside strings are escaped), so the count is exact.
    """
    return len(re.findall(rb'"' + re.escape(key.encode()) + rb'"\s*:', raw))
