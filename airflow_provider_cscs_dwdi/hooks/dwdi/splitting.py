"""Request URLs with a repeated key (``account``, ``paths``, ``resource_uuid``) split to fit 8 KiB.

The real encoded URL is measured, so long or non-ASCII values are accounted for exactly: every
value adds ``&<key>=<percent-encoded value>`` after the fixed parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlencode

from airflow_provider_cscs_dwdi.hooks.dwdi.errors import DWDIConfigurationError

MAX_URL_BYTES = 8192
"""Longest request URL the hook sends (common server and proxy limit for the request line)."""

Query = Sequence[tuple[str, str]]


def request_url(endpoint: str, fixed: Query, key: str, values: Sequence[str] | None) -> str:
    """``endpoint?<fixed parameters>&key=v1&key=v2...`` (the repeated key always comes last)."""
    query = [*fixed, *((key, value) for value in values or ())]
    return f"{endpoint}?{urlencode(query)}"


def split_values(
    endpoint: str,
    fixed: Query,
    key: str,
    values: Sequence[str],
    *,
    max_url_bytes: int = MAX_URL_BYTES,
    what: str | None = None,
) -> list[list[str]]:
    """Split ``values`` greedily, in order, into batches whose request URL fits ``max_url_bytes``.

    The length is that of the URL actually sent (:func:`request_url`; the encoding is ASCII so
    characters are bytes). A value that cannot fit even alone is a configuration error naming it
    (as ``what``, default the key).
    """
    base = len(request_url(endpoint, fixed, key, None))
    batches: list[list[str]] = []
    current: list[str] = []
    length = base
    for value in values:
        # Every value adds "&<key>=<encoded>" (the fixed parameters always come first).
        cost = 1 + len(urlencode([(key, value)]))
        if base + cost > max_url_bytes:
            raise DWDIConfigurationError(
                f"{what or key} {value[:80]!r} alone makes the DWDI request URL longer than {max_url_bytes} bytes"
            )
        if current and length + cost > max_url_bytes:
            batches.append(current)
            current, length = [], base
        current.append(value)
        length += cost
    if current:
        batches.append(current)
    return batches


def unique_values(
    values: Iterable[str], what: str, *, identity: Callable[[str], str] = lambda value: value
) -> list[str]:
    """Stripped values in first-seen order without duplicates (a value repeated in two batches
    would be answered twice by DWDI and billed twice). Two values with the same ``identity`` are
    duplicates; the first spelling is kept."""
    seen: dict[str, str] = {}
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise DWDIConfigurationError(f"{what} names must be non-empty strings, got {value!r}")
        seen.setdefault(identity(value.strip()), value.strip())
    return list(seen.values())
