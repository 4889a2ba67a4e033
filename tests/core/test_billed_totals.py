"""The asset event's extra and its checksum of the billed totals."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from airflow_provider_cscs_dwdi.core.billed_totals import billed_totals_checksum, billing_event_extra
from airflow_provider_cscs_dwdi.core.report import UsageReport
from tests.core.xcom_samples import STORAGE_PUSH

REPORT = UsageReport(
    month="2026-11",
    window={"from": "2026-11-01", "to": "2026-11-30"},
    policy="skip",
    components={},
    accounts={
        "p2": {"total": {"nodeHours": "3.50"}, "users": {"p2_u1": {"nodeHours": "3.50"}}},
        "p1": {"total": {"nodeHours": "12.50", "gpuNodeHours": "0.25"}, "users": {}},
    },
    issues=(),
    counts={},
)


def test_the_checksum_is_sha256_of_the_sorted_documented_lines() -> None:
    text = "p1\t\tgpuNodeHours\t0.25\np1\t\tnodeHours\t12.50\np2\t\tnodeHours\t3.50\np2\tp2_u1\tnodeHours\t3.50\n"

    assert billed_totals_checksum(REPORT) == "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_the_checksum_ignores_order_and_sees_every_cent_and_every_user() -> None:
    reordered = replace(REPORT, accounts=dict(reversed(list(REPORT.accounts.items()))))
    one_cent_more = replace(
        REPORT,
        accounts={
            **REPORT.accounts,
            "p1": {"total": {"nodeHours": "12.51", "gpuNodeHours": "0.25"}, "users": {}},
        },
    )
    user_moved = replace(
        REPORT,
        accounts={
            **REPORT.accounts,
            "p2": {"total": {"nodeHours": "3.50"}, "users": {"p2_u2": {"nodeHours": "3.50"}}},
        },
    )

    assert billed_totals_checksum(reordered) == billed_totals_checksum(REPORT)
    assert billed_totals_checksum(one_cent_more) != billed_totals_checksum(REPORT)
    assert billed_totals_checksum(user_moved) != billed_totals_checksum(REPORT)


def test_the_extra_says_month_kind_counts_closed_and_leaves_out_resources_without_data() -> None:
    storage = replace(
        REPORT,
        usage_kind="storage",
        accounts={
            "s1": {"total": {"space": "1.00"}, "users": {}},
            "s4": {"total": {"space": "0.00"}, "users": {}},
        },
        without_data=("s4",),
    )
    only_s1 = replace(storage, accounts={"s1": storage.accounts["s1"]}, without_data=())

    extra = billing_event_extra(storage, STORAGE_PUSH, offering_uuid="7a" * 16, closed=True)

    assert extra == {
        "offering_uuid": "7a" * 16,
        "month": "2026-11",
        "usage_kind": "storage",
        "closed": True,
        "written": 1,
        "unchanged": 0,
        "user_usages_written": 0,
        "issues": 1,
        "resources_billed": 1,
        "checksum": billed_totals_checksum(only_s1),
    }


def test_unknown_inference_resources_count_as_issues() -> None:
    inference = replace(
        REPORT,
        usage_kind="inference",
        counts={"accounts_ignored": 2},
        ignored_accounts_sample=("0badc0de000040008000000000000001", "0badc0de000040008000000000000002"),
    )

    assert billing_event_extra(inference, STORAGE_PUSH, offering_uuid="3d" * 16, closed=False)["issues"] == 3
    assert (
        billing_event_extra(
            replace(inference, usage_kind="compute"), STORAGE_PUSH, offering_uuid="3d" * 16, closed=False
        )["issues"]
        == 1
    )
