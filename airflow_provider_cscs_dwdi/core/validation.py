"""What the pydantic models of the configuration and the XCom documents share: their errors.

The models declare types, defaults and unknown-key refusal; where the provider has always said
more than pydantic's generic wording (``unknown time zone 'Mars/Base'``), a validator raises
:func:`invalid` with that sentence. A :class:`pydantic.ValidationError` never reaches a user: the
configuration and the documents turn its first error into one line naming the place
(:func:`error_place`, :func:`first_error`), as :class:`~core.errors.ConfigurationError` or
:class:`~core.errors.ReportError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, get_args, get_origin

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

#: The error type of :func:`invalid`: its message is the provider's own sentence.
INVALID = "cscs_dwdi_invalid"
#: Pydantic's error types for a key the model does not have (models; pydantic dataclasses).
UNKNOWN_KEY = frozenset({"extra_forbidden", "unexpected_keyword_argument"})
#: Field metadata: the field's own error sentences already name it and its setting
#: (``storage.filesystem: expected a non-empty string``), so the place is not written twice.
NAMES_ITS_PLACE = "cscs_dwdi_names_its_place"
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


def annotation_at(root: Any, loc: Sequence[int | str]) -> Any:
    """The annotation of the field at ``loc`` below the model ``root`` (``("failures", 0, "reason")``).

    ``None`` when ``loc`` leads nowhere the models declare. An item of a list or tuple (an int in
    ``loc``) has the annotation of the list's items.
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
        if annotation is None:
            return None
    return annotation


def fields_at(root: Any, loc: Sequence[int | str]) -> tuple[str, ...]:
    """The field names of the model or pydantic dataclass at ``loc`` below ``root`` (or none).

    For the unknown-keys message, which lists the keys allowed where the unknown ones were.
    """
    return tuple(getattr(_unwrapped(annotation_at(root, loc)), "__pydantic_fields__", {}))


def explain(
    error: ValidationError,
    root: Any,
    *,
    labels: Mapping[str, Callable[[int], str]] | None = None,
    first_index: int = 1,
    prefix: tuple[str, ...] = (),
) -> str:
    """The first error of a document read with the model ``root``, as the one line a user reads.

    ``offering 'CSCS HPC' (#1): billing_timezone: unknown time zone 'Mars/Base'``: the item of a
    labelled list (``labels``: list field -> its item's label) names itself, then the place and
    the sentence (:func:`error_message`); unknown keys are listed with the keys allowed there.

    :param prefix: where ``root`` stands in its file (``("storage",)``), for the place.
    """
    details = first_error(error)
    loc = tuple(details["loc"])
    label = ""
    if len(loc) >= 2 and isinstance(loc[1], int) and str(loc[0]) in (labels or {}):
        label = f"{(labels or {})[str(loc[0])](loc[1])}: "
        loc = loc[2:]
    if details["type"] in UNKNOWN_KEY:
        parent = tuple(details["loc"])[:-1]
        where = error_place((*prefix, *loc[:-1]), first_index=first_index) or (
            "offering" if label else "top level"
        )
        allowed = sorted(fields_at(root, parent))
        return (
            f"{label}unknown key(s) at {where}: {', '.join(unknown_keys(error, parent))} "
            f"(allowed: {', '.join(allowed)})"
        )
    if details["type"] == INVALID and _names_itself(root, tuple(details["loc"])):
        return f"{label}{details['msg']}"
    place = error_place((*prefix, *loc), first_index=first_index)
    return f"{label}{place + ': ' if place else ''}{error_message(details)}"


def _names_itself(root: Any, loc: tuple[int | str, ...]) -> bool:
    """The field at ``loc`` is marked :data:`NAMES_ITS_PLACE`: its sentences start with its name."""
    if not loc or isinstance(loc[-1], int):
        return False
    fields = getattr(_unwrapped(annotation_at(root, loc[:-1])), "__pydantic_fields__", {})
    info = fields.get(loc[-1])
    return info is not None and NAMES_ITS_PLACE in info.metadata


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
