"""The three kinds of DWDI usage an offering can bill, and how storage and inference find their data.

- ``compute``: node hours per account (the Waldur resource's ``backend_id``) and per user;
- ``storage``: a level (bytes, inodes) per project path; a resource's path comes from its
  ``backend_id`` through :class:`StorageSettings`;
- ``inference``: a cost already priced by DWDI, keyed by the Waldur resource UUID.

Storage and inference have no per-user breakdown.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.validation import Refusal, explain, invalid, kind_of

_RESOURCE_UUID = re.compile(
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
#: The placeholder a storage ``path_template`` must contain, and the only one it may contain.
BACKEND_ID_PLACEHOLDER = "backend_id"


class UsageKind(StrEnum):
    """Which DWDI endpoint family an offering's usage comes from."""

    COMPUTE = "compute"
    STORAGE = "storage"
    INFERENCE = "inference"

    @property
    def has_users(self) -> bool:
        """Only compute usage is broken down per user; the others are resource totals."""
        return self is UsageKind.COMPUTE


def _not_blank(sentence: Callable[[Any], str]) -> AfterValidator:
    """Refuse text that is only spaces with ``sentence``, the words its :class:`Refusal` uses.

    The type and the length are declared (the schema says ``minLength: 1``); "not blank" is the
    one rule no constraint says without changing the schema, so it alone is checked in Python.
    """

    def check(text: str) -> str:
        if not text.strip():
            raise invalid(sentence(text))
        return text

    return AfterValidator(check)


def _non_empty_string(value: Any) -> str:
    return f"expected a non-empty string, got {value!r}"


def _non_empty_path(value: Any) -> str:
    return f"expected a non-empty path, got {value!r}"


NonBlankText = Annotated[str, Strict(), Refusal(_non_empty_string), _not_blank(_non_empty_string)]
NonBlankPath = Annotated[str, Strict(), Refusal(_non_empty_path), _not_blank(_non_empty_path)]


def _template_with_backend_id(template: str) -> str:
    problem = path_template_problem(template)
    if problem is not None:
        raise invalid(problem)
    return template


#: A storage ``path_template``: a string with ``{backend_id}`` and no other placeholder.
PathTemplate = Annotated[
    str,
    Strict(),
    Refusal(lambda value: f"expected a string, got {kind_of(value)}"),
    AfterValidator(_template_with_backend_id),
]


