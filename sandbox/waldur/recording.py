"""What tests read back from the Waldur double: recorded requests, injected faults and holds."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox.waldur.fields import uuid_key
from sandbox.waldur.replies import Reply, json_reply


@dataclass(frozen=True)
class RecordedRequest:
    """One ``/api`` request as the sandbox received and answered it."""

    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    status: int

    @property
    def endpoint(self) -> str:
        """Method and path with every uuid segment as ``{uuid}``, e.g.
        ``"POST /api/marketplace-component-usages/{uuid}/set_user_usages/"`` (also for a path the
        server has no route for, such as that one on 7.x)."""
        segments = ["{uuid}" if uuid_key(segment) else segment for segment in self.path.split("/")]
        return f"{self.method} {'/'.join(segments)}"


def recorded_json(raw_body: bytes) -> Any:
    """A request body as recorded: parsed JSON, or the text when it is not JSON, or None."""
    if not raw_body:
        return None
    try:
        return json.loads(raw_body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return raw_body.decode("utf-8", errors="replace")


@dataclass
class Fault:
    """A canned answer for the next ``remaining`` requests matching ``method`` and ``path_pattern``."""

    method: str
    path_pattern: re.Pattern[str]
    reply: Reply
    remaining: int
    after_processing: bool

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault still applies to a request."""
        return self.remaining > 0 and self.method == method and bool(self.path_pattern.search(path))


@dataclass
class Hold:
    """Requests matching ``method`` and ``path_pattern`` wait until :meth:`release` (or ``timeout``).

    A test uses it to catch a client in the middle of its writes (``arrived`` is set when the
    first one is held), e.g. to kill the worker that sent it; held requests are answered normally
    once released, like a server that commits what a dead client sent.
    """

    method: str
    path_pattern: re.Pattern[str]
    timeout: float
    arrived: threading.Event
    released: threading.Event

    def matches(self, method: str, path: str) -> bool:
        """Whether a request is held (until the hold is released)."""
        return not self.released.is_set() and self.method == method and bool(self.path_pattern.search(path))

    def wait(self) -> None:
        """Hold the calling request's thread until released or ``timeout``."""
        self.arrived.set()
        self.released.wait(self.timeout)

    def release(self) -> None:
        """Let every held and future request through."""
        self.released.set()


def fault_reply(status: int, body: Any, headers: dict[str, str] | None) -> Reply:
    """The reply of a fault: None = empty, str/bytes = sent as text, anything else = JSON."""
    header_items = tuple((headers or {}).items())
    if isinstance(body, (str, bytes)):
        raw = body.encode() if isinstance(body, str) else body
        return Reply(status, raw, "text/plain", header_items)
    if body is None:
        return Reply(status, b"", None, header_items)
    return json_reply(status, body, header_items)
