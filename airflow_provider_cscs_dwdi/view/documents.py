"""The billing view's read model: the documents a DAG run left in XCom, read into records.

Pure Python, imports nothing from Airflow. ``view.source`` reads, per DAG run, the documents of
``core/xcom.py`` (the aggregate task's report, the push result, the fetch result, the backend IDs)
and the audit result from Airflow's metadata; this module gives them the shape the pages derive
their rows from (``view.month_state``, ``view.month_table``, ``view.summaries``). It never calls
DWDI or Waldur.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

USAGE_DAG_PREFIX = "cscs_dwdi_usage_"
CLOSE_DAG_PREFIX = "cscs_dwdi_close_"
AUDIT_DAG_PREFIX = "cscs_dwdi_audit_"
ROLES = {"usage": USAGE_DAG_PREFIX, "close": CLOSE_DAG_PREFIX, "audit": AUDIT_DAG_PREFIX}

ZERO = Decimal("0.00")


@contextmanager
def no_gc_pauses() -> Iterator[None]:
    """Build many small acyclic objects without the cyclic collector rescanning the cached reports.

    With a year of reports cached (millions of objects) each generation-2 collection walks all of
    them: building a 20,000-row table took 0.9 s with collections and 0.14 s without. Nothing
    built here has cycles, so reference counting frees it all the same.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _amount(raw: Any) -> Decimal:
    try:
        return Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return ZERO


def shown(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:.2f}"


@dataclass(frozen=True)
class MonthReport:
    """One aggregate report, compacted: totals per backend ID in component order, users as sent."""

    month: str
    usage_kind: str
    components: tuple[str, ...]
    labels: Mapping[str, str]
    window_to: str | None
    totals: Mapping[str, tuple[Decimal, ...]]
    users: Mapping[str, Mapping[str, Mapping[str, str]]]
    issues_by_account: Mapping[str, tuple[str, ...]]
    issues: tuple[str, ...]
    sums: tuple[Decimal, ...]
    #: Storage resources DWDI had no level for (never in ``totals``): the push writes nothing.
    without_data: tuple[str, ...] = ()

    @classmethod
    def from_xcom(cls, doc: Mapping[str, Any]) -> MonthReport:
        """Read an ``aggregate_usage`` document (``core.report.UsageReport.to_xcom()``)."""
        with no_gc_pauses():
            return cls._read(doc)

    @classmethod
    def _read(cls, doc: Mapping[str, Any]) -> MonthReport:
        components_doc = doc.get("components") or {}
        components = tuple(components_doc)
        labels = {
            name: str((settings or {}).get("label") or name) for name, settings in components_doc.items()
        }
        totals: dict[str, tuple[Decimal, ...]] = {}
        users: dict[str, Mapping[str, Mapping[str, str]]] = {}
        sums = [Decimal(0)] * len(components)
        for backend_id, usage in (doc.get("accounts") or {}).items():
            total = usage.get("total") or {}
            row = tuple(_amount(total.get(name, "0")) for name in components)
            totals[backend_id] = row
            for index, value in enumerate(row):
                sums[index] += value
            if usage.get("users"):
                users[backend_id] = usage["users"]
        by_account: dict[str, list[str]] = {}
        messages: list[str] = []
        for backend_id in doc.get("without_data") or ():
            # Storage paths DWDI had no level for: the push writes nothing for them.
            by_account.setdefault(str(backend_id), []).append("no storage data from DWDI: not written")
        for issue in doc.get("issues") or ():
            message = str(issue.get("message") or issue.get("kind") or "issue")
            messages.append(message)
            account = issue.get("account") or issue.get("backend_id")
            if account:
                by_account.setdefault(str(account), []).append(message)
        window = doc.get("window") or {}
        return cls(
            month=str(doc.get("month")),
            usage_kind=str(doc.get("usage_kind") or "compute"),
            components=components,
            labels=labels,
            window_to=window.get("to") if isinstance(window, Mapping) else None,
            totals=totals,
            users=users,
            issues_by_account={key: tuple(value) for key, value in by_account.items()},
            issues=tuple(messages),
            sums=tuple(sums),
            without_data=tuple(str(backend_id) for backend_id in doc.get("without_data") or ()),
        )

    def total_of(self, backend_id: str, component: str) -> Decimal | None:
        row = self.totals.get(backend_id)
        if row is None or component not in self.components:
            return None
        return row[self.components.index(component)]


