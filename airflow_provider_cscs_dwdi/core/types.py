"""Reusable value types of the offerings file: each declares its constraint once and words its error.

A type here is ``Annotated[<base>, <declared constraint>, worded(...)]``: pydantic checks the
declared constraint (which also feeds the JSON Schema), and :func:`worded` only turns a refusal of
the value itself into the provider's sentence (``not a valid Airflow connection id: 'waldur prod'``).
Errors from deeper inside the value (an item of a list, a field of a nested model) pass through
unchanged, named by their own place. The few types with a rule no constraint can declare (a UUID
in Waldur's spelling, a known time zone, cluster names compared without case) add it as an
``AfterValidator``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from annotated_types import Ge, Le, MinLen
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Strict,
    StringConstraints,
    ValidationError,
    WrapValidator,
)

from airflow_provider_cscs_dwdi.core.usage_date import parse_clock_time
from airflow_provider_cscs_dwdi.core.validation import describe, invalid

SLUG_PATTERN = re.compile(r"^[a-z0-9_]+$")
CONNECTION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
#: ``HH:MM``, 00:00 to 23:59 (spaces around it allowed, as YAML may keep them).
CLOCK_PATTERN = r"^\s*([01][0-9]|2[0-3]):[0-5][0-9]\s*$"


def worded(sentence: Callable[[Any], str], *, items: bool = False) -> WrapValidator:
    """Word a refusal of the value itself as ``sentence(value)``; deeper errors keep their place.

    :param items: a list whose items are plain values: a refused item is worded too.
    """
    depth = 1 if items else 0

    def validate(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError as error:
            if all(len(details["loc"]) <= depth for details in error.errors(include_url=False)):
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
_Stripped = Annotated[str, Strict(), StringConstraints(strip_whitespace=True, min_length=1)]
NonEmptyText = Annotated[_Stripped, worded(_non_empty)]

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


def whole_number(low: int, high: int) -> Any:
    """An ``int`` from ``low`` to ``high``; a bool (``true`` in YAML) is a typo, not a number."""
    return Annotated[
        int,
        Strict(),
        Ge(low),
        Le(high),
        worded(lambda value: f"expected a whole number from {low} to {high}, got {value!r}"),
    ]


def _list_of_strings(value: Any) -> str:
    if not isinstance(value, list | tuple) or not value:
        return f"expected a non-empty list of strings, got {describe(value)}"
    bad = next((item for item in value if not isinstance(item, str) or not item.strip()), None)
    return f"every item must be a non-empty string, got {bad!r}"


#: A non-empty list of non-blank strings (stripped), e.g. tags.
TextList = Annotated[tuple[_Stripped, ...], MinLen(1), worded(_list_of_strings, items=True)]

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
    "Slug",
    "TextList",
    "TimeZoneName",
    "WaldurUuid",
    "lower_case",
    "none_as",
    "one_of",
    "refused_text",
    "stripped",
    "whole_number",
    "worded",
]
