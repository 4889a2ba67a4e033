"""The ``notifications`` of the offerings file: which notifier is sent for which events.

Credentials live in the notifier's Airflow connection, never in the file: an option whose key looks
like one (``password``, ``token``, ``webhook_url``...) is refused, naming the key only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field as dataclass_field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, ValidationInfo
from pydantic.dataclasses import dataclass as pydantic_dataclass

from airflow_provider_cscs_dwdi.core.types import ConnectionId, none_as, refused_text, worded
from airflow_provider_cscs_dwdi.core.validation import Refusal, describe, invalid


class AlertEvent(StrEnum):
    """What a notification is sent for."""

    # A failed run; a successful run that still listed issues (skipped bad records, storage paths
    # without data, unknown inference UUIDs, refused writes); a drift the audit found; a month
    # closed by the monthly close DAG; anomalies the guard found before a write (warned or held),
    # or an approval of held values left unanswered.

    FAILURE = "failure"
    ISSUES = "issues"
    DRIFT = "drift"
    MONTH_CLOSED = "month_closed"
    ANOMALY = "anomaly"


NOTIFICATION_EVENTS: tuple[str, ...] = tuple(event.value for event in AlertEvent)
#: Short names of the notifiers Airflow's own providers ship; anything else is "package.module:Class".
NOTIFIER_SHORT_NAMES = ("smtp", "slack")
_NOTIFIER_PATH_PATTERN = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
)
# Credentials belong in the notifier's Airflow connection, never in the offerings file.
_SECRET_OPTION_PATTERN = re.compile(
    r"password|passwd|secret|token|api_?key|webhook|credential", re.IGNORECASE
)


def _events_refused(value: Any) -> str:
    if not isinstance(value, list | tuple) or not value:
        return f"expected a non-empty list of {', '.join(NOTIFICATION_EVENTS)}, got {describe(value)}"
    event = next((event for event in value if event not in NOTIFICATION_EVENTS), None)
    return f"unknown event {event!r} (expected: {', '.join(NOTIFICATION_EVENTS)})"


#: Events in file order, each once: the same event listed twice would send two messages.
Events = Annotated[
    tuple[AlertEvent, ...],
    Field(min_length=1),
    worded(_events_refused, items=True),
    BeforeValidator(
        lambda value: (
            tuple(dict.fromkeys(value))
            if isinstance(value, list | tuple) and all(isinstance(event, str) for event in value)
            else value
        )
    ),
]

NotifierName = Annotated[
    str,
    Field(strict=True, pattern=rf"^({'|'.join(NOTIFIER_SHORT_NAMES)})$|{_NOTIFIER_PATH_PATTERN.pattern}"),
    BeforeValidator(lambda value: value.strip() if isinstance(value, str) else value),
    worded(
        refused_text(
            lambda name: (
                f"expected {' or '.join(NOTIFIER_SHORT_NAMES)} or 'package.module:ClassName', got {name!r}"
            )
        )
    ),
]


def _no_credentials(value: Any, info: ValidationInfo) -> Any:
    """A notifier's options may not hold what looks like a credential (the key is named, never the value)."""
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str) or _SECRET_OPTION_PATTERN.search(key):
                raise invalid(
                    f"{key!r} looks like a credential; keep it in connection {info.data.get('conn_id')!r}, "
                    "never in the offerings file"
                )
    return value


NotifierOptions = Annotated[dict[str, Any], BeforeValidator(_no_credentials), none_as({})]


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

    events: Events = Field(
        description=(
            "What the notifier is sent for, at least one of: `failure` (a failed run), `issues` (a "
            "successful run that still listed issues: skipped bad records, storage paths without "
            "data, unknown inference UUIDs, refused writes), `drift` (the audit found a "
            "difference), `month_closed` (the monthly close DAG ran), `anomaly` (the anomaly guard "
            "found suspicious values before a write, or an approval of held values timed out)."
        ),
    )
    notifier: NotifierName = Field(
        description="`smtp`, `slack`, or the `package.module:ClassName` of an Airflow notifier.",
    )
    conn_id: ConnectionId = Field(
        description="The notifier's Airflow connection; its credentials live there."
    )
    options: NotifierOptions = dataclass_field(
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


def _notification_list(value: Any) -> Any:
    if not isinstance(value, list | tuple):
        raise invalid(f"expected a list, got {describe(value)}")
    return value


#: The notifications of the file or of an offering; ``null`` is none.
Notifications = Annotated[
    tuple[
        Annotated[
            NotificationSettings,
            Refusal(
                lambda value: (
                    f"expected a mapping (events, notifier, conn_id, options), got {describe(value)}"
                ),
                errors=frozenset({"dataclass_type", "dataclass_exact_type", "model_type"}),
            ),
        ],
        ...,
    ],
    BeforeValidator(_notification_list),
    none_as(()),
]
