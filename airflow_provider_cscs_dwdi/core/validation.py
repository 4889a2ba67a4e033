"""What the pydantic models of the configuration and the XCom documents share: their errors.

The models declare types, defaults and unknown-key refusal; where the provider has always said
more than pydantic's generic wording (``unknown time zone 'Mars/Base'``), a validator raises
:func:`invalid` with that sentence, or the type carries a :class:`Refusal` that words any refusal
of its value when the error is explained (the check itself stays declared, in pydantic's core).
A :class:`pydantic.ValidationError` never reaches a user: :func:`explain`, the one translator,
turns its first error into one line naming the place, in the words of the document's family
(:class:`Wording`), as :class:`~core.errors.ConfigurationError` or
:class:`~core.errors.ReportError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError
from typing_extensions import is_typeddict

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


@dataclass(frozen=True)
class Refusal:
    """Type metadata: the sentence for any refusal of the value itself (a missing one is not).

    Worded by :func:`explain` after the fact, so the check stays a declared constraint: the
    10,000 names of a report are checked in pydantic's core, not by a Python validator each.
    """

    sentence: Callable[[Any], str]
    #: The pydantic error types it words (``greater_than``); empty: every refusal of the value.
    #: One type may carry several, when its refusals need different sentences.
    errors: frozenset[str] = frozenset()


def _required(place: str, _annotation: Any) -> str:
    return f"{place}: required"


def _unknown_keys(where: str, keys: Sequence[str], allowed: Sequence[str]) -> str:
    return f"unknown key(s) at {where}: {', '.join(keys)} (allowed: {', '.join(sorted(allowed))})"


def _refused(details: ErrorDetails, _annotation: Any) -> str:
    return error_message(details)


def _placed(place: str, sentence: str) -> str:
    return f"{place}: {sentence}" if place else sentence


@dataclass(frozen=True)
class Wording:
    """How a family of documents words what pydantic refused, where no :class:`Refusal` says.

    The defaults are the offerings file's: ``storage.filesystem: required``, ``unknown key(s) at
    offering: lable (allowed: ...)`` and pydantic's own sentence (:func:`error_message`).
    """

    #: ``(place, annotation)`` -> the line for a missing field.
    missing: Callable[[str, Any], str] = _required
    #: ``(where, unknown keys, the fields allowed there in declared order)`` -> the line.
    unknown: Callable[[str, Sequence[str], Sequence[str]], str] = _unknown_keys
    #: ``(error, annotation)`` -> the sentence written after the place.
    refused: Callable[[ErrorDetails, Any], str] = _refused
    #: ``(place, sentence)`` -> the line: ``storage.filesystem: ...`` (the place may be empty).
    placed: Callable[[str, str], str] = _placed


def annotation_at(root: Any, loc: Sequence[int | str]) -> Any:
    """The annotation of the field at ``loc`` below the model ``root`` (``("failures", 0, "reason")``).

    ``None`` when ``loc`` leads nowhere the models declare. An item of a list or tuple (an int in
    ``loc``) has the annotation of the list's items, a key of a mapping that of its values.
    """
    return _declared_at(root, loc)[0]


def _declared_at(root: Any, loc: Sequence[int | str]) -> tuple[Any, tuple[Any, ...]]:
    """The annotation at ``loc`` and its metadata (the field's and its ``Annotated`` types')."""
    annotation: Any = root
    metadata: tuple[Any, ...] = ()
    for part in loc:
        annotation, metadata = _unwrapped(annotation), ()
        if isinstance(part, int):
            items = [item for item in get_args(annotation) if item is not Ellipsis]
            annotation = items[0] if items else None
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        elif is_typeddict(annotation):
            annotation = get_type_hints(annotation, include_extras=True).get(part)
        else:
            info = getattr(annotation, "__pydantic_fields__", {}).get(part)
            annotation = None if info is None else info.annotation
            metadata = () if info is None else tuple(info.metadata)
        if annotation is None:
            return None, ()
    return annotation, metadata + _metadata(annotation)


def _metadata(annotation: Any) -> tuple[Any, ...]:
    """The ``Annotated`` metadata of ``annotation``, nested ones and a nullable one's included."""
    if get_origin(annotation) is Annotated:
        return (*annotation.__metadata__, *_metadata(get_args(annotation)[0]))
    options = [option for option in get_args(annotation) if option is not type(None)]
    if type(None) in get_args(annotation) and len(options) == 1:
        return _metadata(options[0])
    return ()


