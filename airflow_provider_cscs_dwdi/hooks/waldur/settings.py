"""The ``waldur`` connection, validated: where Waldur is, how to talk to it, how hard to push."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from airflow_provider_cscs_dwdi.core.amounts import DEFAULT_MAX_USAGE_AMOUNT
from airflow_provider_cscs_dwdi.core.connection_settings import (
    DATE_SUPPORT_CHOICES,
    DEFAULT_WRITE_CONCURRENCY,
    HIGHEST_MAX_USAGE_AMOUNT,
    MAX_WRITE_CONCURRENCY,
    WaldurExtras,
    read_extras,
)
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.hooks._extras import http_base_url

__all__ = [
    "DATE_SUPPORT_CHOICES",
    "DEFAULT_WRITE_CONCURRENCY",
    "HIGHEST_MAX_USAGE_AMOUNT",
    "MAX_WRITE_CONCURRENCY",
    "WHERE",
    "WaldurSettings",
    "checked_uuid",
    "normalise_api_url",
    "parse_settings",
]


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
    #: The largest usage total the push sends; a larger one refuses the push before any request.
    max_usage_amount: Decimal = DEFAULT_MAX_USAGE_AMOUNT

    def __repr__(self) -> str:
        # The token must never reach a log or a traceback through a repr.
        return (
            f"WaldurSettings(api_url={self.api_url!r}, timeout_seconds={self.timeout_seconds}, "
            f"verify_tls={self.verify_tls}, page_size={self.page_size}, "
            f"write_concurrency={self.write_concurrency}, usage_date_support={self.usage_date_support!r}, "
            f"max_usage_amount={self.max_usage_amount})"
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
    extras = read_extras(WaldurExtras, extra, where=WHERE)
    return WaldurSettings(
        api_url=normalise_api_url(host or "", port),
        token=password,
        timeout_seconds=extras.timeout_seconds,
        verify_tls=extras.verify_tls,
        page_size=extras.page_size,
        write_concurrency=extras.write_concurrency,
        usage_date_support=extras.usage_date_support,
        max_usage_amount=extras.max_usage_amount,
    )


def checked_uuid(value: str, what: str) -> str:
    """A uuid that is safe to put into a URL path (anything else is a configuration error)."""
    try:
        return uuid.UUID(str(value)).hex
    except ValueError:
        raise ConfigurationError(f"{what} must be a UUID, got {value!r}") from None
