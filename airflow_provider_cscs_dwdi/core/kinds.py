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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError

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


@dataclass(frozen=True)
class StorageSettings:
    """Where a storage offering's usage lives in DWDI, and which path belongs to which resource.

    A resource's path is ``path_mapping[backend_id]`` when mapped, else ``path_template`` with
    ``{backend_id}`` filled in when a template is set, else the ``backend_id`` itself (as in the
    reference plugin).
    """

    filesystem: str
    data_type: str
    path_mapping: Mapping[str, str] = field(default_factory=dict, hash=False)
    path_template: str | None = None

    def __post_init__(self) -> None:
        for name in ("filesystem", "data_type"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"storage.{name}: expected a non-empty string, got {value!r}")
        if self.path_template is not None:
            check_path_template(self.path_template)
        owners: dict[str, str] = {}
        for backend_id, path in self.path_mapping.items():
            if not isinstance(backend_id, str) or not backend_id.strip():
                raise ConfigurationError(f"storage.path_mapping: {backend_id!r} is not a backend ID")
            if not isinstance(path, str) or not path.strip():
                raise ConfigurationError(
                    f"storage.path_mapping.{backend_id}: expected a non-empty path, got {path!r}"
                )
            other = owners.setdefault(path, backend_id)
            if other != backend_id:
                raise ConfigurationError(
                    f"storage.path_mapping: backend IDs {other!r} and {backend_id!r} both map to path "
                    f"{path!r}; one path can be billed to one resource only"
                )

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
        paths: dict[str, str] = {}
        owners: dict[str, str] = {}
        for backend_id in backend_ids:
            path = self.path_of(backend_id)
            other = owners.setdefault(path, backend_id)
            if other != backend_id:
                raise ConfigurationError(
                    f"storage: backend IDs {other!r} and {backend_id!r} both resolve to path {path!r}; "
                    "one path can be billed to one resource only (check storage.path_mapping and "
                    "storage.path_template)"
                )
            paths[backend_id] = path
        return paths


def check_path_template(template: str) -> None:
    """A template must use ``{backend_id}`` and nothing else: another field would fail at run time."""
    try:
        fields = [
            name for _text, name, _spec, _conversion in string.Formatter().parse(template) if name is not None
        ]
    except ValueError as error:
        raise ConfigurationError(
            f"storage.path_template: {template!r} is not a valid template: {error}"
        ) from None
    if BACKEND_ID_PLACEHOLDER not in fields:
        raise ConfigurationError(
            f"storage.path_template: {template!r} lacks {{{BACKEND_ID_PLACEHOLDER}}}; every resource "
            "would get the same path"
        )
    others = sorted({name for name in fields if name != BACKEND_ID_PLACEHOLDER})
    if others:
        raise ConfigurationError(
            f"storage.path_template: {template!r} uses {', '.join('{' + name + '}' for name in others)}; "
            f"only {{{BACKEND_ID_PLACEHOLDER}}} is filled in"
        )


def normalise_resource_uuid(value: str) -> str | None:
    """A Waldur resource UUID in Waldur's spelling (32 lower-case hex digits), or None if it is none.

    DWDI may send the UUID with or without dashes, in either case.
    """
    if not isinstance(value, str) or not _RESOURCE_UUID.fullmatch(value):
        return None
    return value.replace("-", "").lower()
