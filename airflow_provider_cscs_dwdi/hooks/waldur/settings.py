"""The ``waldur`` connection, validated: where Waldur is, how to talk to it, how hard to push."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.hooks._extras import (
    extra_or_default,
    flag_extra,
    http_base_url,
    int_extra,
    seconds_extra,
)

DATE_SUPPORT_CHOICES = ("auto", "honoured", "ignored")
#: ``write_concurrency`` when the connection does not set it: chosen from benchmarks/bench_push.py
#: (see docs/benchmarks.md, "Why 8 by default"), and the most a connection may ask for.
DEFAULT_WRITE_CONCURRENCY = 8
MAX_WRITE_CONCURRENCY = 32


@dataclass(frozen=True)
class WaldurSettings:
    """The connection, validated: where Waldur is, how to talk to it, how hard to push."""

    api_url: str  # always ends in "/api/"
    token: str
    timeout_seconds: float
    verify_tls: bool
    page_size: int
    write_concurrency: int
    usage_date_support: str

    def __repr__(self) -> str:
        # The token must never reach a log or a traceback through a repr.
        return (
            f"WaldurSettings(api_url={self.api_url!r}, timeout_seconds={self.timeout_seconds}, "
            f"verify_tls={self.verify_tls}, page_size={self.page_size}, "
            f"write_concurrency={self.write_concurrency}, usage_date_support={self.usage_date_support!r})"
        )


WHERE = "Waldur connection"


def normalise_api_url(host: str, port: int | None = None) -> str:
    """``waldur.example.org``, ``https://waldur.example.org/`` or ``.../api`` -> ``https://.../api/``."""
    scheme, netloc, path = http_base_url(host, port, what="Waldur API URL", where=WHERE)
    if not path.endswith("/api"):
        path = f"{path}/api"
    return f"{scheme}://{netloc}{path}/"


def parse_settings(
    host: str | None, port: int | None, password: str | None, extra: Mapping[str, Any]
) -> WaldurSettings:
    """Validate a Waldur connection's fields; raises ConfigurationError naming the bad field."""
    if not password:
        raise ConfigurationError("Waldur connection: the password (API token) is empty")
    date_support = str(extra_or_default(extra, "usage_date_support", "auto")).strip().lower()
    if date_support not in DATE_SUPPORT_CHOICES:
        raise ConfigurationError(
            f"Waldur connection extra 'usage_date_support' must be one of {', '.join(DATE_SUPPORT_CHOICES)}, "
            f"got {date_support!r}"
        )
    return WaldurSettings(
        api_url=normalise_api_url(host or "", port),
        token=password,
        timeout_seconds=seconds_extra(extra, "timeout_seconds", 60, where=WHERE),
        verify_tls=flag_extra(extra, "verify_tls", True, where=WHERE),
        page_size=int_extra(extra, "page_size", 100, 1, 100, where=WHERE),
        write_concurrency=int_extra(
            extra, "write_concurrency", DEFAULT_WRITE_CONCURRENCY, 1, MAX_WRITE_CONCURRENCY, where=WHERE
        ),
        usage_date_support=date_support,
    )


def checked_uuid(value: str, what: str) -> str:
    """A uuid that is safe to put into a URL path (anything else is a configuration error)."""
    try:
        return uuid.UUID(str(value)).hex
    except ValueError:
        raise ConfigurationError(f"{what} must be a UUID, got {value!r}") from None
