"""The anomaly guard inside the one write path: evidence, checks, and the split of the plan.

:func:`._waldur_writer.push_report` calls :meth:`AnomalyGuard.apply` between plan and write when
the push, the close or the audit's repair hands it a guard. The evidence (``core.anomalies``'s
``GuardEvidence``) is what Waldur holds for the month (the listing the plan was built from), the
previous month's totals in Waldur (one more listing), and the current fetch's archive against the
archive of the month's last push. Anomalies under ``warn`` become issues of the push; under
``hold`` their (resource, component) pairs are held back (``core.held``) and wait for the
``approve_held_values`` task.

The last push of a month is recorded as a small file next to its archive, ``last_push.json``
(``{"archive": url, "pushed_at": iso}``), written only when a real push held nothing (or an
approval wrote what was held): a fetch whose values were held, or a dry run, never becomes the
reference of the next comparison, so a value still anomalous is held again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_cscs_dwdi.core.amounts import parse_amounts
from airflow_provider_cscs_dwdi.core.anomalies import (
    Anomaly,
    AnomalyGuardSettings,
    ArchiveEvidence,
    GuardEvidence,
    GuardPolicy,
    archive_evidence,
    find_anomalies,
)
from airflow_provider_cscs_dwdi.core.archive import ArchiveError, read_archive
from airflow_provider_cscs_dwdi.core.held import GuardFinding, HeldRow, HeldValues, held_values, split_plan
from airflow_provider_cscs_dwdi.core.issues import Issue
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.core.months import Month
from airflow_provider_cscs_dwdi.core.waldur_state import existing_amount

if TYPE_CHECKING:
    from airflow_provider_cscs_dwdi.core.logs import Log
    from airflow_provider_cscs_dwdi.core.plan_types import WritePlan
    from airflow_provider_cscs_dwdi.core.report import UsageReport
    from airflow_provider_cscs_dwdi.hooks.waldur import WaldurHook

LAST_PUSH_FILE = "last_push.json"
Totals = dict[str, dict[str, Decimal]]


@dataclass
class AnomalyGuard:
    """The guard of one write: its settings and where the archives are.

    :param settings: the offering's ``anomaly_guard`` block.
    :param fetch_archive: the archive the report was aggregated from (None: not known).
    :param pushed_archive_roots: the usage and closing DAGs' archive folders, whose
        ``<month>/last_push.json`` name the archive of the month's last push.
    """

    settings: AnomalyGuardSettings
    fetch_archive: str | None = None
    pushed_archive_roots: Sequence[str] = ()
    #: Hold every change, not only the anomalous ones (the audit's repair: approved as a whole).
    hold_all: bool = False
    #: After :meth:`apply`: what was found and held.
    anomalies: list[Anomaly] = field(default_factory=list)
    held: HeldValues | None = None

    def apply(
        self,
        plan: WritePlan,
        report: UsageReport,
        *,
        hook: WaldurHook,
        offering_uuid: str,
        offering: str,
        state: tuple[Sequence[Mapping[str, Any]], Mapping[str, str]],
        log: Log,
    ) -> WritePlan:
        """The plan to write now; the held part is in :attr:`held`, the anomalies in :attr:`anomalies`.

        :param state: the month's component usages and ``{resource_uuid: backend_id}`` the plan
            was built from.
        """
        if not self.settings.enabled:
            return plan
        rows, backend_ids = state
        kind = UsageKind(report.usage_kind)
        previous = Month.parse(plan.month).previous.first_day.isoformat()
        evidence = GuardEvidence(
            month=plan.month,
            usage_kind=kind,
            new_totals=_report_totals(report),
            waldur_totals=_waldur_totals(rows, backend_ids),
            previous_month_totals=_waldur_totals(
                hook.list_component_usages(offering_uuid, previous, resource_uuids=list(backend_ids)),
                backend_ids,
            ),
            **self._archive_evidence(kind, plan.month, log),
        )
        self.anomalies = find_anomalies(evidence, self.settings)
        hold: list[GuardFinding] = [
            anomaly for anomaly in self.anomalies if anomaly.policy is GuardPolicy.HOLD
        ]
        for anomaly in self.anomalies:
            log.warning("Anomaly (%s, %s): %s", anomaly.check.value, anomaly.policy.value, _named(anomaly))
        if self.hold_all and plan.changed:
            hold.append(_WholeRepair())
        if not hold:
            return replace(plan, issues=(*plan.issues, *map(_issue, self.anomalies)))
        now, held = split_plan(plan, hold)
        held_pairs = {
            (resource.backend_id, component)
            for resource in held.resources
            for component in [c.component_type for c in resource.total_changes]
            + [c.component_type for c in resource.user_changes]
        }
        # A hold anomaly naming no value to write (e.g. a storage path that matches nothing now):
        # shown to the person too, though an approval writes nothing for it.
        quiet = [
            HeldRow(
                resource=anomaly.backend_id or "(all)",
                component=anomaly.component,
                user=anomaly.username,
                waldur_now=None if anomaly.waldur_now is None else str(anomaly.waldur_now),
                dwdi_new=None if anomaly.dwdi_new is None else str(anomaly.dwdi_new),
                why=anomaly.why,
            )
            for anomaly in self.anomalies
            if anomaly.policy is GuardPolicy.HOLD
            and (anomaly.dwdi_new is None or anomaly.dwdi_new != anomaly.waldur_now)
            and not any(
                anomaly.backend_id in (None, backend) and anomaly.component in (None, component)
                for backend, component in held_pairs
            )
        ]
        self.held = held_values(held, hold, offering=offering, unchanged_rows=quiet)
        warned = [anomaly for anomaly in self.anomalies if anomaly.policy is GuardPolicy.WARN]
        log.warning(
            "Holding %d value(s) of %s for approval (task approve_held_values):",
            len(self.held.rows),
            plan.month,
        )
        for row in self.held.rows:
            log.warning(
                "  held: %s %s %s %s -> %s (%s)",
                row.resource,
                row.component or "all",
                row.user or "total",
                row.waldur_now or "(none)",
                row.dwdi_new or "(none)",
                row.why,
            )
        return replace(now, issues=(*now.issues, *map(_issue, warned)))

    def record_push(self, month: str, log: Log) -> None:
        """Name the fetch archive as the month's last push (nothing held, not a dry run)."""
        if self.fetch_archive is None or (self.held is not None and self.held.rows):
            return
        marker = ObjectStoragePath(self.fetch_archive).parent / LAST_PUSH_FILE
        document = {"archive": self.fetch_archive, "month": month, "pushed_at": datetime.now(UTC).isoformat()}
        try:
            marker.write_text(json.dumps(document))
        except OSError as error:  # the next run then compares against an older push, or none
            log.warning("Could not record %s as the last push of %s: %s", self.fetch_archive, month, error)

    def _archive_evidence(self, kind: UsageKind, month: str, log: Log) -> dict[str, Any]:
        """The current fetch's archive against the archive of the month's last push."""
        if kind is UsageKind.INFERENCE or self.fetch_archive is None:
            return {}
        now = _read(self.fetch_archive, log)
        last = self._last_push(month, log)
        before = None if last is None else _read(last, log)
        if now is None:
            return {}
        evidence: dict[str, Any] = {"accounts_with_data_now": now.accounts_with_data}
        if before is not None:
            evidence.update(
                accounts_with_data_last_push=before.accounts_with_data, last_push_month=before.month
            )
        if kind is UsageKind.STORAGE:
            return {
                **evidence,
                "paths_now": now.paths,
                "paths_last_push": None if before is None else before.paths,
            }
        return {
            **evidence,
            "clusters_now": now.clusters,
            "clusters_last_push": None if before is None else before.clusters,
        }

    def _last_push(self, month: str, log: Log) -> str | None:
        """The archive of the month's last push (newest marker of the usage and closing DAGs)."""
        newest: tuple[str, str] | None = None
        for root in self.pushed_archive_roots:
            marker = ObjectStoragePath(root) / month / LAST_PUSH_FILE
            try:
                document = json.loads(marker.read_text())
            except (FileNotFoundError, NotADirectoryError):
                continue
            except (OSError, ValueError) as error:
                log.warning("Unreadable %s (%s): ignored", marker, error)
                continue
            pushed_at, archive = str(document.get("pushed_at", "")), document.get("archive")
            if (
                isinstance(archive, str)
                and archive != self.fetch_archive
                and (newest is None or pushed_at > newest[0])
            ):
                newest = (pushed_at, archive)
        if newest is None:
            log.info("No recorded push of %s: the checks against the last push's archive are skipped.", month)
        return None if newest is None else newest[1]