@dataclass(frozen=True)
class HeldRecord:
    """What the anomaly guard held back from one push, and what became of it.

    Read from the push's ``held_values`` XCom (``core.held.HeldValues``) and, from the
    ``approve_held_values`` task of the same run and map index, its ``decision`` and the result
    of the approved write. A held pair is in Waldur only once an approval wrote it; until then
    Waldur keeps ``waldur_now`` (the value before the push; None: nothing).
    """

    pairs: frozenset[tuple[str, str]]  # (backend ID, component)
    waldur_now: Mapping[tuple[str, str], Decimal | None]
    why: Mapping[tuple[str, str], str]
    decision: str | None = None  # approved | rejected | timed out; None: not answered (yet)
    decided_by: str | None = None
    decided_at: str | None = None
    approval: Mapping[str, Any] | None = None  # the approved write's PushResult

    @classmethod
    def from_xcom(
        cls, doc: Mapping[str, Any], decision: Mapping[str, Any] | None, approval: Mapping[str, Any] | None
    ) -> HeldRecord:
        pairs: set[tuple[str, str]] = set()
        for pair in doc.get("pairs") or ():
            if isinstance(pair, (list, tuple)) and len(pair) == 2:
                pairs.add((str(pair[0]), str(pair[1])))
        now: dict[tuple[str, str], Decimal | None] = {}
        why: dict[tuple[str, str], str] = {}
        for row in doc.get("rows") or ():
            key = (str(row.get("resource")), str(row.get("component")))
            if row.get("user") is None and key in pairs:
                raw = row.get("waldur_now")
                now[key] = None if raw is None else _amount(raw)
                why[key] = str(row.get("why") or "")
        decision = decision or {}
        return cls(
            pairs=frozenset(pairs),
            waldur_now=now,
            why=why,
            decision=str(decision["decision"]) if decision.get("decision") else None,
            decided_by=str(decision["by"]) if decision.get("by") else None,
            decided_at=str(decision["at"]) if decision.get("at") else None,
            approval=approval,
        )

    @property
    def approved(self) -> bool:
        # A failed approved write leaves its result but no decision (the task failed first).
        return self.decision == "approved" or (self.decision is None and self.approval is not None)

    @property
    def written(self) -> frozenset[tuple[str, str]]:
        """The held pairs an approval wrote (none when it was a dry run or not approved)."""
        approval = self.approval or {}
        if not self.approved or not approval or approval.get("dry_run", False):
            return frozenset()
        failures = approval.get("failures") or ()
        if int(approval.get("failed", 0)) > len(failures):
            return frozenset()  # not every failed resource is named: count none as written
        failed = {str(item.get("backend_id")) for item in failures}
        return frozenset(pair for pair in self.pairs if pair[0] not in failed)

    @property
    def unwritten(self) -> frozenset[tuple[str, str]]:
        """The held pairs Waldur does not hold DWDI's value of."""
        return self.pairs - self.written

    def state(self) -> str:
        """How the overview and the tables name the approval."""
        who = f" by {self.decided_by}" if self.decided_by else ""
        when = f" at {self.decided_at}" if self.decided_at else ""
        if self.approved and not self.unwritten:
            return f"approved{who}{when}, written"
        if self.approved:
            return f"approved{who}{when}, write failed"
        if self.decision is None:
            return "not approved (yet)"
        return f"{self.decision}{who}{when}"


@dataclass(frozen=True)
class PushRecord:
    """One month pushed by one DAG run: its report, push result and fetch result (any may be missing).

    ``unreachable`` says why the report could not be read (then the month is shown as such).
    ``held``: what the anomaly guard held back (None: nothing, or the document is gone; see
    :attr:`held_unknown`).
    """

    month: str
    report: MonthReport | None
    result: Mapping[str, Any] | None
    fetch: Mapping[str, Any] | None = None
    unreachable: str | None = None
    held: HeldRecord | None = None

    @property
    def held_count(self) -> int:
        """Values the push held for approval (its result's count: every row, users included)."""
        return int((self.result or {}).get("held") or 0)

    @property
    def held_unknown(self) -> bool:
        """Values were held but their document is gone: what Waldur holds is not known."""
        return self.held_count > 0 and self.held is None

    @property
    def unwritten_held(self) -> frozenset[tuple[str, str]]:
        """(backend ID, component) pairs held and not (yet) written by an approval."""
        return self.held.unwritten if self.held is not None and self.held_count else frozenset()

    @property
    def wrote(self) -> bool:
        """A real push (not a dry run) that produced its result."""
        return self.result is not None and not self.result.get("dry_run", False)

    @property
    def failed_ids(self) -> frozenset[str]:
        failures = (self.result or {}).get("failures") or ()
        return frozenset(str(item.get("backend_id")) for item in failures if item.get("backend_id"))

    @property
    def all_failures_known(self) -> bool:
        result = self.result or {}
        return int(result.get("failed", 0)) <= len(result.get("failures") or ())


@dataclass(frozen=True)
class RunRecord:
    """One DAG run of an offering's three DAGs and the documents it left in XCom."""

    dag_id: str
    run_id: str
    role: str  # usage | close | audit
    state: str
    at: datetime
    pushes: tuple[PushRecord, ...] = ()
    audit: Mapping[str, Any] | None = None
    resource_uuids: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Offering:
    slug: str
    name: str
    dag_ids: Mapping[str, str]  # role -> dag_id, for the DAGs that exist


def role_of(dag_id: str) -> tuple[str, str] | None:
    """``(role, slug)`` of one of the factory's DAG IDs, or None."""
    for role, prefix in ROLES.items():
        if dag_id.startswith(prefix) and len(dag_id) > len(prefix):
            return role, dag_id[len(prefix) :]
    return None


def offering_name(description: str | None, slug: str) -> str:
    """The offering's name from the usage DAG's description ("Report CSCS-DWDI usage of 'X' to Waldur")."""
    match = re.search(r"'(.+)'", description or "")
    return match.group(1) if match else slug
