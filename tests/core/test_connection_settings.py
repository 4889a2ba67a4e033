"""The connection extras' models: one declaration for the form, the docs tables and the checks."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.connection_settings import (
    DWDIExtras,
    WaldurExtras,
    conn_fields,
    read_extras,
)
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "connections"
_ROW = re.compile(r"^\| (`\w+`(?: / `\w+`)*) \| .* \| (.+) \|$")


def documented_extras(page: str) -> dict[str, str]:
    """extra -> the default cell of the page's extras table (a row may name several extras)."""
    rows: dict[str, str] = {}
    for line in (DOCS / page).read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            for name in re.findall(r"`(\w+)`", match.group(1)):
                rows[name] = match.group(2).strip()
    return rows


def shown_default(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


@pytest.mark.parametrize(("model", "page"), [(DWDIExtras, "dwdi.md"), (WaldurExtras, "waldur.md")])
def test_the_docs_table_lists_every_extra_of_the_model_with_its_default(model: Any, page: str) -> None:
    documented = documented_extras(page)

    assert set(documented) == set(model.model_fields)
    for name, field in model.model_fields.items():
        if name == "oidc_endpoint_url":
            assert documented[name] == "**required**"  # optional in the form, required by the hook
        elif name != "ca_bundle_path":  # shares its row (and the default cell) with verify_tls
            assert documented[name] == shown_default(field.default), name


@pytest.mark.parametrize("model", [DWDIExtras, WaldurExtras])
def test_every_form_field_allows_null_and_carries_the_models_default(model: Any) -> None:
    for name, field in conn_fields(model).items():
        assert "null" in field["schema"]["type"], name
        default = model.model_fields[name].default
        if default is not None:
            assert str(field["schema"]["default"]) == str(default), name


def test_empty_form_fields_mean_the_defaults_and_text_is_read_as_numbers_and_flags() -> None:
    extras = read_extras(
        WaldurExtras,
        {"page_size": "", "timeout_seconds": None, "write_concurrency": " 4 ", "verify_tls": "False"},
        where="Waldur connection",
    )

    assert (extras.page_size, extras.timeout_seconds, extras.write_concurrency) == (100, 60.0, 4)
    assert extras.verify_tls is False
    assert extras.max_usage_amount == Decimal("999999999999.99")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"page_size": 0}, "Waldur connection extra 'page_size' must be in 1..100, got 0"),
        ({"page_size": True}, "Waldur connection extra 'page_size' must be in 1..100, got True"),
        ({"page_size": "8.0"}, "Waldur connection extra 'page_size' must be an integer, got '8.0'"),
        (
            {"timeout_seconds": "inf"},
            "Waldur connection extra 'timeout_seconds' must be a number > 0, got 'inf'",
        ),
        ({"verify_tls": "yes"}, "Waldur connection extra 'verify_tls' must be true or false, got 'yes'"),
        (
            {"usage_date_support": " Sometimes "},
            "Waldur connection extra 'usage_date_support' must be one of auto, honoured, ignored, got 'sometimes'",
        ),
        ({"max_usage_amount": "1.005"}, "Waldur connection extra 'max_usage_amount' must be an amount > 0"),
    ],
)
def test_a_bad_extra_is_named_with_its_value(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        read_extras(WaldurExtras, extra, where="Waldur connection")

    assert str(raised.value).startswith(message)


def test_a_dwdi_path_is_plain_and_starts_with_one_slash() -> None:
    extras = read_extras(DWDIExtras, {"compute_usage_path": "api/v2/usage", "oidc_scope": "  "}, where="DWDI")

    assert extras.compute_usage_path == "/api/v2/usage"
    assert extras.oidc_scope == "openid"
    with pytest.raises(ConfigurationError, match=r"^DWDI extra 'storage_usage_path' must be a plain path"):
        read_extras(DWDIExtras, {"storage_usage_path": "/x?y=1"}, where="DWDI")
