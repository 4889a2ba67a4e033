"""Connection fields read the same way by every hook of this provider.

An empty form field (None or "") means "not set"; a bad value raises a ConfigurationError (or the
hook's subclass of it) that names the connection type and the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError


def extra_or_default(extra: Mapping[str, Any], name: str, default: Any) -> Any:
    """An extra's value; an absent or empty form field (None, "") means the default, 0 does not."""
    value = extra.get(name)
    return default if value is None or value == "" else value


def flag_extra(
    extra: Mapping[str, Any],
    name: str,
    default: bool,
    *,
    where: str,
    error: type[ConfigurationError] = ConfigurationError,
) -> bool:
    """A true/false extra (a JSON boolean, or the text "true"/"false" from a form)."""
    value = extra_or_default(extra, name, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise error(f"{where} extra {name!r} must be true or false, got {value!r}")


def seconds_extra(
    extra: Mapping[str, Any],
    name: str,
    default: float,
    *,
    where: str,
    error: type[ConfigurationError] = ConfigurationError,
) -> float:
    """A finite number of seconds > 0 (NaN or infinity would only fail later, inside requests)."""
    value = extra_or_default(extra, name, default)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not (seconds > 0 and math.isfinite(seconds)):
        raise error(f"{where} extra {name!r} must be a number > 0, got {value!r}")
    return seconds


def int_extra(
    extra: Mapping[str, Any],
    name: str,
    default: int,
    low: int,
    high: int,
    *,
    where: str,
    error: type[ConfigurationError] = ConfigurationError,
) -> int:
    """A whole number in ``low..high`` (a JSON integer, or its text from a form)."""
    value = extra_or_default(extra, name, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise error(f"{where} extra {name!r} must be an integer, got {value!r}") from None
    if isinstance(value, bool) or not low <= number <= high or str(number) != str(value).strip():
        raise error(f"{where} extra {name!r} must be in {low}..{high}, got {value!r}")
    return number


def http_base_url(
    host: str,
    port: int | None,
    *,
    what: str,
    where: str,
    error: type[ConfigurationError] = ConfigurationError,
) -> tuple[str, str, str]:
    """``(scheme, netloc, path)`` of a connection's host field (https:// when no scheme is given,
    the connection's port added when the URL has none, no trailing slash).

    Port 0 means "no port": Airflow's UI sends ``Number(null)``, i.e. 0, for a connection without
    one when it tests it, and an Airflow whose test route accepts that copies the 0 onto the tested
    connection. A port in the URL that contradicts the Port field is refused rather than one of
    them silently ignored.
    """
    text = host.strip()
    if not text:
        raise error(f"{where}: the host ({what}) is empty")
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise error(f"{where}: the host ({what}) must be an http(s) URL, got {host!r}")
    if parts.query or parts.fragment:
        raise error(f"{where}: the host ({what}) must not carry a query, got {host!r}")
    if port and parts.port and port != parts.port:
        raise error(
            f"{where}: the host ({what}) names port {parts.port} but the port field says {port}; "
            "make them agree or leave one of them empty"
        )
    netloc = f"{parts.netloc}:{port}" if port and not parts.port else parts.netloc
    return parts.scheme, netloc, parts.path.rstrip("/")
