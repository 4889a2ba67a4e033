"""The ``cscs_dwdi`` connection, validated once: host, OIDC client, endpoint paths, TLS, proxy."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_cscs_dwdi.core.connection_settings import (
    DEFAULT_INFERENCE_COST_PATH,
    DEFAULT_SCOPE,
    DEFAULT_STORAGE_USAGE_PATH,
    DEFAULT_TIMEOUT_SECONDS,
    PROXY_SCHEMES,
    REDACTED,
    DWDIExtras,
    display_url,
    read_extras,
)
from airflow_provider_cscs_dwdi.hooks._extras import http_base_url
from airflow_provider_cscs_dwdi.hooks.dwdi.errors import DWDIConfigurationError

__all__ = [
    "DEFAULT_SCOPE",
    "DEFAULT_TIMEOUT_SECONDS",
    "PROXY_SCHEMES",
    "REDACTED",
    "DWDISettings",
    "display_url",
    "parse_settings",
]


@dataclass(frozen=True)
class DWDISettings:
    """The ``cscs_dwdi`` connection, validated."""

    api_url: str  # scheme://host[:port][/prefix], no trailing slash
    client_id: str
    client_secret: str
    token_url: str
    scope: str
    compute_usage_path: str  # starts with "/", like the two paths below
    timeout_seconds: float
    verify: bool | str  # requests' ``verify``: False, True or a CA bundle path
    proxy_url: str | None
    storage_usage_path: str = DEFAULT_STORAGE_USAGE_PATH
    inference_cost_path: str = DEFAULT_INFERENCE_COST_PATH

    def __repr__(self) -> str:
        # The client secret (and a proxy password) must never reach a log or traceback via repr.
        return (
            f"DWDISettings(api_url={self.api_url!r}, client_id={self.client_id!r}, "
            f"token_url={self.token_url!r}, scope={self.scope!r}, "
            f"compute_usage_path={self.compute_usage_path!r}, "
            f"storage_usage_path={self.storage_usage_path!r}, inference_cost_path={self.inference_cost_path!r}, "
            f"timeout_seconds={self.timeout_seconds}, "
            f"verify={self.verify!r}, proxy_url={display_url(self.proxy_url) if self.proxy_url else None!r})"
        )

    @property
    def compute_usage_url(self) -> str:
        """Absolute URL of the compute usage endpoint (no query)."""
        return f"{self.api_url}{self.compute_usage_path}"

    @property
    def storage_usage_url(self) -> str:
        """Absolute URL of the storage usage endpoint (no query)."""
        return f"{self.api_url}{self.storage_usage_path}"

    @property
    def inference_cost_url(self) -> str:
        """Absolute URL of the inference cost endpoint (no query)."""
        return f"{self.api_url}{self.inference_cost_path}"


def _http_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DWDIConfigurationError(f"DWDI connection: {what} must be an http(s) URL, got {value!r}")
    return value


def _api_base_url(host: str, port: int | None) -> str:
    scheme, netloc, path = http_base_url(
        host, port, what="DWDI API URL", where="DWDI connection", error=DWDIConfigurationError
    )
    return urlunsplit((scheme, netloc, path, "", ""))


def _verify(extras: DWDIExtras) -> bool | str:
    if not extras.verify_tls:
        return False
    ca_bundle = extras.ca_bundle_path
    if ca_bundle is None:
        return True
    # Where the file is can only be checked on the worker that reads the connection.
    if not os.path.exists(ca_bundle):
        raise DWDIConfigurationError(
            f"DWDI connection extra 'ca_bundle_path': {ca_bundle!r} does not exist on this worker"
        )
    return ca_bundle


def parse_settings(
    host: str | None,
    port: int | None,
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any],
) -> DWDISettings:
    """Validate a ``cscs_dwdi`` connection; raises DWDIConfigurationError naming the bad field."""
    if not host or not host.strip():
        raise DWDIConfigurationError("DWDI connection: the host (DWDI API URL) is missing")
    if not login or not login.strip():
        raise DWDIConfigurationError("DWDI connection: the login (OIDC client ID) is missing")
    if not password:
        raise DWDIConfigurationError("DWDI connection: the password (OIDC client secret) is missing")
    extras = read_extras(DWDIExtras, extra, where="DWDI connection", error=DWDIConfigurationError)
    if extras.oidc_endpoint_url is None:
        raise DWDIConfigurationError(
            "DWDI connection: the extra 'oidc_endpoint_url' (OIDC token endpoint URL) is missing"
        )
    return DWDISettings(
        api_url=_api_base_url(host, port),
        client_id=login.strip(),
        client_secret=password,
        token_url=_http_url(extras.oidc_endpoint_url, "the extra 'oidc_endpoint_url'"),
        scope=extras.oidc_scope,
        compute_usage_path=extras.compute_usage_path,
        timeout_seconds=extras.timeout_seconds,
        verify=_verify(extras),
        proxy_url=extras.proxy_url,
        storage_usage_path=extras.storage_usage_path,
        inference_cost_path=extras.inference_cost_path,
    )
