"""The YAML offerings configuration that the DAG factory turns into three DAGs per offering.

The file follows the spirit of the seed (Waldur Site Agent) configuration: a list of offerings,
each with its ``backend_components``. Secrets never live here: the DWDI and Waldur credentials are
Airflow connections, and an offering only names the connection ids to use.

The file is declared as pydantic models (:class:`OfferingsFile`, :class:`OfferingConfig` and the
settings they hold), which also give its JSON Schema (``core.config_schema``). Every mistake
raises :class:`ConfigurationError` naming the file, the offering (by name and position) and the
field, e.g. ``offering 'CSCS HPC' (#1): billing_timezone: unknown time zone 'Mars/Base'``: the
first of pydantic's errors, in the provider's words. Unknown keys are errors too, so a typo
cannot silently fall back to a default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from airflow_provider_cscs_dwdi.core.components import (
    ComponentConfig,
    ComponentSettings,
    parse_backend_components,
)
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.kinds import StorageSettings, UsageKind
from airflow_provider_cscs_dwdi.core.notification_settings import (
    NOTIFICATION_EVENTS as NOTIFICATION_EVENTS,
)
from airflow_provider_cscs_dwdi.core.notification_settings import (
    NOTIFIER_SHORT_NAMES as NOTIFIER_SHORT_NAMES,
)
from airflow_provider_cscs_dwdi.core.notification_settings import Notifications
from airflow_provider_cscs_dwdi.core.notification_settings import (
    NotificationSettings as NotificationSettings,
)
from airflow_provider_cscs_dwdi.core.types import (
    CONNECTION_ID_PATTERN as CONNECTION_ID_PATTERN,
)
from airflow_provider_cscs_dwdi.core.types import (
    SLUG_PATTERN as SLUG_PATTERN,
)
from airflow_provider_cscs_dwdi.core.types import (
    ClockTime,
    ClusterNames,
    ConnectionId,
    NonEmptyText,
    Slug,
    TextList,
    TimeZoneName,
    WaldurUuid,
    lower_case,
    none_as,
    one_of,
    stripped,
    whole_number,
    worded,
)
from airflow_provider_cscs_dwdi.core.usage import BadValuePolicy
from airflow_provider_cscs_dwdi.core.validation import (
    INVALID,
    UNKNOWN_KEY,
    describe,
    error_message,
    error_place,
    fields_at,
    first_error,
    invalid,
    unknown_keys,
)

BAD_VALUE_POLICIES = tuple(policy.value for policy in BadValuePolicy)
MAX_REOPEN_DAYS = 27  # the reopened window must stay inside the first days of every month

AUDIT_DEFAULT_SCHEDULE = "@weekly"
AUDIT_DEFAULT_MONTHS = 3
AUDIT_MAX_MONTHS = 24
#: Keys of DWDI storage and inference entries that name the record, so no component may read them.
_KEY_FIELDS = {UsageKind.STORAGE: "path", UsageKind.INFERENCE: "waldurResourceUuid"}

#: A cron expression or preset such as ``@weekly``.
_AuditSchedule = Annotated[
    NonEmptyText | None,
    worded(
        lambda value: f"expected a cron expression, a preset such as @weekly, or null, got {describe(value)}"
    ),
]
_Policy = Annotated[
    Literal["fail", "skip"], BeforeValidator(lower_case), one_of(BAD_VALUE_POLICIES, any_case=True)
]
_Kind = Annotated[UsageKind, BeforeValidator(stripped), one_of(tuple(kind.value for kind in UsageKind))]


def _storage_settings(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ConfigurationError as error:  # StorageSettings() explains its errors itself
        raise invalid(str(error)) from None


def _backend_components(value: Any) -> dict[str, Any]:
    # The components are checked by core.components (named by type and setting); the
    # attribute keeps the file's mapping, which the aggregate operator receives.
    if not isinstance(value, Mapping) or not value:
        raise invalid(f"expected a non-empty mapping, got {describe(value)}")
    raw = {
        str(component): dict(settings) if isinstance(settings, Mapping) else settings
        for component, settings in value.items()
    }
    try:
        parse_backend_components(raw)
    except ConfigurationError as error:
        raise invalid(str(error)) from None
    return raw


def _backend_components_schema(schema: dict[str, Any]) -> None:
    """The file's ``backend_components``: component type -> :class:`ComponentSettings`."""
    schema["additionalProperties"] = ComponentSettings.model_json_schema()
    schema["minProperties"] = 1


