"""What every request handler of the Waldur double works with: the request, its context, a route."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.waldur.replies import Reply
from sandbox.waldur.serialisers import Serialisers
from sandbox.waldur.state import VERSIONS, Principal, WaldurState


@dataclass(frozen=True)
class Request:
    """An authenticated ``/api`` request that passed the schema check (HEAD is routed as GET)."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    principal: Principal
    path_params: dict[str, str]


@dataclass(frozen=True)
class Context:
    """The state a handler reads and writes and the serialisers it answers with."""

    state: WaldurState
    serialise: Serialisers


Handler = Callable[[Context, Request], Reply]


@dataclass(frozen=True)
class Route:
    """One endpoint: method, path pattern (named groups become ``path_params``) and handler.

    ``filters`` lists the query parameters a list route implements (pagination parameters are
    always allowed); ``versions`` the Waldur versions that have the endpoint at all.
    """

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    filters: frozenset[str] | None = None
    versions: tuple[str, ...] = VERSIONS


#: A path segment holding an object's uuid, captured as ``path_params["uuid"]``.
UUID_SEGMENT = r"(?P<uuid>[^/]+)"
