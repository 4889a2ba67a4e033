"""DWDIHook against the real OIDC issuer and the DWDI double over loopback. The connection's settings and the URL splitting of repeated keys (pure functions)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.hooks.dwdi import (
    MAX_URL_BYTES,
    DWDIConfigurationError,
    compute_usage_url,
    parse_settings,
    request_url,
    split_accounts,
    split_values,
)
from tests.hooks.dwdi.helpers import (
    CLIENT,
    MONTH,
    SECRET,
)


def test_split_accounts_keeps_every_url_within_the_limit() -> None:
    endpoint = "https://dwdi.example/api/v1/compute/usage-month/account"
    # Names needing percent-encoding make the encoded length differ from the raw one.
    accounts = [f"g{n:04d}" for n in range(1000)] + ["ä/ß&=?" * 5, "x" * 300]
    batches = split_accounts(endpoint, MONTH, MONTH, accounts, ["daint", "eiger"])
    assert [a for batch in batches for a in batch] == accounts
    lengths = [len(compute_usage_url(endpoint, MONTH, MONTH, b, ["daint", "eiger"])) for b in batches]
    assert len(batches) > 1
    assert max(lengths) <= MAX_URL_BYTES
    # Greedy: each batch is full, i.e. the next account would not have fit.
    for batch, following in itertools.pairwise(batches):
        longer = compute_usage_url(endpoint, MONTH, MONTH, [*batch, following[0]], ["daint", "eiger"])
        assert len(longer) > MAX_URL_BYTES


def test_an_account_longer_than_a_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="longer than 8192"):
        split_accounts("https://dwdi.example/p", MONTH, MONTH, ["a" * 9000])


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"host": None}, "host (DWDI API URL)"),
        ({"login": ""}, "login (OIDC client ID)"),
        ({"password": None}, "password (OIDC client secret)"),
        ({"extra": {}}, "oidc_endpoint_url"),
        ({"extra": {"oidc_endpoint_url": "  "}}, "oidc_endpoint_url"),
        ({"extra": {"oidc_endpoint_url": "ftp://x/token"}}, "oidc_endpoint_url"),
        ({"extra": {"oidc_endpoint_url": "https://i/t", "timeout_seconds": 0}}, "timeout_seconds"),
        ({"extra": {"oidc_endpoint_url": "https://i/t", "timeout_seconds": "inf"}}, "timeout_seconds"),
        ({"extra": {"oidc_endpoint_url": "https://i/t", "verify_tls": "maybe"}}, "verify_tls"),
        (
            {"extra": {"oidc_endpoint_url": "https://i/t", "ca_bundle_path": "/nonexistent.pem"}},
            "ca_bundle_path",
        ),
        ({"extra": {"oidc_endpoint_url": "https://i/t", "proxy_url": "ftp://p:1"}}, "proxy_url"),
    ],
)
def test_incomplete_connections_name_the_missing_field(fields: dict[str, Any], named: str) -> None:
    values: dict[str, Any] = {
        "host": "https://dwdi.example",
        "port": None,
        "login": CLIENT,
        "password": SECRET,
        "extra": {"oidc_endpoint_url": "https://issuer.example/token"},
        **fields,
    }
    with pytest.raises(DWDIConfigurationError) as raised:
        parse_settings(values["host"], values["port"], values["login"], values["password"], values["extra"])
    assert named in str(raised.value)
    assert SECRET not in str(raised.value)


def test_settings_defaults_and_repr_hides_the_secret() -> None:
    settings = parse_settings(
        "dwdi.example/base/",
        None,
        CLIENT,
        SECRET,
        {
            "oidc_endpoint_url": "https://issuer.example/token",
            "proxy_url": "socks5h://user:pw@localhost:1080",
        },
    )
    assert settings.compute_usage_url == "https://dwdi.example/base/api/v1/compute/usage-month-multiaccount"
    assert (settings.scope, settings.timeout_seconds, settings.verify) == ("openid", 60.0, True)
    assert SECRET not in repr(settings)
    assert ":pw@" not in repr(settings)


def test_storage_and_inference_paths_default_and_follow_their_extras() -> None:
    extra = {"oidc_endpoint_url": "https://issuer.example/token"}
    defaults = parse_settings("dwdi.example/base", None, CLIENT, SECRET, extra)
    assert defaults.storage_usage_url == "https://dwdi.example/base/api/v1/storage/usage-month"
    assert defaults.inference_cost_url == "https://dwdi.example/base/api/v1/inference/resource/cost"
    custom = parse_settings(
        "dwdi.example",
        None,
        CLIENT,
        SECRET,
        {**extra, "storage_usage_path": "api/v2/storage/month", "inference_cost_path": " /ai/cost "},
    )
    assert (custom.storage_usage_path, custom.inference_cost_path) == ("/api/v2/storage/month", "/ai/cost")
    assert "/api/v2/storage/month" in repr(custom)


@pytest.mark.parametrize("name", ["storage_usage_path", "inference_cost_path"])
@pytest.mark.parametrize("value", ["/x?exact-month=1", "https://other.example/x", 7])
def test_bad_endpoint_paths_name_their_extra(name: str, value: Any) -> None:
    with pytest.raises(DWDIConfigurationError, match=name):
        parse_settings(
            "dwdi.example", None, CLIENT, SECRET, {"oidc_endpoint_url": "https://i.example/t", name: value}
        )


@pytest.mark.parametrize(("key", "value"), [("paths", "/capstor/store/cscs/p"), ("resource_uuid", "0" * 32)])
def test_split_values_is_generic_over_the_repeated_key(key: str, value: str) -> None:
    endpoint = "https://dwdi.example/api/v1/x"
    fixed = [("exact-month", MONTH), ("filesystem", "capstor")]
    values = [f"{value}{n:05d}" for n in range(3_000)]
    batches = split_values(endpoint, fixed, key, values)
    assert [v for batch in batches for v in batch] == values
    urls = [request_url(endpoint, fixed, key, batch) for batch in batches]
    assert max(len(url) for url in urls) <= MAX_URL_BYTES
    assert all(url.count(f"&{key}=") == len(batch) for url, batch in zip(urls, batches, strict=True))
    for batch, following in itertools.pairwise(batches):
        assert len(request_url(endpoint, fixed, key, [*batch, following[0]])) > MAX_URL_BYTES
    with pytest.raises(DWDIConfigurationError, match=f"{key} 'xxx"):
        split_values(endpoint, fixed, key, ["x" * 9_000])
