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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

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

from airflow_provider_cscs_dwdi.core.anomalies.settings import AnomalyGuardSettings
from airflow_provider_cscs_dwdi.core.audit_settings import (
    AUDIT_DEFAULT_MONTHS,
    AUDIT_DEFAULT_SCHEDULE,
    AUDIT_MAX_MONTHS,
    AuditBlock,
    AuditSettings,
)
from airflow_provider_cscs_dwdi.core.components import BackendComponents, ComponentConfig, components_of
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.kinds import StorageSettings, UsageKind
from airflow_provider_cscs_dwdi.core.notification_settings import (
    NOTIFICATION_EVENTS,
    NOTIFIER_SHORT_NAMES,
    Notifications,
    NotificationSettings,
)
from airflow_provider_cscs_dwdi.core.types import (
    CONNECTION_ID_PATTERN,
    SLUG_PATTERN,
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
from airflow_provider_cscs_dwdi.core.validation import NAMES_ITS_PLACE, describe, explain, invalid

BAD_VALUE_POLICIES = tuple(policy.value for policy in BadValuePolicy)
MAX_REOPEN_DAYS = 27  # the reopened window must stay inside the first days of every month

#: Keys of DWDI storage and inference entries that name the record, so no component may read them.
_KEY_FIELDS = {UsageKind.STORAGE: "path", UsageKind.INFERENCE: "waldurResourceUuid"}

#: ``bad_value_policy`` as the offerings file and the task arguments spell it (any case).
BadValuePolicySetting = Annotated[
    BadValuePolicy, BeforeValidator(lower_case), one_of(BAD_VALUE_POLICIES, any_case=True)
]
#: ``usage_kind``: compute, storage or inference.
UsageKindSetting = Annotated[
    UsageKind, BeforeValidator(stripped), one_of(tuple(kind.value for kind in UsageKind))
]


def _storage_settings(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ConfigurationError as error:  # StorageSettings() explains its errors itself
        raise invalid(str(error)) from None


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
    backend_components: BackendComponents = Field(
        description=(
            "The usage components, as the Waldur Site Agent spells them: Waldur component type "
            "(e.g. `nodeHours`) -> its settings. At least one."
        ),
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
    bad_value_policy: BadValuePolicySetting = Field(
        default=BadValuePolicy.FAIL,
        title="Bad Value Policy",  # pydantic gives no title to a reference
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
    usage_kind: UsageKindSetting = Field(
        default=UsageKind.COMPUTE,
        title="Usage Kind",  # pydantic gives no title to a reference
        description=(
            "Which DWDI data the offering bills: `compute` (node hours per account, the resource's "
            "backend ID, and per user, summed over the month), `storage` (a level per project path "
            "and month, never summed; no per-user usage) or `inference` (LLM inference cost priced "
            "by DWDI, keyed by the Waldur resource UUID; no per-user usage)."
        ),
    )
    storage: Annotated[StorageSettings | None, WrapValidator(_storage_settings), NAMES_ITS_PLACE] = Field(
        default=None,
        title="Storage",
        description="Required for `usage_kind: storage`, refused otherwise: where the levels live in DWDI.",
    )
    audit: AuditBlock = Field(
        default_factory=AuditSettings,
        title="Audit",
        description=f"The drift audit; default: `{AUDIT_DEFAULT_SCHEDULE}` over {AUDIT_DEFAULT_MONTHS} closed months.",
    )
    anomaly_guard: Annotated[AnomalyGuardSettings, none_as({})] = Field(
        default_factory=AnomalyGuardSettings,
        title="Anomaly guard",
        description="Checks before every write; a suspicious value is written with a warning or held for approval.",
    )
    # The file's top-level notifications first, then the offering's own (see OfferingsFile).
    notifications: Notifications = Field(
        default=(),
        description="Notifiers for this offering, added to the file-wide `notifications`.",
    )

    @property
    def components(self) -> tuple[ComponentConfig, ...]:
        """``backend_components``, parsed once when the offering was read."""
        return components_of(self.backend_components)

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
        raise ConfigurationError(
            f"{source}: {explain(error, OfferingsFile, labels={'offerings': _offering_label(document)})}"
        ) from None
    return OfferingsConfig(offerings=offerings, source=source)


def _offering_label(document: Mapping[str, Any]) -> Callable[[int], str]:
    """``offering 'CSCS HPC' (#1)``, or ``offering #1`` while the name itself is unusable."""

    def label(index: int) -> str:
        raw = document["offerings"][index]
        name = raw.get("name") if isinstance(raw, Mapping) else None
        if isinstance(name, str) and name.strip():
            return f"offering {name.strip()!r} (#{index + 1})"
        return f"offering #{index + 1}"

    return label


__all__ = [
    "AUDIT_DEFAULT_MONTHS",
    "AUDIT_DEFAULT_SCHEDULE",
    "AUDIT_MAX_MONTHS",
    "BAD_VALUE_POLICIES",
    "CONNECTION_ID_PATTERN",
    "MAX_REOPEN_DAYS",
    "NOTIFICATION_EVENTS",
    "NOTIFIER_SHORT_NAMES",
    "SLUG_PATTERN",
    "AuditSettings",
    "NotificationSettings",
    "Notifications",
    "OfferingConfig",
    "OfferingsConfig",
    "OfferingsFile",
    "load_config",
    "parse_config",
    "slugify",
]
