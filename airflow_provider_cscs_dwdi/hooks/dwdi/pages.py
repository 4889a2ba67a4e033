"""What every DWDI endpoint family shares: one answer page, its check, and counting its entries.

Every family answers ``{"<family>": [...]}`` (``compute``, ``storage``, ``inference``). A page is
checked the same way for all of them, so a login page or a proxy error never passes as data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from airflow_provider_cscs_dwdi.hooks.dwdi.errors import DWDIAPIError, DWDIResponseError

BODY_EXCERPT_BYTES = 200


@dataclass(frozen=True)
class DWDIPage:
    """One DWDI answer of the storage or inference family: request ``index`` (0-based), the
    repeated-key values it asked for in ``keys`` (paths or resource UUIDs; None = all), the HTTP
    status, the raw body exactly as received and the parsed body (floats as Decimal; None when
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
    connection extra that sets the endpoint's path.
    """

    name: str
    list_key: str
    key: str
    item: str
    entry_key: str
    extra: str

    def count_entries(self, raw: bytes) -> int:
        """Entries of a raw answer of this family, counted from their keys without parsing it."""
        return count_keys(raw, self.entry_key)


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
