"""The ``waldur`` connection, validated: where Waldur is, how to talk to it, how hard to push."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_cscs_dwdi.core.amounts import DEFAULT_MAX_USAGE_AMOUNT
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
#: The highest ``max_usage_amount`` a connection may set: 18 digits before the point is where
#: DRF refuses any amount (400, "no more than 20 digits").
HIGHEST_MAX_USAGE_AMOUNT = Decimal("999999999999999999.99")


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
        max_usage_amount=_amount_extra(extra, "max_usage_amount", DEFAULT_MAX_USAGE_AMOUNT),
    )


def _amount_extra(extra: Mapping[str, Any], name: str, default: Decimal) -> Decimal:
    """An amount > 0 with at most 2 decimals, up to what Waldur's usage column holds."""
    value = extra_or_default(extra, name, default)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        amount = Decimal("NaN")
    if (
        isinstance(value, bool)
        or not amount.is_finite()
        or not 0 < amount <= HIGHEST_MAX_USAGE_AMOUNT
        or amount != amount.quantize(Decimal("0.01"))
    ):
        raise ConfigurationError(
            f"{WHERE} extra {name!r} must be an amount > 0 with at most 2 decimals, up to "
            f"{HIGHEST_MAX_USAGE_AMOUNT}, got {value!r}"
        )
    return amount


def checked_uuid(value: str, what: str) -> str:
    """A uuid that is safe to put into a URL path (anything else is a configuration error)."""
    try:
        return uuid.UUID(str(value)).hex
    except ValueError:
        raise ConfigurationError(f"{what} must be a UUID, got {value!r}") from None