def fields_at(root: Any, loc: Sequence[int | str]) -> tuple[str, ...]:
    """The field names of the model or pydantic dataclass at ``loc`` below ``root`` (or none).

    For the unknown-keys message, which lists the keys allowed where the unknown ones were.
    """
    return tuple(getattr(_unwrapped(annotation_at(root, loc)), "__pydantic_fields__", {}))


#: The location pydantic gives a refused key of a mapping, after the key itself.
_KEY = "[key]"


def explain(
    error: ValidationError,
    root: Any,
    *,
    labels: Mapping[str, Callable[[int], str]] | None = None,
    first_index: int = 1,
    prefix: tuple[str, ...] = (),
    wording: Wording = Wording(),
) -> str:
    """The first error of a document read with the model ``root``, as the one line a user reads.

    ``offering 'CSCS HPC' (#1): billing_timezone: unknown time zone 'Mars/Base'``: the item of a
    labelled list (``labels``: list field -> its item's label) names itself, then the place and
    the sentence: the provider's own (:func:`invalid`), else the :class:`Refusal` the type
    declares, else the family's ``wording``, joined to the place as the family writes it
    (``Wording.placed``). Unknown keys are listed with the keys allowed there.
    A refused key of a mapping is placed at the mapping.

    :param first_index: the number of a list's first item (``notifications[1]``; 0 in XComs).
    :param prefix: where ``root`` stands in its file (``("storage",)``), for the place.
    """
    details = first_error(error)
    full_loc = tuple(details["loc"])
    loc = full_loc
    label = ""
    if len(loc) >= 2 and isinstance(loc[1], int) and str(loc[0]) in (labels or {}):
        label = f"{(labels or {})[str(loc[0])](loc[1])}: "
        loc = loc[2:]
    if details["type"] in UNKNOWN_KEY:
        parent = full_loc[:-1]
        where = error_place((*prefix, *loc[:-1]), first_index=first_index) or (
            "offering" if label else "top level"
        )
        return label + wording.unknown(where, unknown_keys(error, parent), fields_at(root, parent))
    if details["type"] == INVALID and _names_itself(root, full_loc):
        return f"{label}{details['msg']}"
    if loc and loc[-1] == _KEY:
        mapping = _unwrapped(annotation_at(root, full_loc[:-2]))
        loc, key = loc[:-2], get_args(mapping)[:1]
        annotation, metadata = (key[0], _metadata(key[0])) if key else (None, ())
    else:
        annotation, metadata = _declared_at(root, full_loc)
    place = error_place((*prefix, *loc), first_index=first_index)
    if details["type"] == INVALID:
        sentence = details["msg"]
    elif details["type"] == "missing":
        return label + wording.missing(place, annotation)
    else:
        refusal = next(
            (
                item
                for item in metadata
                if isinstance(item, Refusal) and (not item.errors or details["type"] in item.errors)
            ),
            None,
        )
        sentence = refusal.sentence(details.get("input")) if refusal else wording.refused(details, annotation)
    return label + wording.placed(place, sentence)


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


def kind_of(value: Any) -> str:
    """The type of a wrong value only (``list``; ``nothing`` for None): where the value is no help."""
    return "nothing" if value is None else type(value).__name__


def describe(value: Any) -> str:
    """A short description of a wrong value for error messages (never the whole value)."""
    if value is None:
        return "nothing"
    if isinstance(value, (str, int, float, bool)):
        return f"{type(value).__name__} {value!r}"
    return type(value).__name__
