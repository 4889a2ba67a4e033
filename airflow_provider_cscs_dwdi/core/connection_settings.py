"""The extras of the provider's two connection types, declared once: form, defaults, ranges, checks.

:class:`DWDIExtras` and :class:`WaldurExtras` are the only declaration of each extra. Their JSON
Schema gives the connection forms (:func:`conn_fields`, read by ``get_provider_info``), their
validation reads a stored connection (:func:`read_extras`, used by the hooks' settings). A form
sends text, so a number or a flag is also read from its text (``"8"``, ``"true"``); an absent or
empty field (None, ``""``) means the default, 0 does not. A bad value is named as
``Waldur connection extra 'page_size' must be in 1..100, got 0``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from annotated_types import Ge, Gt, Le
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)

from airflow_provider_cscs_dwdi.core.amounts import DEFAULT_MAX_USAGE_AMOUNT
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.validation import INVALID, invalid

DEFAULT_COMPUTE_USAGE_PATH = "/api/v1/compute/usage-month-multiaccount"
DEFAULT_STORAGE_USAGE_PATH = "/api/v1/storage/usage-month"
DEFAULT_INFERENCE_COST_PATH = "/api/v1/inference/resource/cost"
DEFAULT_SCOPE = "openid"
DEFAULT_TIMEOUT_SECONDS = 60.0
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
REDACTED = "***"
DATE_SUPPORT_CHOICES = ("auto", "honoured", "ignored")
#: ``page_size`` when the connection does not set it, and the most Waldur answers with.
MAX_PAGE_SIZE = 100
#: ``write_concurrency`` when the connection does not set it: chosen from benchmarks/bench_push.py
#: (see docs/benchmarks.md, "Why 8 by default"), and the most a connection may ask for.
DEFAULT_WRITE_CONCURRENCY = 8
MAX_WRITE_CONCURRENCY = 32
#: The highest ``max_usage_amount`` a connection may set: 18 digits before the point is where
#: DRF refuses any amount (400, "no more than 20 digits").
HIGHEST_MAX_USAGE_AMOUNT = Decimal("999999999999999999.99")


def _worded(sentence: Callable[[Any], str]) -> WrapValidator:
    """A refusal as ``sentence(value)``; a sentence a rule below already chose is kept."""

    def validate(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            raise invalid(first["msg"] if first["type"] == INVALID else sentence(value)) from None

    return WrapValidator(validate)


def _whole_from_text(value: Any) -> Any:
    # A form sends "8"; "8.0", "08" or a bool are not the integer someone meant (refused below).
    if isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            raise invalid(f"must be an integer, got {value!r}") from None
        return number if str(number) == value.strip() else value
    if isinstance(value, int | float):
        return value
    raise invalid(f"must be an integer, got {value!r}")


def whole(low: int, high: int) -> Any:
    """An integer from ``low`` to ``high`` (its text from a form too)."""
    return Annotated[
        int,
        Strict(),
        Ge(low),
        Le(high),
        BeforeValidator(_whole_from_text),
        _worded(lambda value: f"must be in {low}..{high}, got {value!r}"),
    ]


def _number_from_text(value: Any) -> Any:
    if isinstance(value, bool):
        return math.nan  # `true` is a typo, not one second
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    return value


#: A finite number of seconds > 0 (NaN or infinity would only fail later, inside requests).
Seconds = Annotated[
    float,
    Gt(0),
    Field(allow_inf_nan=False),
    BeforeValidator(_number_from_text),
    _worded(lambda value: f"must be a number > 0, got {value!r}"),
]


def _flag_from_text(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


#: true or false (a JSON boolean, or its text from a form).
Flag = Annotated[
    bool,
    Strict(),
    BeforeValidator(_flag_from_text),
    _worded(lambda value: f"must be true or false, got {value!r}"),
]


def _text(value: Any) -> Any:
    if not isinstance(value, str):
        raise invalid(f"must be a string, got {value!r}")
    return value.strip() or None


#: A text extra; blanks mean "not set".
OptionalText = Annotated[str | None, BeforeValidator(_text)]


def _plain_path(path: str) -> str:
    if "?" in path or "#" in path or "://" in path:
        raise invalid(f"must be a plain path, got {path!r}")
    return "/" + path.lstrip("/")


def endpoint_path(default: str) -> Any:
    """An endpoint path below the API URL, always starting with one ``/`` (blank: ``default``)."""
    return Annotated[str, BeforeValidator(lambda value: _text(value) or default), AfterValidator(_plain_path)]


def display_url(url: str) -> str:
    """``url`` without user info (``user:password@``), safe for logs and messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=f"{REDACTED}@{netloc}"))


