"""An offering's ``anomaly_guard:`` block: what counts as suspicious, and what a suspicion does.

The guard compares a push's new totals with what Waldur holds for the month (the last push),
with the previous month's totals and with the previous push's archive (``core.anomalies.checks``).
Each check has a threshold here and a policy: ``warn`` writes the value and lists the anomaly
(issue and alert), ``hold`` keeps the value back until a person approves it in Airflow.

The defaults must raise nothing on a normal month: ``tests/core/anomalies`` runs them over
several months of the sandbox's data for each usage kind (month after month and day after day)
and expects no anomaly at all. Amounts (tolerance and floors) are in each component's billed unit
(node-hours, TB, CHF...), after ``unit_factor``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from annotated_types import Ge, Gt, Lt
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, field_validator

from airflow_provider_cscs_dwdi.core.types import lower_case, none_as, one_of, whole_number
from airflow_provider_cscs_dwdi.core.validation import Refusal, describe


class GuardPolicy(StrEnum):
    """What an anomaly does to its value: written and reported, or held for approval."""

    WARN = "warn"
    HOLD = "hold"


class AnomalyCheck(StrEnum):
    """The checks of the guard (``core.anomalies.checks`` says what each compares)."""

    TOTAL_DECREASE = "total_decrease"
    CLUSTER_MISSING = "cluster_missing"
    ACCOUNTS_FELL = "accounts_fell"
    JUMP = "jump"
    STORAGE_PATH_UNMATCHED = "storage_path_unmatched"
    STORAGE_LEVEL_CHANGE = "storage_level_change"
    STORAGE_NONE_MATCHED = "storage_none_matched"


#: The policy of each check unless the offering says otherwise. Why each:
#:
#: - ``total_decrease``: hold. Usage already recorded does not un-happen, so a month-to-date total
#:   that falls means DWDI lost rows (late cluster, partial answer) or a setting changed; written,
#:   it lowers an invoice silently. The audit repair of a real over-count also falls: a person
#:   then approves it in the same place.
#: - ``cluster_missing``: hold. A cluster whose data arrives late drops every account on it; the
#:   drop of a whole cluster must not reach an invoice unseen.
#: - ``accounts_fell``: warn. Offering-wide, so holding it would hold every value, the correct
#:   ones too; the accounts that lost their data fall to a lower total, and each of those is
#:   already held by ``total_decrease`` (or ``cluster_missing``). The warning names the count.
#: - ``jump``: hold. A ``unit_factor`` typo multiplies a month by 1,000; a value far above last
#:   month's and above the floor is worth one look before it is billed.
#: - ``storage_path_unmatched``: hold. A resource's level now comes from another path, or from
#:   none: a renamed path bills another project's level, or none at all.
#: - ``storage_level_change``: hold. Within a month a level moves slowly; a factor of 10 is a unit
#:   or path mistake far more often than real data.
#: - ``storage_none_matched``: hold. 0 of N paths matched, for an offering that matched before, is
#:   a renamed filesystem or data type, never a real month.
DEFAULT_POLICIES: dict[AnomalyCheck, GuardPolicy] = {
    AnomalyCheck.TOTAL_DECREASE: GuardPolicy.HOLD,
    AnomalyCheck.CLUSTER_MISSING: GuardPolicy.HOLD,
    AnomalyCheck.ACCOUNTS_FELL: GuardPolicy.WARN,
    AnomalyCheck.JUMP: GuardPolicy.HOLD,
    AnomalyCheck.STORAGE_PATH_UNMATCHED: GuardPolicy.HOLD,
    AnomalyCheck.STORAGE_LEVEL_CHANGE: GuardPolicy.HOLD,
    AnomalyCheck.STORAGE_NONE_MATCHED: GuardPolicy.HOLD,
}

#: A billed total is DWDI's sum rounded half up to cents once, so a month-to-date total that only
#: grew never shows less; one cent covers DWDI's own float sums (``12.374999...`` for 12.375)
#: landing on the other side of a half cent from one day to the next.
DEFAULT_DECREASE_TOLERANCE = Decimal("0.01")
#: Within a month the accounts with data only grow (their rows stay); a tenth fewer is a partial
#: answer, while one account of a small offering (1 of 6 is 17%) still names itself through
#: ``total_decrease``.
DEFAULT_ACCOUNTS_FELL_FRACTION = Decimal("0.1")
#: Ten times last month is far outside a project's month-to-month variation (the sandbox's
#: compute accounts vary by up to 18 times between months, but only below 1,000 node-hours).
DEFAULT_JUMP_FACTOR = Decimal(10)
#: High on purpose: a quiet month gives no scale to jump from. The sandbox's inference resources
#: cost anything up to 50,000 CHF in a month that follows a month of one cent (its data draws
#: each month anew, rounding edges included), and every lower floor tried (1,000; 10,000; 49,000)
#: held such a normal month. At 50,000 a ``unit_factor`` typo x1,000 is still held for every
#: resource or account billing more than 50 a month, the mistake this check is for.
DEFAULT_JUMP_FLOOR = Decimal(50000)
#: Within a month a storage level is one value DWDI recomputes as data is written: ten times more
#: or less in days is a unit or path mistake. Between months no level is compared (a project may
#: load or delete a dataset), which is why the sandbox's levels, drawn anew each month, pass.
DEFAULT_LEVEL_CHANGE_FACTOR = Decimal(10)
#: 1 TB (or 1 million inodes, in the example's units): smaller levels may move freely.
DEFAULT_LEVEL_CHANGE_FLOOR = Decimal(1)
DEFAULT_APPROVAL_TIMEOUT_HOURS = 24
MAX_APPROVAL_TIMEOUT_HOURS = 24 * 31


def _number_refusal(bound: str) -> tuple[Refusal, Refusal]:
    """The two sentences of a Decimal setting: out of its range, and not a number at all."""
    return (
        Refusal(
            lambda value: f"expected a number {bound}, got {str(value)!r}",
            errors=frozenset(
                {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number"}
            ),
        ),
        Refusal(lambda value: f"expected a number {bound}, got {describe(value)}"),
    )


#: An amount in a component's billed unit (a tolerance, a floor): 0 or more.
_Amount = Annotated[Decimal, Ge(0), *_number_refusal(">= 0")]
#: A factor above 1: "more than 1 times last month" would flag every month that grew.
_Factor = Annotated[Decimal, Gt(1), *_number_refusal("> 1")]
#: A fraction of a count, from 0 (any fall) to just below 1.
_Fraction = Annotated[Decimal, Ge(0), Lt(1), *_number_refusal("from 0 to below 1")]
_Enabled = Annotated[bool, Strict(), Refusal(lambda value: f"expected true or false, got {describe(value)}")]
_Check = Annotated[
    AnomalyCheck,
    BeforeValidator(lower_case),
    one_of(tuple(check.value for check in AnomalyCheck), any_case=True),
]
_Policy = Annotated[
    GuardPolicy,
    BeforeValidator(lower_case),
    one_of(tuple(policy.value for policy in GuardPolicy), any_case=True),
]


class AnomalyGuardSettings(BaseModel):
    """The guard of one offering: on or off, the thresholds, the policy of each check.

    ``policies`` as written in the file names only the checks whose policy changes; the others
    keep :data:`DEFAULT_POLICIES`, so the model always holds a policy for every check.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="Anomaly guard settings",
        json_schema_extra={
            "description": (
                "Checks of every push before it writes (daily, close, audit repair): a value that "
                "looks wrong is written with a warning (`warn`) or held until a person approves it "
                "in Airflow (`hold`). Amounts are in each component's billed unit. The defaults "
                "raise nothing on a normal month."
            )
        },
    )

    enabled: _Enabled = Field(
        default=True, description="Run the checks; `false` writes every value as DWDI reports it."
    )
    decrease_tolerance: _Amount = Field(
        default=DEFAULT_DECREASE_TOLERANCE,
        description=(
            "`total_decrease`: a compute or inference month-to-date total may fall below what "
            "Waldur holds by this much (rounding of DWDI's own sums) before it is an anomaly."
        ),
    )
    accounts_fell_fraction: _Fraction = Field(
        default=DEFAULT_ACCOUNTS_FELL_FRACTION,
        description=(
            "`accounts_fell`: an anomaly when the accounts (paths, resources) with data fall by "
            "more than this fraction of the last push of the month; 0: any fall."
        ),
    )
    jump_factor: _Factor = Field(
        default=DEFAULT_JUMP_FACTOR,
        description=(
            "`jump`: an anomaly when a compute or inference month-to-date total is above this "
            "factor times the previous month's full total (and above `jump_floor`)."
        ),
    )
    jump_floor: _Amount = Field(
        default=DEFAULT_JUMP_FLOOR,
        description=(
            "`jump`: totals up to this amount never jump, so small accounts don't trip it; a "
            "`unit_factor` typo x1000 is still held for anything billing more than 50 a month."
        ),
    )
    level_change_factor: _Factor = Field(
        default=DEFAULT_LEVEL_CHANGE_FACTOR,
        description=(
            "`storage_level_change`: an anomaly when a storage level is more than this factor above "
            "or below the level Waldur holds for the month (and one of them is above the floor)."
        ),
    )
    level_change_floor: _Amount = Field(
        default=DEFAULT_LEVEL_CHANGE_FLOOR,
        description="`storage_level_change`: levels up to this amount, before and after, never change.",
    )
    policies: Annotated[
        dict[_Check, _Policy],
        none_as({}),
        Refusal(lambda value: f"expected a mapping of check to warn or hold, got {describe(value)}"),
    ] = Field(
        default_factory=lambda: dict(DEFAULT_POLICIES),
        description=(
            "Check -> `warn` (write, list the anomaly as an issue, alert) or `hold` (write the "
            "rest, hold this value for approval). Checks not named keep their default: hold, "
            "except `accounts_fell` (warn: each account it concerns is held by `total_decrease`)."
        ),
    )
    approval_timeout_hours: whole_number(1, MAX_APPROVAL_TIMEOUT_HOURS) = Field(  # type: ignore[valid-type]
        default=DEFAULT_APPROVAL_TIMEOUT_HOURS,
        description=(
            f"How long a request for approval waits (1 to {MAX_APPROVAL_TIMEOUT_HOURS} hours); "
            "unanswered, nothing held is written and an `anomaly` alert is sent."
        ),
    )

    @field_validator("policies", mode="after")
    @classmethod
    def _every_check(cls, value: dict[AnomalyCheck, GuardPolicy]) -> dict[AnomalyCheck, GuardPolicy]:
        return {check: value.get(check, DEFAULT_POLICIES[check]) for check in AnomalyCheck}

    def policy(self, check: AnomalyCheck) -> GuardPolicy:
        """The policy of ``check`` for this offering."""
        return self.policies[check]


__all__ = [
    "DEFAULT_POLICIES",
    "AnomalyCheck",
    "AnomalyGuardSettings",
    "GuardPolicy",
]
