"""HTTP answers of the Waldur double and the DRF-style errors that produce them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

Headers = tuple[tuple[str, str], ...]

#: What Django answers for a URL no route matches (HTML, not JSON, like the real server).
DJANGO_NOT_FOUND = (
    b'<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n'
    b"  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n"
)


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, body bytes, content type and extra headers."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: Headers = ()


class ApiError(Exception):
    """Stops handling and answers ``reply`` (the way DRF turns exceptions into responses)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def json_reply(status: int, payload: Any, headers: Headers = ()) -> Reply:
    """``payload`` as JSON the way DRF renders it (decimals as strings, UTC as ``Z``)."""
    body = json.dumps(payload, default=_json_default).encode()
    return Reply(status, body, "application/json", headers)


def error(status: int, payload: Any, headers: Headers = ()) -> ApiError:
    """An :class:`ApiError` answering ``payload`` as JSON with ``status``."""
    return ApiError(json_reply(status, payload, headers))


def not_found() -> ApiError:
    """DRF's 404 for a detail route whose object does not exist."""
    return error(404, {"detail": "Not found."})