def _proxy(proxy: str | None) -> str | None:
    if proxy is None:
        return None
    parts = urlsplit(proxy)
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
        raise invalid(
            f"must be a {', '.join(s + '://' for s in PROXY_SCHEMES)} URL, got {display_url(proxy)!r}"
        )
    return proxy


def _amount(value: Any) -> Any:
    if isinstance(value, bool):
        raise invalid("")  # worded below, like any other amount it cannot read
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return Decimal("NaN")


def _cents(amount: Decimal) -> Decimal:
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError("more than 2 decimals")
    return amount


def _amount_refused(value: Any) -> str:
    return f"must be an amount > 0 with at most 2 decimals, up to {HIGHEST_MAX_USAGE_AMOUNT}, got {value!r}"


def _wording_amount(value: Any, handler: Callable[[Any], Any]) -> Any:
    try:
        return handler(value)
    except ValidationError:
        raise invalid(_amount_refused(value)) from None


#: An amount > 0 with at most 2 decimals, up to what Waldur's usage column holds.
UsageAmount = Annotated[
    Decimal,
    Gt(0),
    Le(HIGHEST_MAX_USAGE_AMOUNT),
    Field(allow_inf_nan=False),
    AfterValidator(_cents),
    BeforeValidator(_amount),
    WrapValidator(_wording_amount),
    WithJsonSchema({"type": "string"}),
]

DateSupport = Annotated[
    Literal["auto", "honoured", "ignored"],
    BeforeValidator(lambda value: str(value).strip().lower()),
    _worded(
        lambda value: f"must be one of {', '.join(DATE_SUPPORT_CHOICES)}, got {str(value).strip().lower()!r}"
    ),
]


