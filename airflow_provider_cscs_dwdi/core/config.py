"""The YAML offerings configuration that the DAG factory turns into one DAG per offering.

The file follows the spirit of the seed (Waldur Site Agent) configuration: a list of offerings,
each with its ``backend_components``. Secrets never live here: the DWDI and Waldur credentials are
Airflow connections, and an offering only names the connection ids to use.

Every mistake raises :class:`ConfigurationError` naming the file, the offering (by name and
position) and the field, e.g. ``offering 'CSCS HPC' (#1): billing_timezone: unknown time zone
'Mars/Base'``. Unknown keys are errors too, so a typo cannot silently fall back to a default.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from airflow_provider_cscs_dwdi.core.components import ComponentConfig, parse_backend_components
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.kinds import StorageSettings, UsageKind
from airflow_provider_cscs_dwdi.core.usage_date import parse_clock_time

BAD_VALUE_POLICIES = ("fail", "skip")
MAX_REOPEN_DAYS = 27  # the reopened window must stay inside the first days of every month
SLUG_PATTERN = re.compile(r"^[a-z0-9_]+$")
CONNECTION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")

_TOP_LEVEL_KEYS = frozenset({"offerings", "notifications"})
_REQUIRED_KEYS = ("name", "offering_uuid", "billing_timezone", "backend_components")
_OPTIONAL_KEYS = frozenset(
    {
        "slug",
        "dwdi_conn_id",
        "waldur_conn_id",
        "clusters",
        "bad_value_policy",
        "reopen_previous_month_days",
        "schedule",
        "month_end_run",
        "archive_path",
        "tags",
        "usage_kind",
        "storage",
        "audit",
        "notifications",
    }
)
_STORAGE_KEYS = frozenset({"filesystem", "data_type", "path_mapping", "path_template"})
_AUDIT_KEYS = frozenset({"schedule", "months"})
_NOTIFICATION_KEYS = frozenset({"events", "notifier", "conn_id", "options"})
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


@dataclass(frozen=True)
class AuditSettings:
    """The drift audit of an offering: when it runs and how many closed months it recomputes.

    ``schedule`` is ``None`` when the audit DAG is only triggered by hand (``audit: {schedule: null}``).
    """

    schedule: str | None = AUDIT_DEFAULT_SCHEDULE
    months: int = AUDIT_DEFAULT_MONTHS


@dataclass(frozen=True)
class NotificationSettings:
    """One notifier and the events it is sent for.

    ``notifier`` is ``smtp``, ``slack`` or the ``package.module:ClassName`` of an Airflow
    ``BaseNotifier``; ``conn_id`` is the Airflow connection holding its credentials; ``options`` are
    further keyword arguments for the notifier (e.g. ``to``), never secrets.
    """

    events: tuple[str, ...]
    notifier: str
    conn_id: str
    options: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class OfferingConfig:
    """One Waldur offering whose usage comes from DWDI: everything its DAG needs except secrets.

    ``backend_components`` is the raw mapping from the file (handed to the aggregate operator);
    ``components`` is the same, parsed and validated.
    """

    name: str
    slug: str
    offering_uuid: str
    billing_timezone: str
    backend_components: dict[str, dict[str, Any]] = field(hash=False)
    components: tuple[ComponentConfig, ...]
    dwdi_conn_id: str = "cscs_dwdi_default"
    waldur_conn_id: str = "waldur_default"
    clusters: tuple[str, ...] | None = None
    bad_value_policy: str = "fail"
    reopen_previous_month_days: int = 3
    schedule: str = "@daily"
    # "HH:MM": an extra run on each month's last day (billing time zone), see core.usage_date.
    month_end_run: str | None = None
    archive_path: str | None = None
    tags: tuple[str, ...] = ()
    usage_kind: UsageKind = UsageKind.COMPUTE
    storage: StorageSettings | None = None
    audit: AuditSettings = AuditSettings()
    # The file's top-level notifications first, then the offering's own.
    notifications: tuple[NotificationSettings, ...] = ()


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
    try:
        offerings = _parse_offerings(document)
    except ConfigurationError as error:
        raise ConfigurationError(f"{source}: {error}") from None
    return OfferingsConfig(offerings=offerings, source=source)


def _parse_offerings(document: Any) -> tuple[OfferingConfig, ...]:
    if not isinstance(document, Mapping):
        raise ConfigurationError(f"expected a mapping with an 'offerings' list, got {_kind(document)}")
    _reject_unknown_keys(document, _TOP_LEVEL_KEYS, where="top level")
    raw_offerings = document.get("offerings")
    if not isinstance(raw_offerings, list) or not raw_offerings:
        raise ConfigurationError(f"offerings: expected a non-empty list, got {_kind(raw_offerings)}")
    shared_notifications = _notifications(document)
    offerings = tuple(
        _parse_offering(raw, position, shared_notifications) for position, raw in enumerate(raw_offerings, 1)
    )
    _reject_duplicates(offerings)
    return offerings


def _parse_offering(
    raw: Any, position: int, shared_notifications: tuple[NotificationSettings, ...]
) -> OfferingConfig:
    label = _offering_label(raw, position)
    try:
        return _build_offering(raw, shared_notifications)
    except ConfigurationError as error:
        raise ConfigurationError(f"{label}: {error}") from None


def _offering_label(raw: Any, position: int) -> str:
    """``offering 'CSCS HPC' (#1)``, or ``offering #1`` while the name itself is unusable."""
    name = raw.get("name") if isinstance(raw, Mapping) else None
    if isinstance(name, str) and name.strip():
        return f"offering {name.strip()!r} (#{position})"
    return f"offering #{position}"


def _build_offering(raw: Any, shared_notifications: tuple[NotificationSettings, ...] = ()) -> OfferingConfig:
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"expected a mapping, got {_kind(raw)}")
    _reject_unknown_keys(raw, frozenset(_REQUIRED_KEYS) | _OPTIONAL_KEYS, where="offering")
    for key in _REQUIRED_KEYS:
        if key not in raw:
            raise ConfigurationError(f"{key}: required")

    name = _text(raw, "name")
    backend_components = _backend_components(raw)
    usage_kind = _usage_kind(raw)
    components = _components(backend_components)
    _check_component_fields(components, usage_kind)
    return OfferingConfig(
        name=name,
        slug=_slug(raw, name),
        offering_uuid=_offering_uuid(raw),
        billing_timezone=_time_zone(raw),
        backend_components=backend_components,
        components=components,
        dwdi_conn_id=_connection_id(raw, "dwdi_conn_id", "cscs_dwdi_default"),
        waldur_conn_id=_connection_id(raw, "waldur_conn_id", "waldur_default"),
        clusters=_clusters(raw, usage_kind),
        bad_value_policy=_bad_value_policy(raw),
        reopen_previous_month_days=_reopen_days(raw),
        schedule=_text(raw, "schedule", default="@daily"),
        month_end_run=_month_end_run(raw),
        archive_path=_optional_text(raw, "archive_path"),
        tags=_tags(raw),
        usage_kind=usage_kind,
        storage=_storage(raw, usage_kind),
        audit=_audit(raw),
        notifications=shared_notifications + _notifications(raw),
    )


