"""Reusable value types of the offerings file: each declares its constraint once and words its error.

A type here is ``Annotated[<base>, <declared constraint>, worded(...)]``: pydantic checks the
declared constraint (which also feeds the JSON Schema), and :func:`worded` only turns a refusal of
the value itself into the provider's sentence (``not a valid Airflow connection id: 'waldur prod'``).
Errors from deeper inside the value (an item of a list, a field of a nested model) pass through
unchanged, named by their own place. A type may instead carry a
:class:`~core.validation.Refusal`: the same sentence, written by the translator after pydantic's
core refused the value, with no Python validator at all. The few types with a rule no constraint
can declare (a UUID in Waldur's spelling, a known time zone, cluster names compared without case)
add it as an ``AfterValidator``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from annotated_types import Ge, Gt, Le, MinLen
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Strict,
    StringConstraints,
    ValidationError,
    WrapValidator,
)

from airflow_provider_cscs_dwdi.core.usage_date import parse_clock_time
from airflow_provider_cscs_dwdi.core.validation import INVALID, Refusal, describe, invalid

SLUG_PATTERN = re.compile(r"^[a-z0-9_]+$")
CONNECTION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
#: ``HH:MM``, 00:00 to 23:59 (spaces around it allowed, as YAML may keep them).
CLOCK_PATTERN = r"^\s*([01][0-9]|2[0-3]):[0-5][0-9]\s*$"


def worded(sentence: Callable[[Any], str], *, items: bool = False) -> WrapValidator:
    """Word a refusal of the value itself as ``sentence(value)``; deeper errors keep their place,
    and so does a sentence a rule inside the type already chose (:func:`~core.validation.invalid`).

    :param items: a list whose items are plain values: a refused item is worded too.
    """
    depth = 1 if items else 0

    def validate(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError as error:
            errors = error.errors(include_url=False)
            if errors[0]["type"] != INVALID and all(len(details["loc"]) <= depth for details in errors):
                raise invalid(sentence(value)) from None
            raise

    return WrapValidator(validate)


def _non_empty(value: Any) -> str:
    return f"expected a non-empty string, got {describe(value)}"


def refused_text(rule: Callable[[str], str]) -> Callable[[Any], str]:
    """A non-string or blank value is named as such; a string that breaks ``rule`` by ``rule``."""
    return lambda value: (
        rule(value.strip()) if isinstance(value, str) and value.strip() else _non_empty(value)
    )


#: A string with at least one character that is not a space; surrounding spaces are dropped.
StrippedText = Annotated[str, Strict(), StringConstraints(strip_whitespace=True, min_length=1)]
NonEmptyText = Annotated[StrippedText, worded(_non_empty)]

Slug = Annotated[
    str,
    Strict(),
    StringConstraints(strip_whitespace=True, min_length=1, pattern=SLUG_PATTERN.pattern),
    worded(refused_text(lambda slug: f"only a-z, 0-9 and '_' are allowed, got {slug!r}")),
]

ConnectionId = Annotated[
    str,
    Strict(),
    StringConstraints(strip_whitespace=True, min_length=1, pattern=CONNECTION_ID_PATTERN.pattern),
    worded(refused_text(lambda conn_id: f"not a valid Airflow connection id: {conn_id!r}")),
]


def _waldur_uuid(text: str) -> str:
    try:
        return uuid.UUID(text).hex
    except ValueError:
        raise invalid(f"not a UUID: {text!r}") from None


#: A UUID with or without dashes, kept in Waldur's own spelling: 32 lower-case hex digits.
WaldurUuid = Annotated[NonEmptyText, AfterValidator(_waldur_uuid)]


def _known_time_zone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(f"unknown time zone {text!r}") from None
    return text


#: An IANA time zone name this Python knows, e.g. ``Europe/Zurich``.
TimeZoneName = Annotated[NonEmptyText, AfterValidator(_known_time_zone)]

#: ``HH:MM`` (00:00 to 23:59), without surrounding spaces.
ClockTime = Annotated[
    str,
    Strict(),
    StringConstraints(strip_whitespace=True, min_length=1, pattern=CLOCK_PATTERN),
    worded(refused_text(lambda text: f"expected a time of day HH:MM (00:00 to 23:59), got {text!r}")),
    AfterValidator(lambda text: parse_clock_time(text).strftime("%H:%M")),
]


#: A setting's text as written (not stripped: a space in a DWDI field name is refused by name),
#: with a character that is not a space. Its sentence follows the setting's name
#: (``measured_unit must be a non-empty string, got ''``): the family's ``Wording.placed``.
SettingText = Annotated[
    str,
    Strict(),  # bytes are not text
    StringConstraints(min_length=1, pattern=r"\S"),
    Refusal(lambda value: f"must be a non-empty string, got {value!r}"),
]

#: A number > 0 used exactly as written. Pydantic's own ``Decimal`` reads a float through its
#: shortest spelling (``0.1`` is exactly 0.1, not 0.1000000000000000055...), refuses a bool
#: (``unit_factor: yes`` in YAML is not a factor of 1), NaN and infinity; ``tests/core`` holds
#: it to that. A value that is a number but not > 0 is shown as written (``got '-1.5'``).
PositiveDecimal = Annotated[
    Decimal,
    Gt(0),
    Refusal(
        lambda value: f"must be > 0, got {str(value)!r}",
        errors=frozenset({"greater_than", "finite_number"}),
    ),
    Refusal(lambda value: f"must be a number, got {value!r}"),
]


def bounded_int(low: int, high: int, sentence: Callable[[Any], str], *rules: Any) -> Any:
    """An ``int`` from ``low`` to ``high`` (``rules`` run first), refused as ``sentence(value)``.

    Strict: a bool (``true`` in YAML) is a typo, not a number.
    """
    return Annotated[(int, Strict(), Ge(low), Le(high), *rules, worded(sentence))]


def whole_number(low: int, high: int) -> Any:
    """An ``int`` from ``low`` to ``high`` in the offerings file."""
    return bounded_int(
        low, high, lambda value: f"expected a whole number from {low} to {high}, got {value!r}"
    )


def _list_of_strings(value: Any) -> str:
    if not isinstance(value, list | tuple) or not value:
        return f"expected a non-empty list of strings, got {describe(value)}"
    bad = next((item for item in value if not isinstance(item, str) or not item.strip()), None)
    return f"every item must be a non-empty string, got {bad!r}"


#: A non-empty list of non-blank strings (stripped), e.g. tags.
TextList = Annotated[tuple[StrippedText, ...], MinLen(1), worded(_list_of_strings, items=True)]

#: DWDI cluster names: compared without case, so kept lower-case, once each, sorted.
ClusterNames = Annotated[TextList, AfterValidator(lambda names: tuple(sorted({n.lower() for n in names})))]


def lower_case(value: Any) -> Any:
    """A word of a vocabulary (``Skip``, `` storage ``) as the vocabulary spells it."""
    return value.strip().lower() if isinstance(value, str) else value


def stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def one_of(words: tuple[str, ...], *, any_case: bool = False) -> WrapValidator:
    """Word the refusal of a vocabulary's value: ``expected one of fail, skip, got 'zero'``."""

    def shown(text: str) -> str:
        return text.lower() if any_case else text

    return worded(refused_text(lambda text: f"expected one of {', '.join(words)}, got {shown(text)!r}"))


def none_as(empty: Any) -> BeforeValidator:
    """``null`` in the file reads as ``empty`` (an empty list, the defaults...)."""
    return BeforeValidator(lambda value: empty if value is None else value)


__all__ = [
    "CLOCK_PATTERN",
    "CONNECTION_ID_PATTERN",
    "SLUG_PATTERN",
    "ClockTime",
    "ClusterNames",
    "ConnectionId",
    "NonEmptyText",
    "PositiveDecimal",
    "SettingText",
    "Slug",
    "StrippedText",
    "TextList",
    "TimeZoneName",
    "WaldurUuid",
    "bounded_int",
    "lower_case",
    "none_as",
    "one_of",
    "refused_text",
    "stripped",
    "whole_number",
    "worded",
]
