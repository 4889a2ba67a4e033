"""The request parameters the view accepts: each refused with a message naming the parameter.

Pure Python, imports nothing from Airflow.
"""

from __future__ import annotations

import re

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.months import Month

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_]{0,199}$")
_BACKEND_ID = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")
MAX_PAGE_SIZE = 1000


class ViewInputError(ValueError):
    """A request parameter the view refuses (answered with 400 or 404, naming the parameter)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def check_slug(text: str) -> str:
    """An offering slug as the DAG factory makes them (lower-case, digits, underscores)."""
    if not isinstance(text, str) or not _SLUG.match(text):
        raise ViewInputError(f"offering: {text[:40]!r} is not an offering slug (a-z, 0-9, _)")
    return text


def check_month(text: str) -> str:
    """A ``YYYY-MM`` month with a real month number (``2026-13`` is refused)."""
    try:
        if isinstance(text, str) and str(Month.parse(text)) == text:
            return text
    except ConfigurationError:
        pass
    raise ViewInputError(f"month: {str(text)[:40]!r} is not a month YYYY-MM with MM in 01..12")


def check_backend_id(text: str) -> str:
    if not isinstance(text, str) or not _BACKEND_ID.match(text) or text in {".", ".."}:
        raise ViewInputError(f"resource: {text[:40]!r} is not a backend ID")
    return text
