"""The DWDI and Waldur connections of a migrated offering, shared by offerings with equal ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

from airflow_provider_cscs_dwdi.core.config import slugify
from airflow_provider_cscs_dwdi.migration.model import ConnectionSpec, Migration

#: Proxy schemes the ``cscs_dwdi`` connection accepts (``proxy_url`` extra).
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


class AgentOffering(Protocol):
    """The offering being migrated, as its connections need it."""

    @property
    def name(self) -> str: ...

    @property
    def raw(self) -> Mapping[str, Any]: ...

    @property
    def settings(self) -> Mapping[str, Any]: ...

    @property
    def migration(self) -> Migration: ...

    def must_fix(self, key: str, reason: str) -> None: ...

    def noted(self, key: str, reason: str) -> None: ...


def dwdi_connection(offering: AgentOffering) -> str:
    """The id of the offering's DWDI connection (written once per set of credentials)."""
    keys = {
        "host": "cscs_dwdi_api_url",
        "login": "cscs_dwdi_client_id",
        "password": "cscs_dwdi_client_secret",
        "oidc_endpoint_url": "cscs_dwdi_oidc_token_url",
    }
    values = {field_name: offering.settings.get(key) for field_name, key in keys.items()}
    extra: dict[str, Any] = {}
    if values["oidc_endpoint_url"]:
        extra["oidc_endpoint_url"] = str(values["oidc_endpoint_url"])
    scope = offering.settings.get("cscs_dwdi_oidc_scope")
    if scope:
        extra["oidc_scope"] = str(scope)
    proxy = offering.settings.get("socks_proxy")
    if proxy:
        scheme = str(proxy).split("://", 1)[0].lower()
        if scheme in PROXY_SCHEMES:
            extra["proxy_url"] = str(proxy)
        else:
            offering.must_fix(
                "backend_settings.socks_proxy",
                f"a {scheme}:// proxy is not supported by the cscs_dwdi connection (proxy_url takes "
                f"{', '.join(s + '://' for s in PROXY_SCHEMES)}); the connection has no proxy_url. "
                "Set one the proxy also speaks, or DWDI may be unreachable.",
            )
    missing = [keys[name] for name, value in values.items() if not value]
    if missing:
        offering.must_fix(
            "backend_settings",
            f"missing {', '.join(missing)}: no DWDI connection was written for this offering. Create "
            "a cscs_dwdi connection (host = DWDI API URL, login = OIDC client ID, password = client "
            "secret, extra oidc_endpoint_url = token endpoint) and name it in dwdi_conn_id.",
        )
        return _conn_id(offering, "cscs_dwdi", None)
    spec = ConnectionSpec(
        conn_id="",
        conn_type="cscs_dwdi",
        host=str(values["host"]),
        login=str(values["login"]),
        password=str(values["password"]),
        extra=extra,
    )
    offering.noted("backend_settings.cscs_dwdi_client_secret", "moved to the DWDI connection's password.")
    return _conn_id(offering, "cscs_dwdi", spec)


def waldur_connection(offering: AgentOffering) -> str:
    """The id of the offering's Waldur connection (written once per URL, token and TLS setting)."""
    url, token = offering.raw.get("waldur_api_url"), offering.raw.get("waldur_api_token")
    if not url or not token:
        missing = [key for key, value in (("waldur_api_url", url), ("waldur_api_token", token)) if not value]
        offering.must_fix(
            ", ".join(missing),
            "missing in the agent's file: no Waldur connection was written for this offering. Create "
            "a waldur connection (host = Waldur API URL, password = a non-expiring token) and name "
            "it in waldur_conn_id.",
        )
        return _conn_id(offering, "waldur", None)
    extra: dict[str, Any] = {}
    if offering.raw.get("verify_ssl") is False:
        extra["verify_tls"] = False
        offering.noted("verify_ssl", "false: carried as verify_tls false in the Waldur connection.")
    spec = ConnectionSpec(conn_id="", conn_type="waldur", host=str(url), password=str(token), extra=extra)
    offering.noted("waldur_api_token", "moved to the Waldur connection's password.")
    return _conn_id(offering, "waldur", spec)


def _conn_id(offering: AgentOffering, prefix: str, spec: ConnectionSpec | None) -> str:
    """The id of ``spec``: an identical connection of an earlier offering is reused; the first
    of each type is ``<prefix>_default`` (the hooks' default), others ``<prefix>_<name>``."""
    if spec is not None:
        for connection in offering.migration.connections:
            if dataclasses.replace(connection, conn_id="") == spec:
                return connection.conn_id
    taken = {connection.conn_id for connection in offering.migration.connections}
    conn_id = (
        f"{prefix}_default"
        if f"{prefix}_default" not in taken
        else f"{prefix}_{slugify(offering.name) or 'offering'}"
    )
    if spec is not None:
        offering.migration.connections.append(dataclasses.replace(spec, conn_id=conn_id))
    return conn_id