class _Extras(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {key: item for key, item in value.items() if item is not None and item != ""}
        return value


class DWDIExtras(_Extras):
    """The extras of a ``cscs_dwdi`` connection (host, login and password are its own fields)."""

    oidc_endpoint_url: OptionalText = Field(
        default=None,
        title="OIDC token endpoint URL",
        description=(
            "Required. The issuer's OAuth2 token endpoint, e.g. "
            "https://identity.example/realms/cscs/protocol/openid-connect/token"
        ),
        json_schema_extra={"format": "uri"},
    )
    oidc_scope: Annotated[str, BeforeValidator(lambda value: _text(value) or DEFAULT_SCOPE)] = Field(
        default=DEFAULT_SCOPE, title="OIDC scope", description="Scope requested with the client credentials."
    )
    compute_usage_path: endpoint_path(DEFAULT_COMPUTE_USAGE_PATH) = Field(  # type: ignore[valid-type]
        default=DEFAULT_COMPUTE_USAGE_PATH,
        title="Compute usage path",
        description=(
            "Path of the monthly compute usage endpoint below the API URL. Newer DWDI releases use "
            "/api/v1/compute/usage-month/account."
        ),
    )
    storage_usage_path: endpoint_path(DEFAULT_STORAGE_USAGE_PATH) = Field(  # type: ignore[valid-type]
        default=DEFAULT_STORAGE_USAGE_PATH,
        title="Storage usage path",
        description=(
            "Path of the monthly storage usage endpoint below the API URL (asked with exact-month and "
            "repeated paths). Only used by offerings that report storage."
        ),
    )
    inference_cost_path: endpoint_path(DEFAULT_INFERENCE_COST_PATH) = Field(  # type: ignore[valid-type]
        default=DEFAULT_INFERENCE_COST_PATH,
        title="Inference cost path",
        description=(
            "Path of the inference cost endpoint below the API URL (asked with from, to and repeated "
            "resource_uuid). Only used by offerings that report inference."
        ),
    )
    timeout_seconds: Seconds = Field(
        default=DEFAULT_TIMEOUT_SECONDS,
        title="Timeout (seconds)",
        description="Per-request connect and read timeout.",
    )
    verify_tls: Flag = Field(
        default=True, title="Verify TLS", description="Verify the API's and the issuer's TLS certificates."
    )
    ca_bundle_path: OptionalText = Field(
        default=None, title="CA bundle path", description="Optional CA bundle file used for TLS verification."
    )
    proxy_url: Annotated[OptionalText, AfterValidator(_proxy)] = Field(
        default=None,
        title="Proxy URL",
        description=(
            "Optional proxy for the API and the issuer: http://, https://, socks5:// or socks5h:// "
            "(for example an SSH tunnel at socks5h://localhost:12345). Masked in logs."
        ),
    )


class WaldurExtras(_Extras):
    """The extras of a ``waldur`` connection (host, port and the API token are its own fields)."""

    timeout_seconds: Seconds = Field(
        default=DEFAULT_TIMEOUT_SECONDS,
        title="Timeout (seconds)",
        description="Per-request connect and read timeout.",
    )
    verify_tls: Flag = Field(default=True, title="Verify TLS", description="Verify Waldur's TLS certificate.")
    page_size: whole(1, MAX_PAGE_SIZE) = Field(  # type: ignore[valid-type]
        default=MAX_PAGE_SIZE,
        title="Page size",
        description="Items per page when listing (Waldur caps it at 100).",
    )
    write_concurrency: whole(1, MAX_WRITE_CONCURRENCY) = Field(  # type: ignore[valid-type]
        default=DEFAULT_WRITE_CONCURRENCY,
        title="Write concurrency",
        description="Usage writes sent in parallel.",
    )
    usage_date_support: DateSupport = Field(
        default="auto",
        title="Past-month writes",
        description=(
            "Whether the server honours the usage 'date' (Waldur 8.x) so past months can be written. "
            "auto detects it; ignored refuses every past month (Waldur 7.x would overwrite the current one)."
        ),
    )
    max_usage_amount: UsageAmount = Field(
        default=DEFAULT_MAX_USAGE_AMOUNT,
        title="Largest usage amount",
        description=(
            "The largest usage total a push sends. A larger one fails the push before anything is "
            "written (Waldur 7.0.7 cannot store 10^12 or more; such a total usually means a wrong "
            "unit_factor)."
        ),
    )


ExtrasT = TypeVar("ExtrasT", bound=_Extras)


def read_extras(
    model: type[ExtrasT],
    extra: Mapping[str, Any],
    *,
    where: str,
    error: type[ConfigurationError] = ConfigurationError,
) -> ExtrasT:
    """A connection's extras, validated; ``error`` names the connection and the extra.

    :raises ConfigurationError: (or ``error``) ``Waldur connection extra 'page_size' must be in 1..100, got 0``.
    """
    try:
        return model.model_validate(extra)
    except ValidationError as failure:
        details = failure.errors(include_url=False)[0]
        raise error(f"{where} extra {details['loc'][0]!r} {details['msg']}") from None


#: The JSON Schema keywords an Airflow connection form field takes over from the model.
_FORM_KEYWORDS = ("default", "enum", "format", "minimum", "maximum", "exclusiveMinimum")


def conn_fields(model: type[_Extras]) -> dict[str, dict[str, Any]]:
    """The ``conn-fields`` of a connection type (``get_provider_info``): one optional form field
    per extra, ``null`` allowed so an empty field means the default."""
    fields: dict[str, dict[str, Any]] = {}
    for name, prop in model.model_json_schema()["properties"].items():
        typed = next((option for option in prop.get("anyOf", [prop]) if option.get("type") != "null"), prop)
        schema: dict[str, Any] = {"type": [typed["type"], "null"]}
        for keyword in _FORM_KEYWORDS:
            value = prop.get(keyword, typed.get(keyword))
            if value is not None:
                schema[keyword] = value
        fields[name] = {"label": prop["title"], "description": prop["description"], "schema": schema}
    return fields
