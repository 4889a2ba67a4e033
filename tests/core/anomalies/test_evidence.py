"""The evidence the guard reads out of a fetch archive: clusters, accounts with data, storage paths."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.anomalies import (
    GuardEvidence,
    accounts_with_data,
    archive_evidence,
    clusters_by_account,
    records_of,
    storage_paths,
)
from airflow_provider_cscs_dwdi.core.anomalies.evidence import totals_of
from airflow_provider_cscs_dwdi.core.archive import ArchiveWriter, read_archive
from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.core.kinds import UsageKind

UUID_A = "3f2c1b0a-9e8d-4c7b-a6f5-e4d3c2b1a090"
UUID_B = "0123456789abcdef0123456789abcdef"


def archive(details: dict[str, Any], pages: Sequence[dict[str, Any]], accounts: list[str] | None) -> bytes:
    """A fetch archive as the fetch task writes it (header, then raw pages)."""
    target = io.BytesIO()
    with ArchiveWriter(target) as writer:
        writer.write_header(
            month="2026-11",
            window={"from": "2026-11-01", "to": "2026-11-12"},
            query={},
            accounts=accounts,
            details=details,
        )
        for index, body in enumerate(pages, 1):
            writer.write_page(index, 200, accounts, json.dumps(body).encode())
    return target.getvalue()


COMPUTE_PAGES = [
    {
        "compute": [
            {"account": "g001", "cluster": "Daint", "totalNodeHours": 1.5, "users": []},  # a total: data
            {"account": "g001", "cluster": "eiger", "users": [{"username": "u", "nodeHours": 2}]},
            {"account": "g002", "cluster": "eiger", "totalNodeHours": 0.25},
            {"account": "g004", "cluster": "eiger", "totalNodeHours": 0, "users": []},  # zeros: no data
            {"account": "other", "cluster": "daint", "totalNodeHours": 3},  # not requested
            {"account": "g003", "totalNodeHours": 1},  # no cluster: data, but no cluster to miss
        ]
    },
    {
        "compute": [
            {"account": "g002", "cluster": "alps", "users": [{"username": "v", "nodeHours": 1}]},
            "not a record",
            {"cluster": "daint", "totalNodeHours": 1},
        ]
    },
    {"no list": []},
]


def test_a_compute_archive_gives_each_requested_account_s_clusters_and_the_accounts_with_data() -> None:
    header, pages = read_archive(
        io.BytesIO(archive({"usage_kind": "compute"}, COMPUTE_PAGES, ["g001", "g002", "g003", "g004"]))
    )

    evidence = archive_evidence(header, pages)

    assert evidence.month == "2026-11"
    assert evidence.usage_kind is UsageKind.COMPUTE
    assert evidence.clusters == {
        "g001": frozenset({"daint", "eiger"}),
        "g002": frozenset({"alps", "eiger"}),
    }
    assert evidence.accounts_with_data == 3
    assert evidence.paths is None


def test_the_offering_s_cluster_filter_applies_to_the_evidence_as_to_the_report() -> None:
    header, pages = read_archive(io.BytesIO(archive({}, COMPUTE_PAGES, None)))  # an older header: compute

    evidence = archive_evidence(header, pages, clusters=["DAINT"])

    # g003 names no cluster: the filter cannot keep it (the report leaves it out too).
    assert evidence.clusters == {"g001": frozenset({"daint"}), "other": frozenset({"daint"})}
    assert evidence.accounts_with_data == 2


def test_the_helpers_read_records_one_piece_at_a_time() -> None:
    records = list(records_of([{"page": 1, "body": body} for body in COMPUTE_PAGES], UsageKind.COMPUTE))

    assert len(records) == 8  # the string is no record
    assert clusters_by_account(records, accounts=["g002"]) == {"g002": frozenset({"alps", "eiger"})}
    assert clusters_by_account(records, clusters=["eiger"]) == {
        "g001": frozenset({"eiger"}),
        "g002": frozenset({"eiger"}),
    }
    assert accounts_with_data(records, header={"accounts": ["g001", "g003", "g009"]}) == 2
    assert accounts_with_data(records) == 4


def test_the_helpers_take_an_archive_s_pages_as_well_as_its_records() -> None:
    pages = [{"page": index, "status": 200, "body": body} for index, body in enumerate(COMPUTE_PAGES, 1)]
    records = list(records_of(pages, UsageKind.COMPUTE))

    assert clusters_by_account(pages) == clusters_by_account(records) != {}
    assert accounts_with_data(pages) == accounts_with_data(records) == 4
    storage = [{"body": {"storage": [{"path": "/a/p1", "spaceUsed": 1}]}}]
    assert storage_paths({"paths": {"p1": "/a/p1", "p2": "/a/p2"}}, storage) == {"p1": "/a/p1", "p2": None}


def test_a_storage_archive_gives_the_path_each_resource_matched_or_none() -> None:
    paths = {"p1": "/capstor/store/cscs/p1", "p2": "/capstor/store/cscs/p2", "legacy": "/capstor/old"}
    pages = [{"storage": [{"path": "/capstor/store/cscs/p1", "spaceUsed": 5}, {"path": "/capstor/other"}]}]
    header, stream = read_archive(
        io.BytesIO(archive({"usage_kind": "storage", "paths": paths}, pages, list(paths)))
    )

    evidence = archive_evidence(header, stream)

    assert evidence.paths == {"p1": "/capstor/store/cscs/p1", "p2": None, "legacy": None}
    assert evidence.accounts_with_data == 1
    assert evidence.clusters is None
    records = list(records_of([{"body": body} for body in pages], UsageKind.STORAGE))
    assert storage_paths(header, records) == evidence.paths
    assert accounts_with_data(records, header=header) == 1


def test_an_inference_archive_counts_resources_whatever_the_uuid_s_spelling() -> None:
    resources = {UUID_A: "llm_a", UUID_B: "llm_b", "0" * 32: "llm_c"}
    pages = [
        {
            "inference": [
                {"waldurResourceUuid": UUID_A.replace("-", "").upper(), "totalCost": 1.5},
                {"waldurResourceUuid": UUID_A, "totalCost": 2},
                {"waldurResourceUuid": "not-a-uuid", "totalCost": 2},
                {"waldurResourceUuid": "f" * 32, "totalCost": 2},  # nobody's
            ]
        }
    ]
    header, stream = read_archive(
        io.BytesIO(
            archive({"usage_kind": "inference", "resources": resources}, pages, list(resources.values()))
        )
    )

    evidence = archive_evidence(header, stream)

    assert evidence.accounts_with_data == 1
    assert (evidence.clusters, evidence.paths) == (None, None)


def test_an_unknown_usage_kind_in_a_header_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match="archive header: usage_kind: unknown usage kind 'gpu'"):
        archive_evidence({"usage_kind": "gpu"}, [])


def test_totals_read_as_decimals_and_nothing_is_never_zero() -> None:
    accounts = {
        "g001": {"total": {"nodeHours": "1.50", "gpuHours": "0.00"}, "users": {}},
        "p1": {"total": {"space": None}},
    }

    assert totals_of(accounts) == {
        "g001": {"nodeHours": Decimal("1.50"), "gpuHours": Decimal("0.00")},
        "p1": {},
    }


def test_evidence_is_plain_data_with_defaults_for_what_is_unknown() -> None:
    evidence = GuardEvidence(month="2026-11", usage_kind="inference", new_totals={"a": {"c": "1.10"}})

    assert evidence.new_totals == {"a": {"c": Decimal("1.10")}}
    assert (evidence.waldur_totals, evidence.previous_month_totals) == ({}, {})
    assert evidence.clusters_now is evidence.paths_now is evidence.accounts_with_data_now is None
    assert evidence.last_push_comparable
    assert not evidence.model_copy(update={"last_push_month": "2026-10"}).last_push_comparable
    assert GuardEvidence.model_validate_json(evidence.model_dump_json()) == evidence


def test_a_month_is_a_month() -> None:
    with pytest.raises(ValueError, match="month"):
        GuardEvidence(month="2026-13", usage_kind="compute", new_totals={})
    with pytest.raises(ValueError, match="last_push_month"):
        GuardEvidence(month="2026-11", usage_kind="compute", new_totals={}, last_push_month="November")
