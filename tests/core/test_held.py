"""Held values: how the guard splits a write plan, and what the approval shows and writes."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.errors import ReportError
from airflow_provider_cscs_dwdi.core.held import HeldValues, held_values, only_pairs, split_plan
from airflow_provider_cscs_dwdi.core.plan_types import AmountChange, ResourcePlan, UserUsageChange, WritePlan


@dataclass(frozen=True)
class Finding:
    """An anomaly as the split reads it (``core.anomalies.Anomaly`` has these fields)."""

    backend_id: str | None
    component: str | None
    why: str = "looks wrong"

    def model_dump(self, *, mode: str) -> dict[str, Any]:
        return {"backend_id": self.backend_id, "component": self.component, "why": self.why}


def resource(backend_id: str, **changes: tuple[str, str]) -> ResourcePlan:
    """A resource whose component totals change ``old -> new``, each with one user changing too."""
    return ResourcePlan(
        backend_id=backend_id,
        resource_uuid=f"uuid-{backend_id}",
        total_changes=tuple(AmountChange(c, Decimal(old), Decimal(new)) for c, (old, new) in changes.items()),
        user_changes=tuple(
            UserUsageChange(c, f"{backend_id}_u1", Decimal(old), Decimal(new))
            for c, (old, new) in changes.items()
        ),
    )


PLAN = WritePlan(
    month="2026-12",
    resources=(
        resource("g001", nodeHours=("100.00", "40.00"), gpuHours=("5.00", "6.00")),
        resource("g002", nodeHours=("10.00", "12.50")),
        resource("g003"),
    ),
    refused=(),
    skipped=("gone",),
    issues=(),
)


def test_a_held_pair_keeps_its_users_and_everything_else_is_written() -> None:
    now, held = split_plan(PLAN, [Finding("g001", "nodeHours")])

    assert [(r.backend_id, [c.component_type for c in r.total_changes]) for r in now.resources] == [
        ("g001", ["gpuHours"]),
        ("g002", ["nodeHours"]),
        ("g003", []),
    ]
    assert now.skipped == ("gone",)
    [kept] = held.resources
    assert (kept.backend_id, [c.component_type for c in kept.total_changes]) == ("g001", ["nodeHours"])
    assert [(c.username, c.new) for c in kept.user_changes] == [("g001_u1", Decimal("40.00"))]


def test_a_resource_wide_or_offering_wide_anomaly_holds_all_it_names() -> None:
    _, by_resource = split_plan(PLAN, [Finding("g001", None)])
    now, everything = split_plan(PLAN, [Finding(None, None)])

    assert [r.backend_id for r in by_resource.resources] == ["g001"]
    assert len(by_resource.resources[0].total_changes) == 2
    assert [r.backend_id for r in everything.resources] == ["g001", "g002"]
    # A resource all of whose changes are held is counted as held only, not as unchanged.
    assert [r.backend_id for r in now.resources] == ["g003"]


def test_an_approval_writes_only_the_held_pairs() -> None:
    approved = only_pairs(PLAN, [("g001", "nodeHours")])

    [written] = approved.resources
    assert [c.component_type for c in written.total_changes] == ["nodeHours"]
    assert [c.component_type for c in written.user_changes] == ["nodeHours"]
    assert (approved.refused, approved.skipped) == ((), ())


def test_the_table_shows_each_held_value_and_cannot_be_broken_by_a_value() -> None:
    _, held = split_plan(PLAN, [Finding("g001", "nodeHours", why="fell | by 60")])
    document = held_values(held, [Finding("g001", "nodeHours", why="fell | by 60")], offering="HPC")

    assert document.pairs == (("g001", "nodeHours"),)
    table = document.table()
    assert "| g001 | nodeHours | (total) | 100.00 | 40.00 | fell \\| by 60 |" in table
    assert "| g001 | nodeHours | g001_u1 | 100.00 | 40.00 | fell \\| by 60 |" in table
    assert HeldValues.from_xcom(document.to_xcom()) == document


def test_a_bad_document_names_its_field() -> None:
    with pytest.raises(ReportError, match="held values: month"):
        HeldValues.from_xcom({"offering": "HPC"})