@dataclass(frozen=True)
class _WholeRepair:
    """The finding that holds every change of a repair for approval (no anomaly of its own)."""

    backend_id: str | None = None
    component: str | None = None
    why: str = "a repair of the audit: written once approved"

    def model_dump(self, *, mode: str) -> dict[str, Any]:
        return {"check": "repair", "policy": "hold", "backend_id": None, "component": None, "why": self.why}


def _read(url: str, log: Log) -> ArchiveEvidence | None:
    """One pass over an archive (its pages streamed); None when it cannot be read."""
    try:
        with ObjectStoragePath(url).open("rb") as raw_file:
            header, pages = read_archive(raw_file)
            return archive_evidence(header, pages)
    except (ArchiveError, OSError, EOFError) as error:
        log.warning("The archive %s cannot be read for the anomaly checks (%s): skipped.", url, error)
        return None


def _report_totals(report: UsageReport) -> Totals:
    return {
        backend_id: parse_amounts(account.get("total", {}), f"accounts.{backend_id}.total")
        for backend_id, account in report.accounts.items()
    }


def _waldur_totals(rows: Sequence[Mapping[str, Any]], backend_ids: Mapping[str, str]) -> Totals:
    totals: Totals = {}
    for row in rows:
        backend_id = backend_ids.get(str(row.get("resource_uuid")))
        amount = existing_amount(row.get("usage"))
        if backend_id and amount is not None:
            totals.setdefault(backend_id, {})[str(row.get("type"))] = amount
    return totals


