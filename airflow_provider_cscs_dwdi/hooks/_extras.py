"""The host field, read the same way by every hook of this provider.

The extras are declared and checked by their models (``core.connection_settings``); the host is a
standard connection field, so its URL rules live here with the hooks.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError


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
