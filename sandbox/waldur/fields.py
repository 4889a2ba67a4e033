"""Request parsing of the Waldur double: DRF serializer fields, filters and the write inputs.

Each field parser answers ``(value, errors)`` with DRF's exact error messages, so handlers can
collect every problem of a body before answering 400 the way the real server does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sandbox.waldur.replies import error

_CENT = Decimal("0.01")
_MAX_DIGITS = 20
_DECIMAL_PLACES = 2
_REQUIRED = ["This field is required."]


@dataclass(frozen=True)
class UsageInput:
    """One valid item of a ``set_usage`` body."""

    type: str
    amount: Decimal
    description: str
    recurring: bool


@dataclass(frozen=True)
class UserUsageInput:
    """One valid per-user usage of a ``set_user_usage(s)`` body."""

    username: str
    usage: Decimal
    offering_user_uuid: str | None


def uuid_key(text: Any) -> str | None:
    """Waldur accepts dashed and undashed UUIDs; compare them in the undashed hex form."""
    try:
        return uuid.UUID(text).hex
    except (ValueError, AttributeError, TypeError):
        return None


def decimal_field(value: Any) -> tuple[Decimal | None, list[str]]:
    """DRF ``DecimalField(max_digits=20, decimal_places=2)``: the quantised value or its errors."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        return None, ["A valid number is required."]
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None, ["A valid number is required."]
    if not number.is_finite():
        return None, ["A valid number is required."]
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite numbers have an integer exponent
    decimal_places = max(0, -exponent)
    total_digits = max(len(digits), decimal_places) if exponent < 0 else len(digits) + exponent
    whole_digits = total_digits - decimal_places
    if total_digits > _MAX_DIGITS:
        return None, [f"Ensure that there are no more than {_MAX_DIGITS} digits in total."]
    if decimal_places > _DECIMAL_PLACES:
        return None, [f"Ensure that there are no more than {_DECIMAL_PLACES} decimal places."]
    if whole_digits > _MAX_DIGITS - _DECIMAL_PLACES:
        limit = _MAX_DIGITS - _DECIMAL_PLACES
        return None, [f"Ensure that there are no more than {limit} digits before the decimal point."]
    return number.quantize(_CENT, rounding=ROUND_HALF_UP), []


def char_field(value: Any, *, max_length: int | None = None) -> tuple[str | None, list[str]]:
    """DRF ``CharField``: numbers are accepted as text; null, blank and too long are errors."""
    if value is None:
        return None, ["This field may not be null."]
    if not isinstance(value, (str, int, float, Decimal)) or isinstance(value, bool):
        return None, ["Not a valid string."]
    text = str(value)
    if not text.strip():
        return None, ["This field may not be blank."]
    if max_length is not None and len(text) > max_length:
        return None, [f"Ensure this field has no more than {max_length} characters."]
    return text, []


def datetime_field(value: Any, server_zone: tzinfo | None = None) -> tuple[datetime | None, list[str]]:
    """DRF ``DateTimeField``; a naive value is in the server's time zone (UTC unless set).

    With ``server_zone`` set the value is also converted into that zone, as DRF does when
    ``USE_TZ`` is on; without it the value keeps the offset it was sent with.
    """
    try:
        # Python 3.10's fromisoformat does not know the "Z" suffix.
        parsed = (
            datetime.fromisoformat(value.removesuffix("Z") + "+00:00" if value.endswith("Z") else value)
            if isinstance(value, str)
            else None
        )
    except ValueError:
        parsed = None
    if parsed is None:
        return None, [
            "Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
        ]
    if server_zone is None:
        return (parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed), []
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=server_zone), []
    return parsed.astimezone(server_zone), []


def require_object(body: Any) -> dict[str, Any]:
    """The body as a JSON object, or DRF's 400 for anything else."""
    if not isinstance(body, dict):
        raise error(400, {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    return body


def parse_json_body(raw_body: bytes) -> Any:
    """The request body as JSON (decimals kept exact); an empty body is ``{}``; bad JSON is 400."""
    if not raw_body:
        return {}
    try:
        return json.loads(raw_body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as problem:
        raise error(400, {"detail": f"JSON parse error - {problem}"}) from None


def parse_usage_items(body: Mapping[str, Any], errors: dict[str, Any]) -> list[UsageInput] | None:
    """The ``usages`` of a set_usage body, DRF style: per-item errors listed in item order."""
    raw_items = body.get("usages")
    if raw_items is None:
        errors["usages"] = _REQUIRED
        return None
    if not isinstance(raw_items, list):
        errors["usages"] = {
            "non_field_errors": [f'Expected a list of items but got type "{type(raw_items).__name__}".']
        }
        return None
    parsed: list[UsageInput] = []
    item_errors: list[dict[str, list[str]]] = []
    for raw in raw_items:
        if not isinstance(raw, dict):
            item_errors.append({"non_field_errors": ["Invalid data. Expected a dictionary."]})
            continue
        problems: dict[str, list[str]] = {}
        component_type, type_errors = char_field(raw["type"]) if "type" in raw else (None, _REQUIRED)
        amount, amount_errors = decimal_field(raw["amount"]) if "amount" in raw else (None, _REQUIRED)
        for name, field_errors in (("type", type_errors), ("amount", amount_errors)):
            if field_errors:
                problems[name] = field_errors
        if not isinstance(raw.get("recurring", False), bool):
            problems["recurring"] = ["Must be a valid boolean."]
        item_errors.append(problems)
        if not problems and component_type is not None and amount is not None:
            parsed.append(
                UsageInput(
                    component_type, amount, str(raw.get("description", "")), raw.get("recurring", False)
                )
            )
    if any(item_errors):
        errors["usages"] = item_errors
        return None
    return parsed


def uuid_filter(
    query: Mapping[str, list[str]], name: str, *, comma_separated: bool = False
) -> set[str] | None:
    """The set of undashed uuids a filter asks for (None = no filter); 400 like django-filter."""
    if name not in query:
        return None
    raw_values = [
        part for value in query[name] for part in (value.split(",") if comma_separated else [value])
    ]
    keys = {uuid_key(value) for value in raw_values}
    if None in keys:
        raise error(400, {name: ["Enter a valid UUID."]})
    return {key for key in keys if key is not None}


def date_filter(query: Mapping[str, list[str]], name: str) -> date | None:
    """The date a filter asks for (None = no filter); 400 like django-filter."""
    if name not in query:
        return None
    try:
        return date.fromisoformat(query[name][-1])
    except ValueError:
        raise error(400, {name: ["Enter a valid date."]}) from None


def last_value(query: Mapping[str, list[str]], name: str) -> str | None:
    """The value of a single-valued filter (the last one wins, like Django's QueryDict)."""
    values = query.get(name)
    return values[-1] if values else None
