"""TEMPORARY stand-in for ``core/anomalies/`` (branch guardcore), with the agreed names only.

The flow (``operators/_guard.py``) imports the guard's names from here until guardcore's package
is merged; then this module is deleted and the imports point at ``core.anomalies``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from airflow_provider_cscs_dwdi.core.kinds import UsageKind


class GuardPolicy(StrEnum):
    WARN = "warn"
    HOLD = "hold"


class AnomalyCheck(StrEnum):
    TOTAL_DECREASE = "total_decrease"
    CLUSTER_MISSING = "cluster_missing"
    ACCOUNTS_FELL = "accounts_fell"
    JUMP = "jump"
    STORAGE_PATH_UNMATCHED = "storage_path_unmatched"
    STORAGE_LEVEL_CHANGE = "storage_level_change"
    STORAGE_NONE_MATCHED = "storage_none_matched"


_DEFAULT_POLICIES = {check: GuardPolicy.HOLD for check in AnomalyCheck} | {
    AnomalyCheck.ACCOUNTS_FELL: GuardPolicy.WARN
}


class AnomalyGuardSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    jump_factor: Decimal = Decimal(5)
    jump_floor: Decimal = Decimal(100)
    level_factor: Decimal = Decimal(10)
    policies: dict[AnomalyCheck, GuardPolicy] = _DEFAULT_POLICIES
    approval_timeout_hours: float = 24


class GuardEvidence(BaseModel):
    month: str
    usage_kind: UsageKind
    new_totals: dict[str, dict[str, Decimal]]
    waldur_totals: dict[str, dict[str, Decimal]]
    previous_month_totals: dict[str, dict[str, Decimal]]
    clusters_now: dict[str, frozenset[str]] | None = None
    clusters_last_push: dict[str, frozenset[str]] | None = None
    accounts_with_data_now: int | None = None
    accounts_with_data_last_push: int | None = None
    paths_now: dict[str, str | None] | None = None
    paths_last_push: dict[str, str | None] | None = None


class Anomaly(BaseModel):
    model_config = ConfigDict(frozen=True)

    check: AnomalyCheck
    policy: GuardPolicy
    backend_id: str | None
    component: str | None
    username: str | None
    waldur_now: Decimal | None
    dwdi_new: Decimal | None
    why: str


def _entries(pages: Iterable[Mapping[str, Any]], key: str) -> Iterable[Mapping[str, Any]]:
    for page in pages:
        body = page.get("body")
        items = body.get(key) if isinstance(body, Mapping) else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping):
                yield item


def clusters_by_account(records: Iterable[Mapping[str, Any]]) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for entry in _entries(records, "compute"):
        account, cluster = entry.get("account"), entry.get("cluster")
        if isinstance(account, str) and isinstance(cluster, str) and entry.get("users"):
            found.setdefault(account, set()).add(cluster)
    return {account: frozenset(clusters) for account, clusters in found.items()}


def accounts_with_data(records: Iterable[Mapping[str, Any]]) -> int:
    return len(clusters_by_account(records))


def storage_paths(header: Mapping[str, Any], records: Iterable[Mapping[str, Any]]) -> dict[str, str | None]:
    answered = {str(entry.get("path")) for entry in _entries(records, "storage")}
    paths = header.get("paths") or {}
    return {str(b): (str(p) if p in answered else None) for b, p in dict(paths).items()}


def find_anomalies(evidence: GuardEvidence, settings: AnomalyGuardSettings) -> list[Anomaly]:
    if not settings.enabled:
        return []
    found: list[Anomaly] = []

    def add(check: AnomalyCheck, backend_id: str | None, component: str | None, why: str) -> None:
        now = evidence.waldur_totals.get(backend_id or "", {}).get(component or "")
        new = evidence.new_totals.get(backend_id or "", {}).get(component or "")
        found.append(
            Anomaly(
                check=check,
                policy=settings.policies.get(check, GuardPolicy.HOLD),
                backend_id=backend_id,
                component=component,
                username=None,
                waldur_now=now,
                dwdi_new=new,
                why=why,
            )
        )

    for backend_id, totals in evidence.new_totals.items():
        for component, new in totals.items():
            held = evidence.waldur_totals.get(backend_id, {}).get(component)
            before = evidence.previous_month_totals.get(backend_id, {}).get(component)
            storage = evidence.usage_kind is UsageKind.STORAGE
            if not storage and held is not None and new < held - Decimal("0.01"):
                add(AnomalyCheck.TOTAL_DECREASE, backend_id, component, f"went down from {held} to {new}")
            if before and new > settings.jump_floor and new > settings.jump_factor * before:
                check = AnomalyCheck.STORAGE_LEVEL_CHANGE if storage else AnomalyCheck.JUMP
                add(check, backend_id, component, f"{new} is above {settings.jump_factor} x {before}")
    if evidence.clusters_now is not None and evidence.clusters_last_push is not None:
        for backend_id, clusters in evidence.clusters_last_push.items():
            gone = sorted(clusters - evidence.clusters_now.get(backend_id, frozenset()))
            if gone:
                add(AnomalyCheck.CLUSTER_MISSING, backend_id, None, f"cluster(s) {', '.join(gone)} missing")
    if evidence.paths_now is not None and evidence.paths_last_push is not None:
        for backend_id, path in evidence.paths_last_push.items():
            if path is not None and evidence.paths_now.get(backend_id) is None:
                add(AnomalyCheck.STORAGE_PATH_UNMATCHED, backend_id, None, f"path {path} no longer matches")
    return sorted(found, key=lambda a: (a.backend_id or "", a.component or "", a.check.value))


def held_keys(anomalies: Iterable[Anomaly]) -> frozenset[tuple[str, str]]:
    return frozenset(
        (a.backend_id, a.component)
        for a in anomalies
        if a.policy is GuardPolicy.HOLD and a.backend_id and a.component
    )


def holds_everything(anomalies: Iterable[Anomaly]) -> bool:
    return any(a.policy is GuardPolicy.HOLD and a.backend_id is None for a in anomalies)
