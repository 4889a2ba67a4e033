"""Values the anomaly guard holds back from a write, and the person's decision on them.

Pure Python. The writer splits its :class:`~core.plan_types.WritePlan` with :func:`split_plan`: the
(resource, component) pairs a ``hold`` anomaly names (with their user usages) wait, the others
are written now. :class:`HeldValues` is what the push leaves in XCom under :data:`HELD_KEY` for
the ``approve_held_values`` task: the rows a person reads (resource, component, user, Waldur now,
DWDI new, why) and the pairs an approval writes, through the same write path, from the same
report. :class:`Decision` is what that task records under :data:`DECISION_KEY`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from airflow_provider_cscs_dwdi.core.amounts import format_amount
from airflow_provider_cscs_dwdi.core.errors import ReportError
from airflow_provider_cscs_dwdi.core.plan_types import ResourcePlan, WritePlan

HELD_KEY = "held_values"
DECISION_KEY = "decision"
#: Rows the approval's table shows; the XCom keeps every held pair (the log lists all rows).
TABLE_ROWS = 200


class GuardFinding(Protocol):
    """What the split reads of an anomaly (``core.anomalies.Anomaly``)."""

    @property
    def backend_id(self) -> str | None: ...
    @property
    def component(self) -> str | None: ...
    @property
    def why(self) -> str: ...
    def model_dump(self, *, mode: str) -> dict[str, Any]: ...


def holds(anomaly: GuardFinding, backend_id: str, component: str) -> bool:
    """Whether ``anomaly`` covers the pair (None names every resource, or every component)."""
    return anomaly.backend_id in (None, backend_id) and anomaly.component in (None, component)


def split_plan(plan: WritePlan, hold: Sequence[GuardFinding]) -> tuple[WritePlan, WritePlan]:
    """``(written now, held)``: the held plan has the changes of the pairs a ``hold`` anomaly names.

    The plan's refusals, skips, issues and resources without data stay with the part written now.
    """
    now: list[ResourcePlan] = []
    held: list[ResourcePlan] = []
    for resource in plan.resources:

        def is_held(component: str, backend_id: str = resource.backend_id) -> bool:
            return any(holds(anomaly, backend_id, component) for anomaly in hold)

        kept_totals = tuple(c for c in resource.total_changes if not is_held(c.component_type))
        kept_users = tuple(c for c in resource.user_changes if not is_held(c.component_type))
        if kept_totals or kept_users or not resource.has_changes:  # all held: counted as held only
            now.append(replace(resource, total_changes=kept_totals, user_changes=kept_users))
        held_totals = tuple(c for c in resource.total_changes if is_held(c.component_type))
        held_users = tuple(c for c in resource.user_changes if is_held(c.component_type))
        if held_totals or held_users:
            held.append(replace(resource, total_changes=held_totals, user_changes=held_users))
    return (
        replace(plan, resources=tuple(now)),
        WritePlan(month=plan.month, resources=tuple(held), refused=(), skipped=(), issues=()),
    )


def only_pairs(plan: WritePlan, pairs: Iterable[tuple[str, str]]) -> WritePlan:
    """The plan restricted to ``pairs`` (backend ID, component): what an approval writes."""
    wanted = frozenset(pairs)
    resources = []
    for resource in plan.resources:
        totals = tuple(c for c in resource.total_changes if (resource.backend_id, c.component_type) in wanted)
        users = tuple(c for c in resource.user_changes if (resource.backend_id, c.component_type) in wanted)
        if totals or users:
            resources.append(replace(resource, total_changes=totals, user_changes=users))
    return WritePlan(month=plan.month, resources=tuple(resources), refused=(), skipped=(), issues=())


class HeldRow(BaseModel):
    """One held value: a resource's component total (``user`` None) or one user's usage of it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    resource: str  # the backend ID
    component: str | None
    user: str | None
    waldur_now: str | None  # 2 decimals; None: Waldur holds nothing
    dwdi_new: str | None  # 2 decimals; None: DWDI has no value (e.g. an unmatched storage path)
    why: str


class HeldValues(BaseModel):
    """The push's held values of one month (XCom ``held_values``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    month: str
    offering: str
    rows: tuple[HeldRow, ...] = ()
    #: The (backend ID, component) pairs an approval writes.
    pairs: tuple[tuple[str, str], ...] = ()
    anomalies: tuple[dict[str, Any], ...] = ()

    def to_xcom(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_xcom(cls, doc: Any) -> HeldValues:
        """Read the document back; raises ReportError naming the bad field."""
        try:
            return cls.model_validate(doc)
        except ValidationError as error:
            first = error.errors()[0]
            place = ".".join(str(part) for part in first["loc"]) or "document"
            raise ReportError(f"held values: {place}: {first['msg']}") from None

    def table(self) -> str:
        """The Markdown table the approval request shows (the first :data:`TABLE_ROWS` rows)."""
        lines = [
            "| resource | component | user | Waldur now | DWDI new | why |",
            "|---|---|---|---:|---:|---|",
        ]
        for row in self.rows[:TABLE_ROWS]:
            cells = (row.resource, row.component or "all", row.user or "(total)")
            amounts = (row.waldur_now or "(none)", row.dwdi_new or "(none)")
            lines.append("| " + " | ".join(_cell(c) for c in (*cells, *amounts, row.why)) + " |")
        if len(self.rows) > TABLE_ROWS:
            lines.append(f"\n... and {len(self.rows) - TABLE_ROWS} more rows in the push task's log.")
        return "\n".join(lines)


def _cell(text: str) -> str:
    """A table cell: a DWDI value cannot break the table or inject markup."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else format_amount(value)


def held_values(
    held: WritePlan,
    anomalies: Sequence[GuardFinding],
    *,
    offering: str,
    unchanged_rows: Sequence[HeldRow] = (),
) -> HeldValues:
    """The document of the held plan; ``unchanged_rows``: anomalies naming no value to write."""
    rows: list[HeldRow] = []
    pairs: set[tuple[str, str]] = set()
    for resource in held.resources:

        def why(component: str, backend_id: str = resource.backend_id) -> str:
            return "; ".join(dict.fromkeys(a.why for a in anomalies if holds(a, backend_id, component)))

        for change in resource.total_changes:
            pairs.add((resource.backend_id, change.component_type))
            rows.append(
                HeldRow(
                    resource=resource.backend_id,
                    component=change.component_type,
                    user=None,
                    waldur_now=_amount(change.old),
                    dwdi_new=_amount(change.new),
                    why=why(change.component_type),
                )
            )
        for user_change in resource.user_changes:
            pairs.add((resource.backend_id, user_change.component_type))
            rows.append(
                HeldRow(
                    resource=resource.backend_id,
                    component=user_change.component_type,
                    user=user_change.username,
                    waldur_now=_amount(user_change.old),
                    dwdi_new=_amount(user_change.new),
                    why=why(user_change.component_type),
                )
            )
    return HeldValues(
        month=held.month,
        offering=offering,
        rows=(*rows, *unchanged_rows),
        pairs=tuple(sorted(pairs)),
        anomalies=tuple(anomaly.model_dump(mode="json") for anomaly in anomalies),
    )


class Decision(BaseModel):
    """Who decided on held values, and when (XCom ``decision`` of ``approve_held_values``)."""

    model_config = ConfigDict(frozen=True)

    month: str
    decision: Literal["approved", "rejected", "timed out"]
    by: str | None  # the Airflow user; None on a timeout
    at: str  # ISO 8601
    written: int = 0  # resources written by the approval