def _text(raw: Mapping[str, Any], key: str, *, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{key}: expected a non-empty string, got {_kind(value)}")
    return value.strip()


def _optional_text(raw: Mapping[str, Any], key: str) -> str | None:
    return None if raw.get(key) is None else _text(raw, key)


def _month_end_run(raw: Mapping[str, Any]) -> str | None:
    """``HH:MM`` of the extra run on a month's last day, or None; validated, zero-padded."""
    text = _optional_text(raw, "month_end_run")
    return None if text is None else parse_clock_time(text).strftime("%H:%M")


def _slug(raw: Mapping[str, Any], name: str) -> str:
    """The DAG id suffix: derived from the name unless given (keeps DAG ids stable across renames)."""
    if "slug" in raw:
        slug = _text(raw, "slug")
        if not SLUG_PATTERN.match(slug):
            raise ConfigurationError(f"slug: only a-z, 0-9 and '_' are allowed, got {slug!r}")
        return slug
    slug = slugify(name)
    if not slug:
        raise ConfigurationError(f"name: {name!r} has no letter or digit to build a DAG id from; set 'slug'")
    return slug


def _offering_uuid(raw: Mapping[str, Any]) -> str:
    """The UUID in Waldur's own spelling: 32 lower-case hex digits, no dashes."""
    text = _text(raw, "offering_uuid")
    try:
        return uuid.UUID(text).hex
    except ValueError:
        raise ConfigurationError(f"offering_uuid: not a UUID: {text!r}") from None


def _time_zone(raw: Mapping[str, Any]) -> str:
    text = _text(raw, "billing_timezone")
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"billing_timezone: unknown time zone {text!r}") from None
    return text


