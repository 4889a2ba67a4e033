"""The default guard raises nothing on normal months: the sandbox's data, for every usage kind.

The offerings are those of the example file (node hours; GPU node hours on a cluster filter with
``unit_factor`` 0.25; storage in TB and million inodes through a path template and mapping;
inference in CHF), seeded as the sandbox stack seeds them, over four consecutive months, each
checked the way the pushes would meet it:

- every day of the month, day D's month-to-date report against day D-1's (what Waldur then holds)
  and against the month before's full totals, with the clusters and accounts of both fetches;
- the first push of a month, against a Waldur that holds nothing yet for it, the last archive
  being the previous month's (the checks must not compare across months);
- the close (and the reopened month on the 1st): the full month against its last daily push.

Compute's day D is the month's rows up to day D: what DWDI answers on day D, since rows of past
days do not change. (The sandbox's ``DwdiDataset(today=D)`` draws each ``today``'s month anew,
so two of its days are two unrelated months; a run of daily pushes against one sandbox stack
sees one ``today``.) Storage levels and inference costs are one value per month in the sandbox.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.anomalies import (
    AnomalyGuardSettings,
    GuardEvidence,
    archive_evidence,
    find_anomalies,
    totals_of,
)
from airflow_provider_cscs_dwdi.core.anomalies.evidence import Totals
from airflow_provider_cscs_dwdi.core.config import OfferingConfig, load_config
from airflow_provider_cscs_dwdi.core.inference import InferenceAggregator
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from airflow_provider_cscs_dwdi.core.report import build_report
from airflow_provider_cscs_dwdi.core.storage import StorageAggregator
from airflow_provider_cscs_dwdi.core.usage import UsageAggregator
from sandbox.dwdi.inference_data import InferenceDataset
from sandbox.dwdi.storage_data import StorageDataset, StoragePath
from sandbox.dwdi_data import DwdiDataset, month_range
from sandbox.stack import DEFAULT_CLUSTERS, offering_accounts

EXAMPLE = Path(__file__).resolve().parents[3] / "dags" / "cscs_dwdi_offerings.example.yaml"
#: The month before the first checked one gives the first "previous month" totals.
MONTHS = month_range("2026-08", "2026-12")
#: Every profile of the sandbox's data (they repeat every ten accounts, paths or resources).
ACCOUNTS = 20
#: After every month checked: each month's data is complete.
TODAY = date(2027, 1, 15)
SETTINGS = AnomalyGuardSettings()


@dataclass(frozen=True)
class Fetch:
    """One fetch as the flow meets it: the report's totals and the archive's evidence."""

    month: str
    totals: Totals
    clusters: dict[str, frozenset[str]] | None
    accounts_with_data: int
    paths: dict[str, str | None] | None


class Sandbox:
    """The sandbox data of one offering, fetched as the daily DAG fetches it."""

    def __init__(self, index: int, offering: OfferingConfig) -> None:
        self.offering = offering
        self.accounts = offering_accounts(index, offering, ACCOUNTS)
        self.components = offering.components
        self.compute = DwdiDataset(
            accounts=self.accounts,
            clusters=tuple(sorted({*DEFAULT_CLUSTERS, *(offering.clusters or ())})),
            today=TODAY,
        )
        storage = offering.storage
        self.paths = {} if storage is None else storage.paths_of(self.accounts)
        self.storage = StorageDataset(
            paths=[
                StoragePath(path, storage.filesystem, storage.data_type)
                for path in self.paths.values()
                if storage is not None
            ],
            today=TODAY,
        )
        # Waldur gives inference resources their UUIDs; any distinct ones do here.
        self.resources = {str(uuid.uuid5(uuid.NAMESPACE_URL, name)): name for name in self.accounts}
        self.inference = InferenceDataset(resource_uuids=list(self.resources), today=TODAY)

    def fetch(self, month: str, day: int | None = None) -> Fetch:
        """The month as fetched on ``day`` (None: the whole month, as the close fetches it)."""
        kind = self.offering.usage_kind
        header: dict[str, Any] = {"month": month, "usage_kind": kind.value, "accounts": self.accounts}
        aggregator: UsageAggregator | StorageAggregator | InferenceAggregator
        if kind is UsageKind.COMPUTE:
            records = list(self._compute_records(month, day))
            aggregator = UsageAggregator(
                self.components, requested_accounts=self.accounts, clusters=self.offering.clusters
            )
        elif kind is UsageKind.STORAGE:
            assert self.offering.storage is not None
            records = self.storage.entries(
                month,
                list(self.paths.values()),
                self.offering.storage.filesystem,
                self.offering.storage.data_type,
            )
            header["paths"] = self.paths
            aggregator = StorageAggregator(self.components, paths=self.paths)
        else:
            records = self.inference.entries(month, month, list(self.resources))
            header["resources"] = self.resources
            aggregator = InferenceAggregator(self.components, resources=self.resources)
        page = {"page": 1, "status": 200, "body": {kind.value: records}}
        aggregator.add_response(page["body"])
        report = build_report(aggregator.result(), month=month)
        evidence = archive_evidence(header, [page], clusters=self.offering.clusters)
        return Fetch(
            month=month,
            totals=totals_of(report.accounts),
            clusters=evidence.clusters,
            accounts_with_data=evidence.accounts_with_data,
            paths=evidence.paths,
        )

    def _compute_records(self, month: str, day: int | None) -> Iterator[dict[str, Any]]:
        """The month's entries with the rows up to ``day``, totals summed again from those rows."""
        for entry in self.compute.entries(month):
            rows = [row for row in entry["users"] if day is None or int(row["usageDate"][-2:]) <= day]
            if not rows:
                continue
            kept = {**entry, "users": rows}
            for total_field, field in (
                (self.compute.total_field, "nodeHours"),
                (self.compute.gpu_total_field, "gpuHours"),
            ):
                if total_field in entry:
                    kept[total_field] = sum((Decimal(repr(row.get(field, 0))) for row in rows), Decimal(0))
            yield kept


