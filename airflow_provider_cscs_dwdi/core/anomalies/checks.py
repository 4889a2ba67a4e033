"""The guard's checks: which of a push's new totals look wrong, and why, in a person's words.

:func:`find_anomalies` compares a :class:`~core.anomalies.evidence.GuardEvidence` under an
offering's :class:`~core.anomalies.settings.AnomalyGuardSettings`:

- ``total_decrease`` (compute, inference): a month-to-date total below what Waldur holds for the
  month by more than ``decrease_tolerance``: usage once recorded does not un-happen;
- ``cluster_missing`` (compute): a cluster with rows for an account in the last push of the month
  has none now, reported for each component of the account;
- ``accounts_fell`` (every kind): the accounts (paths, resources) with data fell by more than
  ``accounts_fell_fraction`` since the last push of the month; offering-wide;
- ``jump`` (compute, inference): a total above ``jump_factor`` times the previous month's full
  total and above ``jump_floor``, when Waldur does not hold such a value already (one approval per
  jump, not one a day);
- ``storage_path_unmatched``: a resource whose path matched in the last push matches nothing now,
  or now reads another path;
- ``storage_level_change``: a level more than ``level_change_factor`` above or below the one Waldur
  holds for the month, one of the two above ``level_change_floor``;
- ``storage_none_matched``: no path of the offering matched, when some did before (the last push,
  or Waldur's levels of this or the previous month); offering-wide, and then the per-path
  ``storage_path_unmatched`` is not repeated for each path.

Each anomaly carries its check's policy; :func:`held_keys` and :func:`holds_everything` tell the
write path what to keep back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from airflow_provider_cscs_dwdi.core.anomalies.evidence import GuardEvidence, Totals
from airflow_provider_cscs_dwdi.core.anomalies.settings import AnomalyCheck, AnomalyGuardSettings, GuardPolicy
from airflow_provider_cscs_dwdi.core.kinds import UsageKind

_CHECK_ORDER = {check: index for index, check in enumerate(AnomalyCheck)}


class Anomaly(BaseModel):
    """One suspicious value (or, with ``backend_id`` None, a suspicion about the whole offering).

    ``waldur_now`` and ``dwdi_new`` are the two amounts compared (counts for ``accounts_fell``
    and ``storage_none_matched``); None where there is none (a path that matches nothing has no
    new level). JSON for XCom: ``model_dump(mode="json")``; back with ``model_validate``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: AnomalyCheck
    policy: GuardPolicy
    backend_id: str | None
    component: str | None
    username: str | None = None
    waldur_now: Decimal | None
    dwdi_new: Decimal | None
    why: str


def find_anomalies(evidence: GuardEvidence, settings: AnomalyGuardSettings) -> list[Anomaly]:
    """Every anomaly of one push, sorted by resource, component and check; empty when disabled."""
    if not settings.enabled:
        return []
    found: list[Anomaly] = []
    if evidence.usage_kind is UsageKind.STORAGE:
        found += _storage(evidence, settings)
    else:
        found += _total_decrease(evidence, settings)
        found += _jump(evidence, settings)
        if evidence.usage_kind is UsageKind.COMPUTE:
            found += _cluster_missing(evidence, settings)
    if not any(anomaly.check is AnomalyCheck.STORAGE_NONE_MATCHED for anomaly in found):
        found += _accounts_fell(evidence, settings)  # "0 of N matched" says it already
    return sorted(
        found,
        key=lambda anomaly: (
            anomaly.backend_id is not None,  # offering-wide ones first: they concern everything
            anomaly.backend_id or "",
            anomaly.component or "",
            _CHECK_ORDER[anomaly.check],
            anomaly.username or "",
        ),
    )


def held_keys(anomalies: Iterable[Anomaly]) -> frozenset[tuple[str, str]]:
    """The ``(backend_id, component)`` pairs an anomaly under ``hold`` keeps back.

    Offering-wide anomalies have no pair: see :func:`holds_everything`.
    """
    return frozenset(
        (anomaly.backend_id, anomaly.component)
        for anomaly in anomalies
        if anomaly.policy is GuardPolicy.HOLD
        and anomaly.backend_id is not None
        and anomaly.component is not None
    )


def holds_everything(anomalies: Iterable[Anomaly]) -> bool:
    """An offering-wide anomaly under ``hold``: no value of the push is written until approved."""
    return any(anomaly.policy is GuardPolicy.HOLD and anomaly.backend_id is None for anomaly in anomalies)