def _backend_components(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    value = raw["backend_components"]
    if not isinstance(value, Mapping) or not value:
        raise ConfigurationError(f"backend_components: expected a non-empty mapping, got {_kind(value)}")
    return {
        str(component): dict(settings) if isinstance(settings, Mapping) else settings
        for component, settings in value.items()
    }


def _components(backend_components: Mapping[str, Any]) -> tuple[ComponentConfig, ...]:
    try:
        return parse_backend_components(backend_components)
    except ConfigurationError as error:
        raise ConfigurationError(f"backend_components: {error}") from None


def _connection_id(raw: Mapping[str, Any], key: str, default: str) -> str:
    conn_id = _text(raw, key, default=default)
    if not CONNECTION_ID_PATTERN.match(conn_id):
        raise ConfigurationError(f"{key}: not a valid Airflow connection id: {conn_id!r}")
    return conn_id


def _string_list(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = raw[key]
    if not isinstance(value, list) or not value:
        raise ConfigurationError(f"{key}: expected a non-empty list of strings, got {_kind(value)}")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigurationError(f"{key}: every item must be a non-empty string, got {item!r}")
    return tuple(item.strip() for item in value)


def _clusters(raw: Mapping[str, Any], usage_kind: UsageKind) -> tuple[str, ...] | None:
    """``None`` (all clusters) when omitted; an empty list is refused, it would bill nothing."""
    if raw.get("clusters") is None:
        return None
    if usage_kind is not UsageKind.COMPUTE:
        raise ConfigurationError(f"clusters: only compute usage has clusters, this offering is {usage_kind}")
    return tuple(sorted({cluster.lower() for cluster in _string_list(raw, "clusters")}))


def _tags(raw: Mapping[str, Any]) -> tuple[str, ...]:
    return () if raw.get("tags") is None else _string_list(raw, "tags")


def _bad_value_policy(raw: Mapping[str, Any]) -> str:
    policy = _text(raw, "bad_value_policy", default="fail").lower()
    if policy not in BAD_VALUE_POLICIES:
        raise ConfigurationError(
            f"bad_value_policy: expected one of {', '.join(BAD_VALUE_POLICIES)}, got {policy!r}"
        )
    return policy


def _reopen_days(raw: Mapping[str, Any]) -> int:
    value = raw.get("reopen_previous_month_days", 3)
    # bool is an int in Python; `true` here is a typo, not a number of days.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REOPEN_DAYS:
        raise ConfigurationError(
            f"reopen_previous_month_days: expected a whole number from 0 to {MAX_REOPEN_DAYS}, got {value!r}"
        )
    return value


def _usage_kind(raw: Mapping[str, Any]) -> UsageKind:
    text = _text(raw, "usage_kind", default=UsageKind.COMPUTE.value)
    try:
        return UsageKind(text)
    except ValueError:
        raise ConfigurationError(
            f"usage_kind: expected one of {', '.join(kind.value for kind in UsageKind)}, got {text!r}"
        ) from None


def _storage(raw: Mapping[str, Any], usage_kind: UsageKind) -> StorageSettings | None:
    """The storage settings: required for a storage offering, refused on any other."""
    value = raw.get("storage")
    if usage_kind is not UsageKind.STORAGE:
        if value is not None:
            raise ConfigurationError(
                f"storage: only a storage offering has storage settings, this offering is {usage_kind} "
                "(set usage_kind: storage, or remove storage)"
            )
        return None
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"storage: required for usage_kind storage (filesystem, data_type), got {_kind(value)}"
        )
    _reject_unknown_keys(value, _STORAGE_KEYS, where="storage")
    for key in ("filesystem", "data_type"):
        if key not in value:
            raise ConfigurationError(f"storage.{key}: required")
    mapping = value.get("path_mapping")
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, Mapping):
        raise ConfigurationError(
            f"storage.path_mapping: expected a mapping of backend IDs to paths, got {_kind(mapping)}"
        )
    template = value.get("path_template")
    if template is not None and not isinstance(template, str):
        raise ConfigurationError(f"storage.path_template: expected a string, got {_kind(template)}")
    return StorageSettings(
        filesystem=value["filesystem"],
        data_type=value["data_type"],
        # YAML reads an all-digit backend ID as a number; the ID is text to Waldur.
        path_mapping={str(backend_id): path for backend_id, path in mapping.items()},
        path_template=template,
    )