class AuditSettings(BaseModel):
    """The drift audit of an offering: when it runs and how many closed months it recomputes.

    ``schedule`` is ``None`` when the audit DAG is only triggered by hand (``audit: {schedule: null}``).
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="Audit settings",
        json_schema_extra={
            "description": (
                "The drift audit DAG `cscs_dwdi_audit_<slug>`: when it runs and how many closed "
                "months it recomputes."
            )
        },
    )

    schedule: _AuditSchedule = Field(
        default=AUDIT_DEFAULT_SCHEDULE,
        description="When the audit runs (cron expression or preset); null: only when triggered by hand.",
    )
    months: whole_number(1, AUDIT_MAX_MONTHS) = Field(  # type: ignore[valid-type]
        default=AUDIT_DEFAULT_MONTHS,
        description=f"How many closed months the audit recomputes (1 to {AUDIT_MAX_MONTHS}).",
    )

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise invalid(f"expected a mapping (schedule, months), got {describe(value)}")
        return value


class OfferingConfig(BaseModel):
    """One Waldur offering whose usage comes from DWDI: everything its DAG needs except secrets.

    ``backend_components`` is the raw mapping from the file (handed to the aggregate operator);
    ``components`` is the same, parsed and validated.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="Offering",
        json_schema_extra={
            "description": (
                "One Waldur offering billed from DWDI: a daily usage DAG (`cscs_dwdi_usage_<slug>`) "
                "and a monthly close DAG (`cscs_dwdi_close_<slug>`). No secrets: connections are "
                "named by id."
            )
        },
    )

    name: NonEmptyText = Field(
        description=("Display name; also gives the DAG id suffix unless `slug` is set. Unique in the file."),
    )
    slug: Slug = Field(
        default_factory=lambda data: slugify(data.get("name") or ""),
        description=(
            "The suffix of the two DAG ids (`cscs_dwdi_usage_<slug>`, `cscs_dwdi_close_<slug>`): "
            "a-z, 0-9 and `_`. Defaults to the name in lower case with other characters as `_`; "
            "set it to keep the DAG ids (and their history) when the name changes. Unique in the file."
        ),
    )
    offering_uuid: WaldurUuid = Field(
        description=(
            "The Waldur offering (Marketplace > Offering) whose resources are billed; a UUID with "
            "or without dashes. Unique in the file."
        ),
    )
    billing_timezone: TimeZoneName = Field(
        description=(
            "IANA time zone in which billing months begin and end, e.g. `Europe/Zurich`. The DAGs' "
            "schedules run in this time zone too."
        ),
    )
    backend_components: Annotated[dict[str, dict[str, Any]], BeforeValidator(_backend_components)] = Field(
        description=(
            "The usage components, as the Waldur Site Agent spells them: Waldur component type "
            "(e.g. `nodeHours`) -> its settings. At least one."
        ),
        json_schema_extra=_backend_components_schema,
    )
    dwdi_conn_id: ConnectionId = Field(
        default="cscs_dwdi_default",
        description="The Airflow connection (type `cscs_dwdi`) to DWDI.",
    )
    waldur_conn_id: ConnectionId = Field(
        default="waldur_default",
        description="The Airflow connection (type `waldur`) to Waldur.",
    )
    clusters: ClusterNames | None = Field(
        default=None,
        description=(
            "Compute only: count usage on these DWDI clusters only (case does not matter); "
            "default: every cluster. An empty list is refused (it would bill nothing)."
        ),
    )
    bad_value_policy: _Policy = Field(
        default="fail",
        description=(
            "What a bad DWDI value (null, negative, not a number) does: `fail` pushes nothing and "
            "the task lists every bad value; `skip` pushes the rest and the report lists the skipped "
            "rows. A bad value never becomes zero."
        ),
    )
    reopen_previous_month_days: whole_number(0, MAX_REOPEN_DAYS) = Field(  # type: ignore[valid-type]
        default=3,
        description=(
            "On the first N days of a month (0 to 27) each run also reports the previous month "
            "again, for DWDI data that arrives late; only when the Waldur server honours the usage "
            "date (Waldur 8.x). 0 turns it off."
        ),
    )
    schedule: NonEmptyText = Field(
        default="@daily",
        description=(
            "The usage DAG's Airflow schedule (cron expression or preset) in the billing time zone; "
            "the default reports the month to date every day."
        ),
    )
    month_end_run: ClockTime | None = Field(
        default=None,
        description=(
            "`HH:MM` (quote it in YAML): also run at that time on the last day of every month in "
            "the billing time zone, for Waldur 7.x, which never receives a month after its last "
            "run. Needs a cron schedule."
        ),
    )
    archive_path: NonEmptyText | None = Field(
        default=None,
        description=(
            "Where the raw DWDI responses are archived: an ObjectStoragePath URL such as "
            "`file:///data/dwdi` or `s3://conn_id@bucket/dwdi`. Default: "
            "`$AIRFLOW_HOME/cscs_dwdi_archive`, the worker's local disk; with workers on several "
            "hosts use storage they all reach."
        ),
    )
    tags: Annotated[TextList, none_as(())] = Field(
        default=(), description="Extra Airflow tags of the offering's DAGs."
    )
    usage_kind: _Kind = Field(
        default=UsageKind.COMPUTE,
        title="Usage Kind",  # pydantic gives no title to a reference
        description=(
            "Which DWDI data the offering bills: `compute` (node hours per account, the resource's "
            "backend ID, and per user, summed over the month), `storage` (a level per project path "
            "and month, never summed; no per-user usage) or `inference` (LLM inference cost priced "
            "by DWDI, keyed by the Waldur resource UUID; no per-user usage)."
        ),
    )
    storage: Annotated[StorageSettings | None, WrapValidator(_storage_settings)] = Field(
        default=None,
        title="Storage",
        description="Required for `usage_kind: storage`, refused otherwise: where the levels live in DWDI.",
    )
    audit: Annotated[AuditSettings, none_as({})] = Field(
        default_factory=AuditSettings,
        title="Audit",
        description=f"The drift audit; default: `{AUDIT_DEFAULT_SCHEDULE}` over {AUDIT_DEFAULT_MONTHS} closed months.",
    )
    # The file's top-level notifications first, then the offering's own (see OfferingsFile).
    notifications: Notifications = Field(
        default=(),
        description="Notifiers for this offering, added to the file-wide `notifications`.",
    )

    @cached_property
    def components(self) -> tuple[ComponentConfig, ...]:
        """``backend_components``, parsed (checked when the offering was read)."""
        return parse_backend_components(self.backend_components)

    @model_validator(mode="after")
    def _consistent(self) -> OfferingConfig:
        """What one field cannot check alone: the slug of a name, and what fits the usage kind."""
        if not self.slug:
            raise invalid(f"name: {self.name!r} has no letter or digit to build a DAG id from; set 'slug'")
        kind = self.usage_kind
        if self.clusters is not None and kind is not UsageKind.COMPUTE:
            raise invalid(f"clusters: only compute usage has clusters, this offering is {kind}")
        if kind is UsageKind.STORAGE and self.storage is None:
            raise invalid("storage: required for usage_kind storage (filesystem, data_type), got nothing")
        if kind is not UsageKind.STORAGE and self.storage is not None:
            raise invalid(
                f"storage: only a storage offering has storage settings, this offering is {kind} "
                "(set usage_kind: storage, or remove storage)"
            )
        key_field = _KEY_FIELDS.get(kind)
        for component in self.components:
            # A component may not read the field that names a storage path or an inference resource.
            if component.dwdi_field == key_field:
                raise invalid(
                    f"backend_components: component {component.type!r}: dwdi_field {key_field!r} names "
                    f"the {kind} record, it is not a usage field"
                )
        return self


