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
from typing import Annotated, Any, get_args, get_origin

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

#: The error type of :func:`invalid`: its message is the provider's own sentence.
INVALID = "cscs_dwdi_invalid"
#: Pydantic's error types for a key the model does not have (models; pydantic dataclasses).
UNKNOWN_KEY = frozenset({"extra_forbidden", "unexpected_keyword_argument"})
_MAPPING_EXPECTED = frozenset({"model_type", "model_attributes_type", "dataclass_type", "dict_type"})


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
        if details["type"] in UNKNOWN_KEY:
            return details
    return errors[0]


def unknown_keys(error: ValidationError, place: Sequence[int | str]) -> list[str]:
    """The unknown keys pydantic found at ``place`` (the location of their mapping), sorted."""
    return sorted(
        str(details["loc"][-1])
        for details in error.errors(include_url=False)
        if details["type"] in UNKNOWN_KEY and tuple(details["loc"][:-1]) == tuple(place)
    )


def error_place(loc: Sequence[int | str], *, first_index: int = 0) -> str:
    """``("storage", "path_mapping", "a1")`` -> ``storage.path_mapping.a1``; list items as ``[n]``.

    :param first_index: the number of a list's first item: 1 where the file counts from one
        (``notifications[1]``), as people do.
    """
    place = ""
    for part in loc:
        if isinstance(part, int):
            place += f"[{part + first_index}]"
        else:
            place += f".{part}" if place else str(part)
    return place


def fields_at(root: Any, loc: Sequence[int | str]) -> tuple[str, ...]:
    """The field names of the model or pydantic dataclass at ``loc`` below ``root`` (or none).

    For the unknown-keys message, which lists the keys allowed where the unknown ones were.
    """
    annotation: Any = root
    for part in loc:
        annotation = _unwrapped(annotation)
        if isinstance(part, int):
            items = [item for item in get_args(annotation) if item is not Ellipsis]
            annotation = items[0] if items else None
        else:
            fields = getattr(annotation, "__pydantic_fields__", {})
            annotation = fields[part].annotation if part in fields else None
    return tuple(getattr(_unwrapped(annotation), "__pydantic_fields__", {}))


def _unwrapped(annotation: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` -> ``X``."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    options = [option for option in get_args(annotation) if option is not type(None)]
    if type(None) in get_args(annotation) and len(options) == 1:
        return _unwrapped(options[0])
    return annotation


def error_message(details: ErrorDetails) -> str:
    """The sentence of one error: the provider's own for :func:`invalid`, else pydantic's, shortened.

    Pydantic's wording is kept for the errors the models leave to it, without the value (which
    may be long) and with the type name only: ``Input should be a valid integer, got str``.
    """
    if details["type"] == INVALID:
        return details["msg"]
    if details["type"] == "missing":
        return "required"
    if details["type"] in _MAPPING_EXPECTED:
        return f"expected a mapping, got {describe(details.get('input'))}"
    return f"{details['msg']}, got {describe(details.get('input'))}"


def describe(value: Any) -> str:
    """A short description of a wrong value for error messages (never the whole value)."""
    if value is None:
        return "nothing"
    if isinstance(value, (str, int, float, bool)):
        return f"{type(value).__name__} {value!r}"
    return type(value).__name__
