"""The drift audit of an offering (``audit:`` in the offerings file): when it runs, how far back."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_cscs_dwdi.core.types import StrippedText, none_as, whole_number, worded
from airflow_provider_cscs_dwdi.core.validation import Refusal, describe

AUDIT_DEFAULT_SCHEDULE = "@weekly"
AUDIT_DEFAULT_MONTHS = 3
AUDIT_MAX_MONTHS = 24

#: A cron expression or preset such as ``@weekly``.
_AuditSchedule = Annotated[
    StrippedText | None,
    worded(
        lambda value: f"expected a cron expression, a preset such as @weekly, or null, got {describe(value)}"
    ),
]


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


#: An offering's ``audit:``: null is the defaults; anything but a mapping is refused in one sentence.
AuditBlock = Annotated[
    AuditSettings,
    none_as({}),
    Refusal(
        lambda value: f"expected a mapping (schedule, months), got {describe(value)}",
        errors=frozenset({"model_type", "model_attributes_type"}),
    ),
]
