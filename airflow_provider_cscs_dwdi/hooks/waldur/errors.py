"""The errors WaldurHook raises, and Waldur's own error text as they quote it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import requests

from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError

EXPIRED_TOKEN_DETAIL = "Token has expired."
_ERROR_TEXT_LIMIT = 500


class WaldurAPIError(CscsDwdiError):
    """Waldur answered a request with a final error status (after any retries)."""

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class WaldurAuthError(WaldurAPIError):
    """Waldur refused the API token (401); every further call would fail the same way."""


class IncompleteListingError(WaldurAPIError):
    """A listing returned fewer distinct rows than its ``X-Result-Count`` even when read again.

    Its missing rows are not absent from Waldur: nothing may be decided from such a read.
    """


def error_detail(response: requests.Response) -> str:
    """Waldur's error text (DRF JSON or plain), shortened; bodies of error answers hold no secrets."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text.strip()
        # Django's HTML 404 page says nothing useful beyond the status.
        if body.lstrip().lower().startswith("<!doctype html") or body.lstrip().startswith("<html"):
            body = response.reason or ""
    if isinstance(body, Mapping) and set(body) == {"detail"}:
        body = body["detail"]
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return text[:_ERROR_TEXT_LIMIT]
