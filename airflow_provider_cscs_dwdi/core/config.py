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
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic_core import ArgsKwargs

from airflow_provider_cscs_dwdi.core.components import (
    ComponentConfig,
    ComponentSettings,
    parse_backend_components,
)
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.kinds import StorageSettings, UsageKind
from airflow_provider_cscs_dwdi.core.usage_date import parse_clock_time
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

BAD_VALUE_POLICIES = ("fail", "skip")
MAX_REOPEN_DAYS = 27  # the reopened window must stay inside the first days of every month
SLUG_PATTERN = re.compile(r"^[a-z0-9_]+$")
CONNECTION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")

AUDIT_DEFAULT_SCHEDULE = "@weekly"
AUDIT_DEFAULT_MONTHS = 3
AUDIT_MAX_MONTHS = 24
#: What a notification can be sent for: a failed run; a successful run that still listed issues
#: (skipped bad records, storage paths without data, unknown inference UUIDs, refused writes);
#: a drift the audit found; a month closed by the monthly close DAG.
NOTIFICATION_EVENTS = ("failure", "issues", "drift", "month_closed")
#: Short names of the notifiers Airflow's own providers ship; anything else is "package.module:Class".
NOTIFIER_SHORT_NAMES = ("smtp", "slack")
_NOTIFIER_PATH_PATTERN = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
)
# Credentials belong in the notifier's Airflow connection, never in the offerings file.
_SECRET_OPTION_PATTERN = re.compile(
    r"password|passwd|secret|token|api_?key|webhook|credential", re.IGNORECASE
)
#: Keys of DWDI storage and inference entries that name the record, so no component may read them.
_KEY_FIELDS = {UsageKind.STORAGE: "path", UsageKind.INFERENCE: "waldurResourceUuid"}
#: A string with at least one character (the validators also refuse blank ones).
NonEmptyText = Annotated[str, StringConstraints(min_length=1)]


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

    schedule: str | None = Field(
        default=AUDIT_DEFAULT_SCHEDULE,
        description="When the audit runs (cron expression or preset); null: only when triggered by hand.",
        min_length=1,
    )
    months: int = Field(
        default=AUDIT_DEFAULT_MONTHS,
        ge=1,
        le=AUDIT_MAX_MONTHS,
        description=f"How many closed months the audit recomputes (1 to {AUDIT_MAX_MONTHS}).",
    )

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise invalid(f"expected a mapping (schedule, months), got {describe(value)}")
        return value

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule_or_null(cls, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise invalid(
                f"expected a cron expression, a preset such as @weekly, or null, got {describe(value)}"
            )
        return value.strip()

    @field_validator("months", mode="before")
    @classmethod
    def _whole_months(cls, value: Any) -> int:
        # bool is an int in Python; `true` here is a typo, not a number of months.
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= AUDIT_MAX_MONTHS:
            raise invalid(f"expected a whole number from 1 to {AUDIT_MAX_MONTHS}, got {value!r}")
        return value


@pydantic_dataclass(
    frozen=True,
    config=ConfigDict(
        extra="forbid",
        title="Notification",
        json_schema_extra={
            "description": (
                "One notifier and the events it is sent for. Credentials live in its Airflow "
                "connection, never here."
            )
        },
    ),
)
class NotificationSettings:
    """One notifier and the events it is sent for.

    ``notifier`` is ``smtp``, ``slack`` or the ``package.module:ClassName`` of an Airflow
    ``BaseNotifier``; ``conn_id`` is the Airflow connection holding its credentials; ``options`` are
    further keyword arguments for the notifier (e.g. ``to``), never secrets.
    """

    events: tuple[Literal["failure", "issues", "drift", "month_closed"], ...] = Field(
        description=(
            "What the notifier is sent for, at least one of: `failure` (a failed run), `issues` (a "
            "successful run that still listed issues: skipped bad records, storage paths without "
            "data, unknown inference UUIDs, refused writes), `drift` (the audit found a "
            "difference), `month_closed` (the monthly close DAG ran)."
        ),
        min_length=1,
    )
    notifier: str = Field(
        description="`smtp`, `slack`, or the `package.module:ClassName` of an Airflow notifier.",
        pattern=rf"^({'|'.join(NOTIFIER_SHORT_NAMES)})$|{_NOTIFIER_PATH_PATTERN.pattern}",
    )
    conn_id: str = Field(
        description="The notifier's Airflow connection; its credentials live there.",
        pattern=CONNECTION_ID_PATTERN.pattern,
    )
    options: dict[str, Any] = dataclass_field(
        default=Field(
            default_factory=dict,
            description=(
                "Further notifier arguments, e.g. `{to: ops@example.org}`; never credentials (a key "
                "such as `password` or `token` is refused)."
            ),
            json_schema_extra={"default": {}},
        ),
        hash=False,
    )

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if isinstance(value, ArgsKwargs):  # built in Python, not read from the file
            return value
        if not isinstance(value, Mapping):
            raise invalid(f"expected a mapping (events, notifier, conn_id, options), got {describe(value)}")
        return value

    @field_validator("events", mode="before")
    @classmethod
    def _known_events(cls, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list | tuple) or not value:
            raise invalid(
                f"expected a non-empty list of {', '.join(NOTIFICATION_EVENTS)}, got {describe(value)}"
            )
        for event in value:
            if event not in NOTIFICATION_EVENTS:
                raise invalid(f"unknown event {event!r} (expected: {', '.join(NOTIFICATION_EVENTS)})")
        # File order, each event once: the same event listed twice would send two messages.
        return tuple(dict.fromkeys(value))

    @field_validator("notifier", mode="before")
    @classmethod
    def _known_notifier(cls, value: Any) -> str:
        notifier = _text(value)
        if notifier not in NOTIFIER_SHORT_NAMES and not _NOTIFIER_PATH_PATTERN.match(notifier):
            raise invalid(
                f"expected {' or '.join(NOTIFIER_SHORT_NAMES)} or 'package.module:ClassName', got {notifier!r}"
            )
        return notifier

    @field_validator("conn_id", mode="before")
    @classmethod
    def _connection_id(cls, value: Any) -> str:
        return _connection_id(value)

    @field_validator("options", mode="before")
    @classmethod
    def _no_credentials(cls, value: Any, info: ValidationInfo) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise invalid(f"expected a mapping, got {describe(value)}")
        for key in value:
            if not isinstance(key, str) or _SECRET_OPTION_PATTERN.search(key):
                # The key only: its value may be the very credential.
                raise invalid(
                    f"{key!r} looks like a credential; keep it in connection {info.data.get('conn_id')!r}, "
                    "never in the offerings file"
                )
        return dict(value)


def _connection_id(value: Any) -> str:
    conn_id = _text(value)
    if not CONNECTION_ID_PATTERN.match(conn_id):
        raise invalid(f"not a valid Airflow connection id: {conn_id!r}")
    return conn_id


def _notification_list(value: Any) -> Any:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise invalid(f"expected a list, got {describe(value)}")
    return value


Notifications = Annotated[tuple[NotificationSettings, ...], BeforeValidator(_notification_list)]


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

    name: str = Field(
        description=("Display name; also gives the DAG id suffix unless `slug` is set. Unique in the file."),
        min_length=1,
    )
    slug: str = Field(
        default_factory=lambda data: slugify(data.get("name") or ""),
        description=(
            "The suffix of the two DAG ids (`cscs_dwdi_usage_<slug>`, `cscs_dwdi_close_<slug>`): "
            "a-z, 0-9 and `_`. Defaults to the name in lower case with other characters as `_`; "
            "set it to keep the DAG ids (and their history) when the name changes. Unique in the file."
        ),
        pattern=SLUG_PATTERN.pattern,
    )
    offering_uuid: str = Field(
        description=(
            "The Waldur offering (Marketplace > Offering) whose resources are billed; a UUID with "
            "or without dashes. Unique in the file."
        ),
    )
    billing_timezone: str = Field(
        description=(
            "IANA time zone in which billing months begin and end, e.g. `Europe/Zurich`. The DAGs' "
            "schedules run in this time zone too."
        ),
    )
    backend_components: dict[str, dict[str, Any]] = Field(
        description=(
            "The usage components, as the Waldur Site Agent spells them: Waldur component type "
            "(e.g. `nodeHours`) -> its settings. At least one."
        ),
        json_schema_extra=_backend_components_schema,
    )
    dwdi_conn_id: str = Field(
        default="cscs_dwdi_default",
        description="The Airflow connection (type `cscs_dwdi`) to DWDI.",
        pattern=CONNECTION_ID_PATTERN.pattern,
    )
    waldur_conn_id: str = Field(
        default="waldur_default",
        description="The Airflow connection (type `waldur`) to Waldur.",
        pattern=CONNECTION_ID_PATTERN.pattern,
    )
    clusters: tuple[NonEmptyText, ...] | None = Field(
        default=None,
        description=(
            "Compute only: count usage on these DWDI clusters only (case does not matter); "
            "default: every cluster. An empty list is refused (it would bill nothing)."
        ),
        min_length=1,
    )
    bad_value_policy: Literal["fail", "skip"] = Field(
        default="fail",
        description=(
            "What a bad DWDI value (null, negative, not a number) does: `fail` pushes nothing and "
            "the task lists every bad value; `skip` pushes the rest and the report lists the skipped "
            "rows. A bad value never becomes zero."
        ),
    )
    reopen_previous_month_days: int = Field(
        default=3,
        ge=0,
        le=MAX_REOPEN_DAYS,
        description=(
            "On the first N days of a month (0 to 27) each run also reports the previous month "
            "again, for DWDI data that arrives late; only when the Waldur server honours the usage "
            "date (Waldur 8.x). 0 turns it off."
        ),
    )
    schedule: str = Field(
        default="@daily",
        description=(
            "The usage DAG's Airflow schedule (cron expression or preset) in the billing time zone; "
            "the default reports the month to date every day."
        ),
        min_length=1,
    )
    month_end_run: str | None = Field(
        default=None,
        description=(
            "`HH:MM` (quote it in YAML): also run at that time on the last day of every month in "
            "the billing time zone, for Waldur 7.x, which never receives a month after its last "
            "run. Needs a cron schedule."
        ),
        pattern=r"^\s*([01]?[0-9]|2[0-3]):[0-5][0-9]\s*$",
    )
    archive_path: str | None = Field(
        default=None,
        description=(
            "Where the raw DWDI responses are archived: an ObjectStoragePath URL such as "
            "`file:///data/dwdi` or `s3://conn_id@bucket/dwdi`. Default: "
            "`$AIRFLOW_HOME/cscs_dwdi_archive`, the worker's local disk; with workers on several "
            "hosts use storage they all reach."
        ),
    )
    tags: tuple[NonEmptyText, ...] = Field(
        default=(), description="Extra Airflow tags of the offering's DAGs.", min_length=1
    )
    usage_kind: UsageKind = Field(
        default=UsageKind.COMPUTE,
        title="Usage Kind",  # pydantic gives no title to a reference
        description=(
            "Which DWDI data the offering bills: `compute` (node hours per account, the resource's "
            "backend ID, and per user, summed over the month), `storage` (a level per project path "
            "and month, never summed; no per-user usage) or `inference` (LLM inference cost priced "
            "by DWDI, keyed by the Waldur resource UUID; no per-user usage)."
        ),
    )
    storage: StorageSettings | None = Field(
        default=None,
        title="Storage",
        description="Required for `usage_kind: storage`, refused otherwise: where the levels live in DWDI.",
    )
    audit: AuditSettings = Field(
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

    @field_validator("name", "billing_timezone", "offering_uuid", "schedule", mode="before")
    @classmethod
    def _non_empty_text(cls, value: Any) -> str:
        return _text(value)

    @field_validator("archive_path", mode="before")
    @classmethod
    def _optional_text(cls, value: Any) -> str | None:
        return None if value is None else _text(value)

    @field_validator("slug", mode="before")
    @classmethod
    def _valid_slug(cls, value: Any) -> str:
        slug = _text(value)
        if not SLUG_PATTERN.match(slug):
            raise invalid(f"only a-z, 0-9 and '_' are allowed, got {slug!r}")
        return slug

    @field_validator("offering_uuid", mode="after")
    @classmethod
    def _waldur_uuid(cls, text: str) -> str:
        """The UUID in Waldur's own spelling: 32 lower-case hex digits, no dashes."""
        try:
            return uuid.UUID(text).hex
        except ValueError:
            raise invalid(f"not a UUID: {text!r}") from None

    @field_validator("billing_timezone", mode="after")
    @classmethod
    def _known_time_zone(cls, text: str) -> str:
        try:
            ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            raise invalid(f"unknown time zone {text!r}") from None
        return text

    @field_validator("backend_components", mode="wrap")
    @classmethod
    def _parsed_components(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> dict[str, Any]:
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

    @field_validator("storage", mode="wrap")
    @classmethod
    def _storage_settings(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> StorageSettings | None:
        try:
            settings: StorageSettings | None = handler(value)
        except ConfigurationError as error:  # StorageSettings() explains its errors itself
            raise invalid(str(error)) from None
        return settings

    @field_validator("dwdi_conn_id", "waldur_conn_id", mode="before")
    @classmethod
    def _connection_id(cls, value: Any) -> str:
        return _connection_id(value)

    @field_validator("audit", mode="before")
    @classmethod
    def _audit_defaults(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("clusters", mode="before")
    @classmethod
    def _cluster_names(cls, value: Any) -> tuple[str, ...] | None:
        """``None`` (all clusters) when omitted; an empty list is refused, it would bill nothing."""
        if value is None:
            return None
        return tuple(sorted({cluster.lower() for cluster in _string_list(value)}))

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_names(cls, value: Any) -> tuple[str, ...]:
        return () if value is None else _string_list(value)

    @field_validator("bad_value_policy", mode="before")
    @classmethod
    def _known_policy(cls, value: Any) -> str:
        policy = _text(value).lower()
        if policy not in BAD_VALUE_POLICIES:
            raise invalid(f"expected one of {', '.join(BAD_VALUE_POLICIES)}, got {policy!r}")
        return policy

    @field_validator("reopen_previous_month_days", mode="before")
    @classmethod
    def _whole_days(cls, value: Any) -> int:
        # bool is an int in Python; `true` here is a typo, not a number of days.
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REOPEN_DAYS:
            raise invalid(f"expected a whole number from 0 to {MAX_REOPEN_DAYS}, got {value!r}")
        return value

    @field_validator("month_end_run", mode="before")
    @classmethod
    def _clock_time(cls, value: Any) -> str | None:
        """``HH:MM`` of the extra run on a month's last day, or None; validated, zero-padded."""
        if value is None:
            return None
        try:
            return parse_clock_time(_text(value)).strftime("%H:%M")
        except ConfigurationError as error:
            raise invalid(str(error).removeprefix("month_end_run: ")) from None

    @field_validator("usage_kind", mode="before")
    @classmethod
    def _known_kind(cls, value: Any) -> UsageKind:
        text = _text(value)
        try:
            return UsageKind(text)
        except ValueError:
            raise invalid(
                f"expected one of {', '.join(kind.value for kind in UsageKind)}, got {text!r}"
            ) from None

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

    offerings: list[OfferingConfig] = Field(
        description="The offerings, each with its two DAGs; at least one.",
        min_length=1,
    )
    notifications: Notifications = Field(
        default=(),
        description="Notifiers for every offering; an offering's own `notifications` are added after these.",
    )

    @model_validator(mode="after")
    def _shared_notifications_first(self) -> OfferingsFile:
        if self.notifications:
            for index, offering in enumerate(self.offerings):
                self.offerings[index] = offering.model_copy(
                    update={"notifications": self.notifications + offering.notifications}
                )
        return self

    @field_validator("offerings", mode="before")
    @classmethod
    def _non_empty_list(cls, value: Any) -> Any:
        if not isinstance(value, list) or not value:
            raise invalid(f"expected a non-empty list, got {describe(value)}")
        return value


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
    try:
        _reject_duplicates(offerings)
    except ConfigurationError as error:
        raise ConfigurationError(f"{source}: {error}") from None
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


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"expected a non-empty string, got {describe(value)}")
    return value.strip()


def _string_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise invalid(f"expected a non-empty list of strings, got {describe(value)}")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise invalid(f"every item must be a non-empty string, got {item!r}")
    return tuple(item.strip() for item in value)


def _reject_duplicates(offerings: tuple[OfferingConfig, ...]) -> None:
    """Two offerings sharing a name, DAG id or Waldur offering would report the same usage twice."""
    for attribute in ("name", "slug", "offering_uuid"):
        first_seen: dict[str, int] = {}
        for position, offering in enumerate(offerings, 1):
            value = getattr(offering, attribute)
            if value in first_seen:
                raise ConfigurationError(
                    f"offering {offering.name!r} (#{position}): {attribute}: {value!r} is already used by "
                    f"offering #{first_seen[value]}"
                )
            first_seen[value] = position