class StorageSettings(BaseModel):
    """Where a storage offering's usage lives in DWDI, and which path belongs to which resource.

    A resource's path is ``path_mapping[backend_id]`` when mapped, else ``path_template`` with
    ``{backend_id}`` filled in when a template is set, else the ``backend_id`` itself (as in the
    reference plugin). Built from keywords it raises :class:`ConfigurationError` naming the
    setting (``storage.filesystem: ...``), as the offerings file does.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="Storage settings",
        json_schema_extra={
            "description": (
                "Where a storage offering's levels live in DWDI. A resource's path is "
                "`path_mapping[backend_id]`, else `path_template` with `{backend_id}` filled in, "
                "else the backend ID itself."
            )
        },
    )

    filesystem: NonBlankText = Field(
        description="The DWDI filesystem whose storage is billed, e.g. `capstor`.", min_length=1
    )
    data_type: NonBlankText = Field(
        description="The DWDI data type on that filesystem, e.g. `projects` or `store`.", min_length=1
    )
    path_mapping: Annotated[
        dict[str, NonBlankPath],
        Refusal(lambda value: f"expected a mapping of backend IDs to paths, got {kind_of(value)}"),
    ] = Field(
        default={},  # pydantic copies it for each instance
        description=(
            "Backend ID -> DWDI path, for resources whose path is not the template's (or the "
            "backend ID itself). One path belongs to one resource only."
        ),
    )
    path_template: PathTemplate | None = Field(
        default=None,
        description=(
            "The DWDI path of a resource not in `path_mapping`, with `{backend_id}` filled in, "
            "e.g. `/capstor/store/cscs/{backend_id}`; without it the path is the backend ID itself."
        ),
    )

    def __init__(self, **settings: Any) -> None:
        try:
            super().__init__(**settings)
        except ValidationError as error:
            raise ConfigurationError(explain_storage_error(error)) from None

    @field_validator("path_mapping", mode="before")
    @classmethod
    def _mapping_of_backend_ids(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            return value  # refused as not a mapping, in the words of the field's Refusal
        # YAML reads an all-digit backend ID as a number; the ID is text to Waldur.
        mapping = {str(backend_id): path for backend_id, path in value.items()}
        for backend_id in mapping:
            if not backend_id.strip():
                raise invalid(f"{backend_id!r} is not a backend ID")
        return mapping

    @field_validator("path_mapping", mode="after")
    @classmethod
    def _one_resource_per_path(cls, mapping: dict[str, str]) -> dict[str, str]:
        try:
            resources_by_path(mapping, verb="map to")
        except ConfigurationError as error:
            raise invalid(str(error)) from None
        return mapping

    def path_of(self, backend_id: str) -> str:
        """The DWDI path whose storage level is billed to the resource with this backend ID."""
        mapped = self.path_mapping.get(backend_id)
        if mapped is not None:
            return mapped
        if self.path_template is not None:
            return self.path_template.format(**{BACKEND_ID_PLACEHOLDER: backend_id})
        return backend_id

    def paths_of(self, backend_ids: Iterable[str]) -> dict[str, str]:
        """``{backend_id: path}`` for these resources, in the order given.

        :raises ConfigurationError: two resources resolve to one path (e.g. a mapped path that
            is also another resource's template path), naming both: billing the level twice
            would double the invoice.
        """
        paths = {backend_id: self.path_of(backend_id) for backend_id in backend_ids}
        try:
            resources_by_path(paths)
        except ConfigurationError as error:
            raise ConfigurationError(
                f"storage: {error} (check storage.path_mapping and storage.path_template)"
            ) from None
        return paths


def resources_by_path(paths: Mapping[str, str], *, verb: str = "resolve to") -> dict[str, str]:
    """``{path: backend_id}`` of ``{backend_id: path}``: one path bills one resource.

    :raises ConfigurationError: two resources share a path, naming both (billing the level twice
        would double the invoice).
    """
    owners: dict[str, str] = {}
    for backend_id, path in paths.items():
        other = owners.setdefault(path, backend_id)
        if other != backend_id:
            raise ConfigurationError(
                f"backend IDs {other!r} and {backend_id!r} both {verb} path {path!r}; one path can be "
                "billed to one resource only"
            )
    return owners


def check_path_template(template: str) -> None:
    """A template must use ``{backend_id}`` and nothing else: another field would fail at run time."""
    problem = path_template_problem(template)
    if problem is not None:
        raise ConfigurationError(f"storage.path_template: {problem}")


def path_template_problem(template: str) -> str | None:
    """What is wrong with a storage ``path_template``, or None (see :func:`check_path_template`)."""
    try:
        fields = [
            name for _text, name, _spec, _conversion in string.Formatter().parse(template) if name is not None
        ]
    except ValueError as error:
        return f"{template!r} is not a valid template: {error}"
    if BACKEND_ID_PLACEHOLDER not in fields:
        return f"{template!r} lacks {{{BACKEND_ID_PLACEHOLDER}}}; every resource would get the same path"
    others = sorted({name for name in fields if name != BACKEND_ID_PLACEHOLDER})
    if others:
        return (
            f"{template!r} uses {', '.join('{' + name + '}' for name in others)}; "
            f"only {{{BACKEND_ID_PLACEHOLDER}}} is filled in"
        )
    return None


def explain_storage_error(error: ValidationError) -> str:
    """The first error of storage settings: ``storage.filesystem: required``, or its unknown keys."""
    return explain(error, StorageSettings, prefix=("storage",))


def normalise_resource_uuid(value: str) -> str | None:
    """A Waldur resource UUID in Waldur's spelling (32 lower-case hex digits), or None if it is none.

    DWDI may send the UUID with or without dashes, in either case.
    """
    if not isinstance(value, str) or not _RESOURCE_UUID.fullmatch(value):
        return None
    return value.replace("-", "").lower()


#: The fields of a fetch archive's header that say what it holds (see ``operators/_kinds.py``):
#: the usage kind, storage's ``{backend_id: path}``, inference's ``{uuid: backend_id}``.
KIND_FIELD = "usage_kind"
PATHS_FIELD = "paths"
RESOURCES_FIELD = "resources"
EXCLUDED_FIELD = "excluded"


def header_kind(header: Mapping[str, Any]) -> UsageKind:
    """The usage kind an archive header records (compute when absent: an older archive).

    :raises ConfigurationError: the header names a kind this provider does not know.
    """
    value = header.get(KIND_FIELD, UsageKind.COMPUTE.value)
    try:
        return UsageKind(value)
    except ValueError:
        raise ConfigurationError(f"archive header: {KIND_FIELD}: unknown usage kind {value!r}") from None