class OfferingsFile(BaseModel):
    """The offerings file as it is written: the JSON Schema's root (``core.config_schema``)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="CSCS DWDI offerings",
        json_schema_extra={
            "description": (
                "The offerings file of airflow-provider-cscs-dwdi (named by the CSCS_DWDI_CONFIG "
                "environment variable): the Waldur offerings whose usage comes from DWDI."
            )
        },
    )

    offerings: Annotated[
        list[OfferingConfig],
        Field(min_length=1),
        worded(lambda value: f"expected a non-empty list, got {describe(value)}"),
    ] = Field(description="The offerings, each with its two DAGs; at least one.")
    notifications: Notifications = Field(
        default=(),
        description="Notifiers for every offering; an offering's own `notifications` are added after these.",
    )

    @model_validator(mode="after")
    def _unique(self) -> OfferingsFile:
        """Two offerings sharing a name, DAG id or Waldur offering would report the same usage twice."""
        for attribute in ("name", "slug", "offering_uuid"):
            first_seen: dict[str, int] = {}
            for position, offering in enumerate(self.offerings, 1):
                value = getattr(offering, attribute)
                if value in first_seen:
                    raise invalid(
                        f"offering {offering.name!r} (#{position}): {attribute}: {value!r} is already used "
                        f"by offering #{first_seen[value]}"
                    )
                first_seen[value] = position
        return self

    @model_validator(mode="after")
    def _shared_notifications_first(self) -> OfferingsFile:
        if self.notifications:
            for index, offering in enumerate(self.offerings):
                self.offerings[index] = offering.model_copy(
                    update={"notifications": self.notifications + offering.notifications}
                )
        return self


@dataclass(frozen=True)
class OfferingsConfig:
    """The whole configuration file: its offerings, in file order, and where it came from."""

    offerings: tuple[OfferingConfig, ...]
    source: str


def slugify(name: str) -> str:
    """``"CSCS HPC (Daint)"`` -> ``"cscs_hpc_daint"``: lower case, runs of other characters -> ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def load_config(path: str | os.PathLike[str]) -> OfferingsConfig:
    """Read and validate the YAML file at ``path``.

    :raises ConfigurationError: the file is missing, is not YAML, or any value is wrong; the
        message starts with the path.
    """
    source = str(path)
    try:
        with Path(path).open(encoding="utf-8") as stream:  # a stream: YAML errors then name the file
            document = yaml.safe_load(stream)
    except OSError as error:
        raise ConfigurationError(f"{source}: cannot read the offerings configuration: {error}") from None
    except yaml.YAMLError as error:
        raise ConfigurationError(f"{source}: not valid YAML: {error}") from None
    return parse_config(document, source=source)