def _anomaly(
    settings: AnomalyGuardSettings,
    check: AnomalyCheck,
    backend_id: str | None,
    component: str | None,
    waldur_now: Decimal | None,
    dwdi_new: Decimal | None,
    why: str,
) -> Anomaly:
    return Anomaly(
        check=check,
        policy=settings.policy(check),
        backend_id=backend_id,
        component=component,
        waldur_now=waldur_now,
        dwdi_new=dwdi_new,
        why=why,
    )


def _amount(totals: Totals, backend_id: str, component: str) -> Decimal | None:
    return totals.get(backend_id, {}).get(component)


def _components(evidence: GuardEvidence, backend_id: str) -> list[str]:
    """The components known for a resource, in the report or in Waldur: those a hold can keep."""
    return sorted({*evidence.new_totals.get(backend_id, {}), *evidence.waldur_totals.get(backend_id, {})})


def _each_component(
    evidence: GuardEvidence, settings: AnomalyGuardSettings, check: AnomalyCheck, backend_id: str, why: str
) -> Iterator[Anomaly]:
    """One anomaly per component of a resource (so that a hold keeps each of its values back)."""
    components: list[str | None] = list(_components(evidence, backend_id))
    for component in components or [None]:
        yield _anomaly(
            settings,
            check,
            backend_id,
            component,
            None if component is None else _amount(evidence.waldur_totals, backend_id, component),
            None if component is None else _amount(evidence.new_totals, backend_id, component),
            why,
        )


def _total_decrease(evidence: GuardEvidence, settings: AnomalyGuardSettings) -> Iterator[Anomaly]:
    tolerance = settings.decrease_tolerance
    for backend_id, held in sorted(evidence.waldur_totals.items()):
        for component, now in sorted(held.items()):
            new = _amount(evidence.new_totals, backend_id, component)
            if new is None or now - new <= tolerance:
                continue
            yield _anomaly(
                settings,
                AnomalyCheck.TOTAL_DECREASE,
                backend_id,
                component,
                now,
                new,
                f"{component} of {backend_id} for {evidence.month} would fall from {now} (Waldur now) "
                f"to {new} (DWDI now), {now - new} less, while a month-to-date total only grows "
                f"(rounding may take {tolerance} off).",
            )


def _jump(evidence: GuardEvidence, settings: AnomalyGuardSettings) -> Iterator[Anomaly]:
    factor, floor = settings.jump_factor, settings.jump_floor

    def jumps(amount: Decimal | None, previous: Decimal) -> bool:
        return amount is not None and amount > floor and amount > factor * previous

    for backend_id, totals in sorted(evidence.new_totals.items()):
        for component, new in sorted(totals.items()):
            previous = _amount(evidence.previous_month_totals, backend_id, component)
            # Nothing (or zero) last month gives no scale to jump from: a new project starts so.
            if previous is None or previous <= 0 or not jumps(new, previous):
                continue
            now = _amount(evidence.waldur_totals, backend_id, component)
            if jumps(now, previous):
                continue  # Waldur holds a jump already: approved (or warned) before, not asked again
            yield _anomaly(
                settings,
                AnomalyCheck.JUMP,
                backend_id,
                component,
                now,
                new,
                f"{component} of {backend_id} for {evidence.month} would be {new}, "
                f"{(new / previous).quantize(Decimal('0.1'))} times the {previous} of the month before "
                f"(more than {factor} times, and above the floor of {floor}).",
            )


def _cluster_missing(evidence: GuardEvidence, settings: AnomalyGuardSettings) -> Iterator[Anomaly]:
    before, now = evidence.clusters_last_push, evidence.clusters_now
    if before is None or now is None or not evidence.last_push_comparable:
        return
    for account, clusters in sorted(before.items()):
        missing = sorted(clusters - now.get(account, frozenset()))
        if not missing:
            continue
        names = ", ".join(missing)
        for anomaly in _each_component(
            evidence,
            settings,
            AnomalyCheck.CLUSTER_MISSING,
            account,
            f"account {account} had rows on cluster(s) {names} in the last push of {evidence.month} "
            f"and has none there now",
        ):
            change = (
                f"; {anomaly.component} would go from {anomaly.waldur_now} to {anomaly.dwdi_new}"
                if anomaly.component is not None
                else ""
            )
            yield anomaly.model_copy(update={"why": f"{anomaly.why}{change} (late or lost cluster data?)."})


