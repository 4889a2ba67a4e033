"""The ``cscs_dwdi`` connection, validated once: host, OIDC client, endpoint paths, TLS, proxy."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_cscs_dwdi.get_provider_info import (
    DEFAULT_COMPUTE_USAGE_PATH,
    DEFAULT_INFERENCE_COST_PATH,
    DEFAULT_STORAGE_USAGE_PATH,
)
from airflow_provider_cscs_dwdi.hooks._extras import flag_extra, http_base_url, seconds_extra
from airflow_provider_cscs_dwdi.hooks.dwdi.errors import DWDIConfigurationError

DEFAULT_SCOPE = "openid"
DEFAULT_TIMEOUT_SECONDS = 60.0
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
REDACTED = "***"


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


def display_url(url: str) -> str:
    """``url`` without user info (``user:password@``), safe for logs and messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=f"{REDACTED}@{netloc}"))


def _text_extra(extra: Mapping[str, Any], name: str) -> str | None:
    """A string extra; an absent or empty form field (None, "", blanks) means "not set"."""
    value = extra.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DWDIConfigurationError(f"DWDI connection extra {name!r} must be a string, got {value!r}")
    return value.strip() or None


def _endpoint_path(extra: Mapping[str, Any], name: str, default: str) -> str:
    """An endpoint path extra below the API URL, always starting with one ``/``."""
    path = _text_extra(extra, name) or default
    if "?" in path or "#" in path or "://" in path:
        raise DWDIConfigurationError(f"DWDI connection extra {name!r} must be a plain path, got {path!r}")
    return "/" + path.lstrip("/")


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


def _verify(extra: Mapping[str, Any]) -> bool | str:
    if not flag_extra(extra, "verify_tls", True, where="DWDI connection", error=DWDIConfigurationError):
        return False
    ca_bundle = _text_extra(extra, "ca_bundle_path")
    if ca_bundle is None:
        return True
    if not os.path.exists(ca_bundle):
        raise DWDIConfigurationError(
            f"DWDI connection extra 'ca_bundle_path': {ca_bundle!r} does not exist on this worker"
        )
    return ca_bundle


def _proxy(extra: Mapping[str, Any]) -> str | None:
    proxy = _text_extra(extra, "proxy_url")
    if proxy is None:
        return None
    parts = urlsplit(proxy)
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
        raise DWDIConfigurationError(
            f"DWDI connection extra 'proxy_url' must be a {', '.join(s + '://' for s in PROXY_SCHEMES)} URL, "
            f"got {display_url(proxy)!r}"
        )
    return proxy


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
    token_url = _text_extra(extra, "oidc_endpoint_url")
    if token_url is None:
        raise DWDIConfigurationError(
            "DWDI connection: the extra 'oidc_endpoint_url' (OIDC token endpoint URL) is missing"
        )
    return DWDISettings(
        api_url=_api_base_url(host, port),
        client_id=login.strip(),
        client_secret=password,
        token_url=_http_url(token_url, "the extra 'oidc_endpoint_url'"),
        scope=_text_extra(extra, "oidc_scope") or DEFAULT_SCOPE,
        compute_usage_path=_endpoint_path(extra, "compute_usage_path", DEFAULT_COMPUTE_USAGE_PATH),
        timeout_seconds=seconds_extra(
            extra,
            "timeout_seconds",
            DEFAULT_TIMEOUT_SECONDS,
            where="DWDI connection",
            error=DWDIConfigurationError,
        ),
        verify=_verify(extra),
        proxy_url=_proxy(extra),
        storage_usage_path=_endpoint_path(extra, "storage_usage_path", DEFAULT_STORAGE_USAGE_PATH),
        inference_cost_path=_endpoint_path(extra, "inference_cost_path", DEFAULT_INFERENCE_COST_PATH),
    )