def _named(anomaly: Anomaly) -> str:
    where = " ".join(part for part in (anomaly.backend_id, anomaly.component, anomaly.username) if part)
    return f"{where}: {anomaly.why}" if where else anomaly.why


def _issue(anomaly: Anomaly) -> Issue:
    return Issue(
        kind="anomaly",
        message=f"Anomaly ({anomaly.check.value}, written): {_named(anomaly)}",
        account=anomaly.backend_id,
        user=anomaly.username,
        field=anomaly.component,
    )


def guard_of(task: Any, context: Any) -> AnomalyGuard | None:
    """The guard of a push or approval task: its ``anomaly_guard`` settings, the report's archive
    (the ``fetch_task_id`` task's XCom of the same map index) and ``pushed_archive_roots``."""
    settings = getattr(task, "anomaly_guard", None)
    if settings is None:
        return None
    ti = context.get("ti")
    fetched = None
    if ti is not None and task.fetch_task_id is not None:
        fetched = ti.xcom_pull(task_ids=task.fetch_task_id, map_indexes=ti.map_index, key="return_value")
    archive = fetched.get("archive") if isinstance(fetched, Mapping) else None
    return AnomalyGuard(
        AnomalyGuardSettings.model_validate(settings),
        fetch_archive=archive if isinstance(archive, str) else None,
        pushed_archive_roots=list(task.pushed_archive_roots),
    )