def _accounts_fell(evidence: GuardEvidence, settings: AnomalyGuardSettings) -> Iterator[Anomaly]:
    before, now = evidence.accounts_with_data_last_push, evidence.accounts_with_data_now
    if before is None or now is None or now >= before or not evidence.last_push_comparable:
        return
    fall = Decimal(before - now) / Decimal(before)
    if fall <= settings.accounts_fell_fraction:
        return
    noun = {UsageKind.COMPUTE: "accounts", UsageKind.STORAGE: "paths", UsageKind.INFERENCE: "resources"}[
        evidence.usage_kind
    ]
    percent = (fall * 100).quantize(Decimal(1))
    yield _anomaly(
        settings,
        AnomalyCheck.ACCOUNTS_FELL,
        None,
        None,
        Decimal(before),
        Decimal(now),
        f"{now} {noun} have data for {evidence.month}, {before} had in the last push: {before - now} "
        f"fewer ({percent}%, more than {(settings.accounts_fell_fraction * 100).normalize():f}%).",
    )


def _storage(evidence: GuardEvidence, settings: AnomalyGuardSettings) -> list[Anomaly]:
    found = list(_none_matched(evidence, settings))
    unmatched = [] if found else list(_path_unmatched(evidence, settings))
    flagged = {anomaly.backend_id for anomaly in unmatched}
    return found + unmatched + list(_level_change(evidence, settings, skip=flagged))


def _matched_before(evidence: GuardEvidence) -> int:
    """How many resources matched a path before: in the last push, else by Waldur's levels."""
    if evidence.paths_last_push is not None and evidence.last_push_comparable:
        return sum(1 for path in evidence.paths_last_push.values() if path is not None)
    return len(evidence.waldur_totals) or len(evidence.previous_month_totals)


def _none_matched(evidence: GuardEvidence, settings: AnomalyGuardSettings) -> Iterator[Anomaly]:
    paths = evidence.paths_now
    if not paths or any(path is not None for path in paths.values()):
        return
    before = _matched_before(evidence)
    if before == 0:
        return
    yield _anomaly(
        settings,
        AnomalyCheck.STORAGE_NONE_MATCHED,
        None,
        None,
        Decimal(before),
        Decimal(0),
        f"0 of {len(paths)} storage paths matched DWDI data for {evidence.month}, where {before} "
        "matched before (renamed filesystem, data type or paths?).",
    )


def _path_unmatched(evidence: GuardEvidence, settings: AnomalyGuardSettings) -> Iterator[Anomaly]:
    now = evidence.paths_now
    if now is None:
        return
    before = evidence.paths_last_push if evidence.last_push_comparable else None
    for backend_id, path in sorted(now.items()):
        old = None if before is None else before.get(backend_id)
        if path is None and old is not None:
            why = (
                f"storage path {old} of {backend_id} matched DWDI data in the last push of "
                f"{evidence.month} and matches nothing now (renamed path?); no level is written for it."
            )
        elif path is None and before is None and backend_id in evidence.waldur_totals:
            why = (
                f"Waldur holds a level of {backend_id} for {evidence.month}, and its storage path "
                "matches no DWDI data now (renamed path?); no level is written for it."
            )
        elif path is not None and old is not None and path != old:
            why = (
                f"the level of {backend_id} would now be read from storage path {path} instead of "
                f"{old}, the path of the last push (changed path_mapping or path_template?)."
            )
        else:
            continue
        yield from _each_component(evidence, settings, AnomalyCheck.STORAGE_PATH_UNMATCHED, backend_id, why)


def _level_change(
    evidence: GuardEvidence, settings: AnomalyGuardSettings, *, skip: set[str | None]
) -> Iterator[Anomaly]:
    factor, floor = settings.level_change_factor, settings.level_change_floor
    for backend_id, totals in sorted(evidence.new_totals.items()):
        if backend_id in skip:
            continue
        for component, new in sorted(totals.items()):
            now = _amount(evidence.waldur_totals, backend_id, component)
            if now is None or max(now, new) <= floor:
                continue
            if new > factor * now:
                direction = "rise"
            elif now > factor * new:
                direction = "fall"
            else:
                continue
            yield _anomaly(
                settings,
                AnomalyCheck.STORAGE_LEVEL_CHANGE,
                backend_id,
                component,
                now,
                new,
                f"{component} of {backend_id} for {evidence.month} would {direction} from {now} "
                f"(Waldur now) to {new} (DWDI now), more than a factor of {factor} within the month "
                f"(unit_factor or path changed?).",
            )


__all__ = ["Anomaly", "find_anomalies", "held_keys", "holds_everything"]