def _audit(raw: Mapping[str, Any]) -> AuditSettings:
    """The audit settings; ``audit: {schedule: null}`` keeps the audit DAG for runs by hand only."""
    value = raw.get("audit")
    if value is None:
        return AuditSettings()
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"audit: expected a mapping (schedule, months), got {_kind(value)}")
    _reject_unknown_keys(value, _AUDIT_KEYS, where="audit")
    schedule = value.get("schedule", AUDIT_DEFAULT_SCHEDULE)
    if schedule is not None and (not isinstance(schedule, str) or not schedule.strip()):
        raise ConfigurationError(
            f"audit.schedule: expected a cron expression, a preset such as @weekly, or null, got {_kind(schedule)}"
        )
    months = value.get("months", AUDIT_DEFAULT_MONTHS)
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= AUDIT_MAX_MONTHS:
        raise ConfigurationError(
            f"audit.months: expected a whole number from 1 to {AUDIT_MAX_MONTHS}, got {months!r}"
        )
    return AuditSettings(schedule=None if schedule is None else schedule.strip(), months=months)


def _notifications(raw: Mapping[str, Any]) -> tuple[NotificationSettings, ...]:
    value = raw.get("notifications")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigurationError(f"notifications: expected a list, got {_kind(value)}")
    return tuple(_notification(entry, index) for index, entry in enumerate(value, 1))


def _notification(entry: Any, index: int) -> NotificationSettings:
    where = f"notifications[{index}]"
    if not isinstance(entry, Mapping):
        raise ConfigurationError(
            f"{where}: expected a mapping (events, notifier, conn_id, options), got {_kind(entry)}"
        )
    _reject_unknown_keys(entry, _NOTIFICATION_KEYS, where=where)
    for key in ("events", "notifier", "conn_id"):
        if key not in entry:
            raise ConfigurationError(f"{where}.{key}: required")
    events = entry["events"]
    if not isinstance(events, list) or not events:
        raise ConfigurationError(
            f"{where}.events: expected a non-empty list of {', '.join(NOTIFICATION_EVENTS)}, got {_kind(events)}"
        )
    for event in events:
        if event not in NOTIFICATION_EVENTS:
            raise ConfigurationError(
                f"{where}.events: unknown event {event!r} (expected: {', '.join(NOTIFICATION_EVENTS)})"
            )
    notifier = _text(entry, "notifier")
    if notifier not in NOTIFIER_SHORT_NAMES and not _NOTIFIER_PATH_PATTERN.match(notifier):
        raise ConfigurationError(
            f"{where}.notifier: expected {' or '.join(NOTIFIER_SHORT_NAMES)} or 'package.module:ClassName', "
            f"got {notifier!r}"
        )
    try:
        conn_id = _connection_id(entry, "conn_id", "")
    except ConfigurationError as error:
        raise ConfigurationError(f"{where}.{error}") from None
    options = entry.get("options")
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise ConfigurationError(f"{where}.options: expected a mapping, got {_kind(options)}")
    for key in options:
        if not isinstance(key, str) or _SECRET_OPTION_PATTERN.search(key):
            raise ConfigurationError(
                f"{where}.options: {key!r} looks like a credential; keep it in connection {conn_id!r}, "
                "never in the offerings file"
            )
    return NotificationSettings(
        # File order, each event once: the same event listed twice would send two messages.
        events=tuple(dict.fromkeys(events)),
        notifier=notifier,
        conn_id=conn_id,
        options=dict(options),
    )


def _check_component_fields(components: tuple[ComponentConfig, ...], usage_kind: UsageKind) -> None:
    """A component may not read the field that names a storage path or an inference resource."""
    key_field = _KEY_FIELDS.get(usage_kind)
    for component in components:
        if component.dwdi_field == key_field:
            raise ConfigurationError(
                f"backend_components: component {component.type!r}: dwdi_field {key_field!r} names the "
                f"{usage_kind} record, it is not a usage field"
            )


def _reject_unknown_keys(raw: Mapping[str, Any], allowed: frozenset[str], *, where: str) -> None:
    unknown = sorted(str(key) for key in raw if key not in allowed)
    if unknown:
        raise ConfigurationError(
            f"unknown key(s) at {where}: {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )


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


def _kind(value: Any) -> str:
    """A short description of a wrong value for error messages (never the whole value)."""
    if value is None:
        return "nothing"
    if isinstance(value, (str, int, float, bool)):
        return f"{type(value).__name__} {value!r}"
    return type(value).__name__