def parse_config(document: Any, *, source: str = "<configuration>") -> OfferingsConfig:
    """Validate an already parsed configuration document (``{"offerings": [...]}``).

    :raises ConfigurationError: naming ``source``, the offering and the field.
    """
    if not isinstance(document, Mapping):
        raise ConfigurationError(
            f"{source}: expected a mapping with an 'offerings' list, got {describe(document)}"
        )
    try:
        offerings = tuple(OfferingsFile.model_validate(document).offerings)
    except ValidationError as error:
        raise ConfigurationError(f"{source}: {_explain(error, document)}") from None
    return OfferingsConfig(offerings=offerings, source=source)


def _explain(error: ValidationError, document: Mapping[str, Any]) -> str:
    """The first error as ``offering 'CSCS HPC' (#1): billing_timezone: unknown time zone ...``."""
    details = first_error(error)
    loc = tuple(details["loc"])
    label = ""
    if len(loc) >= 2 and loc[0] == "offerings" and isinstance(loc[1], int):
        label = f"{_offering_label(document['offerings'][loc[1]], loc[1] + 1)}: "
        loc = loc[2:]
    if loc == ("storage",) and details["type"] == INVALID:
        return f"{label}{details['msg']}"  # StorageSettings names the setting itself
    if details["type"] in UNKNOWN_KEY:
        parent = tuple(details["loc"])[:-1]
        where = error_place(loc[:-1], first_index=1) or ("offering" if label else "top level")
        allowed = sorted(fields_at(OfferingsFile, parent))
        return (
            f"{label}unknown key(s) at {where}: {', '.join(unknown_keys(error, parent))} "
            f"(allowed: {', '.join(allowed)})"
        )
    place = error_place(loc, first_index=1)
    return f"{label}{place + ': ' if place else ''}{error_message(details)}"


def _offering_label(raw: Any, position: int) -> str:
    """``offering 'CSCS HPC' (#1)``, or ``offering #1`` while the name itself is unusable."""
    name = raw.get("name") if isinstance(raw, Mapping) else None
    if isinstance(name, str) and name.strip():
        return f"offering {name.strip()!r} (#{position})"
    return f"offering #{position}"
