"""HTTP answers of the DWDI double and the one-shot behaviours (faults, delays, raw bodies) queued
for its next requests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

WWW_AUTHENTICATE = 'Bearer error="invalid_token"'


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, body, content type and extra headers."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Queued:
    """A one-shot behaviour (fault, delay, raw response) used by the next ``remaining`` requests."""

    remaining: int
    reply: Reply | None = None
    seconds: float = 0.0


def json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """``payload`` as JSON (a float NaN is written as the bare token ``NaN``, as some servers do)."""
    return Reply(status, json.dumps(payload).encode(), "application/json", headers)


def unauthorized(detail: str) -> Reply:
    """401 ``{"detail": ...}`` with the bearer challenge."""
    return json_reply(401, {"detail": detail}, (("WWW-Authenticate", WWW_AUTHENTICATE),))


def not_found() -> Reply:
    """404 as the real API answers an unknown path."""
    return json_reply(404, {"detail": "Not Found"})


def take(queue: list[Queued]) -> Queued | None:
    """Consume one use of the first queued item that has uses left (FIFO)."""
    for item in queue:
        if item.remaining > 0:
            item.remaining -= 1
            return item
    return None


def decimal_strings(value: Any) -> Any:
    """``value`` with every Decimal (nested in dicts and lists) as its exact string, for JSON."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: decimal_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decimal_strings(item) for item in value]
    return value