def evidence(
    sandbox: Sandbox, new: Fetch, last: Fetch | None, waldur: Totals, previous_month: Totals
) -> GuardEvidence:
    return GuardEvidence(
        month=new.month,
        usage_kind=sandbox.offering.usage_kind,
        new_totals=new.totals,
        waldur_totals=waldur,
        previous_month_totals=previous_month,
        clusters_now=new.clusters,
        clusters_last_push=None if last is None else last.clusters,
        accounts_with_data_now=new.accounts_with_data,
        accounts_with_data_last_push=None if last is None else last.accounts_with_data,
        paths_now=new.paths,
        paths_last_push=None if last is None else last.paths,
        last_push_month=None if last is None else last.month,
    )


def days_of(month: str) -> range:
    year, number = map(int, month.split("-"))
    return range(1, calendar.monthrange(year, number)[1] + 1)


def pushes(sandbox: Sandbox) -> Iterator[tuple[str, GuardEvidence]]:
    """Every push of the checked months: (what it is, its evidence)."""
    previous = sandbox.fetch(MONTHS[0])
    for month in MONTHS[1:]:
        last: Fetch | None = None
        for day in days_of(month):
            # Day 1 meets the previous month's archive and a Waldur that holds nothing for the month.
            new = sandbox.fetch(month, day) if sandbox.offering.usage_kind is UsageKind.COMPUTE else None
            new = new or sandbox.fetch(month)
            yield (
                f"{month} day {day}",
                evidence(
                    sandbox, new, last or previous, {} if last is None else last.totals, previous.totals
                ),
            )
            last = new
        assert last is not None
        whole = sandbox.fetch(month)
        yield f"{month} close", evidence(sandbox, whole, last, last.totals, previous.totals)
        previous = whole


def offerings() -> Sequence[tuple[int, OfferingConfig]]:
    return list(enumerate(load_config(EXAMPLE).offerings))


def test_the_example_has_every_usage_kind() -> None:
    assert {offering.usage_kind for _index, offering in offerings()} == set(UsageKind)


@pytest.mark.parametrize(("index", "offering"), offerings(), ids=[o.slug for _i, o in offerings()])
def test_the_defaults_raise_nothing_on_normal_months(index: int, offering: OfferingConfig) -> None:
    sandbox = Sandbox(index, offering)
    checked = list(pushes(sandbox))

    # Four months, each with its daily pushes and its close, and with data to compare.
    assert len({label.split()[0] for label, _evidence in checked}) == 4
    assert len(checked) >= 4 * 29
    assert all(evidence.new_totals for _label, evidence in checked)
    assert sum(1 for _label, evidence in checked if evidence.waldur_totals) >= 4 * 28
    found = {label: find_anomalies(evidence, SETTINGS) for label, evidence in checked}
    assert {label: anomalies for label, anomalies in found.items() if anomalies} == {}


@pytest.mark.parametrize(("index", "offering"), offerings(), ids=[o.slug for _i, o in offerings()])
def test_the_same_months_trip_the_guard_once_a_unit_factor_is_a_thousand_times_too_big(
    index: int, offering: OfferingConfig
) -> None:
    """The normal months are no vacuous pass: the same data, multiplied by 1,000 from one day
    on (a ``unit_factor`` typo), is held."""
    sandbox = Sandbox(index, offering)
    month = MONTHS[-1]
    last_month = sandbox.fetch(MONTHS[-2])
    before = sandbox.fetch(month, 10)
    now = sandbox.fetch(month, 11)
    typo = Fetch(
        month=now.month,
        totals={
            backend_id: {component: amount * 1000 for component, amount in totals.items()}
            for backend_id, totals in now.totals.items()
        },
        clusters=now.clusters,
        accounts_with_data=now.accounts_with_data,
        paths=now.paths,
    )

    anomalies = find_anomalies(evidence(sandbox, typo, before, before.totals, last_month.totals), SETTINGS)

    expected_check = "storage_level_change" if offering.usage_kind is UsageKind.STORAGE else "jump"
    assert anomalies, "a thousandfold month went through unseen"
    assert {anomaly.check for anomaly in anomalies} == {expected_check}
    assert all(anomaly.policy == "hold" for anomaly in anomalies)


def _growth(totals: Mapping[str, Mapping[str, Decimal]]) -> Decimal:
    return sum((amount for usage in totals.values() for amount in usage.values()), Decimal(0))


def test_a_compute_month_to_date_grows_day_by_day_in_this_model() -> None:
    """The model of successive days (rows up to day D) is what makes a decrease an anomaly."""
    index, offering = offerings()[0]
    sandbox = Sandbox(index, offering)
    month = MONTHS[-1]

    sums = [_growth(sandbox.fetch(month, day).totals) for day in days_of(month)]

    assert sums == sorted(sums)
    assert sums[0] < sums[-1] == _growth(sandbox.fetch(month).totals)
