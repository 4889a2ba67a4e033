"""Query-string parsing of the DWDI double: single parameters, month and day ranges."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from sandbox.dwdi_data import month_range, parse_month

MAX_RANGE_MONTHS = 120
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class QueryError(Exception):
    """A bad query parameter: answered 400 ``{"detail": message}``."""


def single(query: Mapping[str, list[str]], name: str) -> str:
    """The one non-empty value of a required parameter."""
    values = query.get(name)
    if not values or not values[-1]:
        raise QueryError(f"query parameter '{name}' is required")
    if len(values) > 1:
        raise QueryError(f"query parameter '{name}' is given {len(values)} times")
    return values[0]


def optional(query: Mapping[str, list[str]], name: str) -> str | None:
    """The one value of an optional parameter (None when absent)."""
    return single(query, name) if name in query else None


def month(query: Mapping[str, list[str]], name: str) -> str:
    """A required ``YYYY-MM`` parameter."""
    value = single(query, name)
    try:
        parse_month(value)
    except ValueError:
        raise QueryError(f"query parameter '{name}' must be YYYY-MM, got {value!r}") from None
    return value


def months(query: Mapping[str, list[str]]) -> list[str]:
    """The months of ``from``..``to`` (``YYYY-MM``, inclusive, at most 120)."""
    first, last = month(query, "from"), month(query, "to")
    if parse_month(first) > parse_month(last):
        raise QueryError(f"'from' ({first}) is after 'to' ({last})")
    result = month_range(first, last)
    if len(result) > MAX_RANGE_MONTHS:
        raise QueryError(f"the range spans {len(result)} months, at most {MAX_RANGE_MONTHS} are served")
    return result


def days(query: Mapping[str, list[str]]) -> tuple[date, date]:
    """``from``..``to`` as ``YYYY-MM-DD`` days (inclusive, under 120 months)."""
    bounds: list[date] = []
    for name in ("from", "to"):
        value = single(query, name)
        try:
            if not _DAY.match(value):
                raise ValueError(value)
            bounds.append(date.fromisoformat(value))
        except ValueError:
            raise QueryError(f"query parameter '{name}' must be YYYY-MM-DD, got {value!r}") from None
    first, last = bounds
    if first > last:
        raise QueryError(f"'from' ({first}) is after 'to' ({last})")
    if (last.year - first.year) * 12 + last.month - first.month >= MAX_RANGE_MONTHS:
        raise QueryError(f"the range is longer than {MAX_RANGE_MONTHS} months")
    return first, last
