"""What the pydantic models of the configuration and the XCom documents share: their errors.

The models declare types, defaults and unknown-key refusal; where the provider has always said
more than pydantic's generic wording (``unknown time zone 'Mars/Base'``), a validator raises
:func:`invalid` with that sentence. A :class:`pydantic.ValidationError` never reaches a user: the
configuration and the documents turn its first error into one line naming the place
(:func:`error_place`, :func:`first_error`), as :class:`~core.errors.ConfigurationError` or
:class:`~core.errors.ReportError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

#: The error type of :func:`invalid`: its message is the provider's own sentence.
INVALID = "cscs_dwdi_invalid"


def invalid(message: str) -> PydanticCustomError:
    """An error whose message is ``message`` as it is (pydantic formats ``{...}`` in templates)."""
    return PydanticCustomError(INVALID, "{message}", {"message": message})


def first_error(error: ValidationError) -> ErrorDetails:
    """The error to report: unknown keys first (a typo explains the rest), then the first in order.

    Pydantic lists a model's field errors in field order and its unknown keys after them; the
    provider always named unknown keys first, because a misspelt key also makes its field missing.
    """
    errors = error.errors(include_url=False)
    for details in errors:
        if details["type"] == "extra_forbidden":
            return details
    return errors[0]


def unknown_keys(error: ValidationError, place: Sequence[int | str]) -> list[str]:
    """The unknown keys pydantic found at ``place`` (the location of their mapping), sorted."""
    return sorted(
        str(details["loc"][-1])
        for details in error.errors(include_url=False)
        if details["type"] == "extra_forbidden" and tuple(details["loc"][:-1]) == tuple(place)
    )


def error_place(loc: Sequence[int | str]) -> str:
    """``("storage", "path_mapping", "a1")`` -> ``storage.path_mapping.a1``; list items as ``[n]``."""
    place = ""
    for part in loc:
        if isinstance(part, int):
            place += f"[{part}]"
        else:
            place += f".{part}" if place else str(part)
    return place


def error_message(details: ErrorDetails) -> str:
    """The sentence of one error: the provider's own for :func:`invalid`, else pydantic's, shortened.

    Pydantic's wording is kept for the errors the models leave to it, without the value (which
    may be long) and with the type name only: ``Input should be a valid integer, got str``.
    """
    if details["type"] == INVALID:
        return details["msg"]
    if details["type"] == "missing":
        return "required"
    return f"{details['msg']}, got {describe(details.get('input'))}"


def describe(value: Any) -> str:
    """A short description of a wrong value for error messages (never the whole value)."""
    if value is None:
        return "nothing"
    if isinstance(value, (str, int, float, bool)):
        return f"{type(value).__name__} {value!r}"
    return type(value).__name__
