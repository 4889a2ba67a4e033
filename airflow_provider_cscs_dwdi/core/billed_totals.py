"""What a push tells downstream DAGs: the asset event's extra, with a checksum of the billed totals.

Pure Python; ``assets.py`` attaches the extra to the offering's Asset. The checksum lets an
invoicing step check that the totals it reads (from Waldur, or from its own copy of the report)
are the ones this push billed, without the event carrying every amount.

Checksum: SHA-256 (hex, prefixed ``sha256:``) of the UTF-8 text made of one line per billed amount,
sorted, each ending in ``\\n``: ``<backend_id>\\t\\t<component>\\t<amount>`` for a resource total
and ``<backend_id>\\t<username>\\t<component>\\t<amount>`` for a user's usage (compute only), the
amount with its two decimals as the report holds it (``12.50``). Storage resources without DWDI
data are not billed and not in it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from airflow_provider_cscs_dwdi.core.alerts import issue_count, unknown_resources
from airflow_provider_cscs_dwdi.core.report import UsageReport
from airflow_provider_cscs_dwdi.core.xcom import PushResult

CHECKSUM_ALGORITHM = "sha256"


def billed_lines(report: UsageReport) -> list[str]:
    """The checksum's lines (see the module docstring), sorted."""
    not_billed = set(report.without_data)
    lines = []
    for backend_id, usage in report.accounts.items():
        if backend_id in not_billed:
            continue
        lines += [f"{backend_id}\t\t{component}\t{amount}" for component, amount in usage["total"].items()]
        lines += [
            f"{backend_id}\t{user}\t{component}\t{amount}"
            for user, amounts in usage.get("users", {}).items()
            for component, amount in amounts.items()
        ]
    return sorted(lines)


def billed_totals_checksum(report: UsageReport) -> str:
    """``sha256:<hex>`` of the report's billed amounts: equal reports, equal checksums, in any order."""
    text = "".join(f"{line}\n" for line in billed_lines(report))
    return f"{CHECKSUM_ALGORITHM}:{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


def billing_event_extra(
    report: UsageReport, result: PushResult, *, offering_uuid: str, closed: bool
) -> dict[str, Any]:
    """The extra of the asset event a successful push emits: JSON-safe, no host, no credential.

    :param closed: the push closed its month (the monthly close DAG), not a month-to-date update.
    """
    return {
        "offering_uuid": offering_uuid,
        "month": result.month,
        "usage_kind": report.usage_kind,
        "closed": closed,
        "written": result.written,
        "unchanged": result.unchanged,
        "user_usages_written": result.user_usages_written,
        "issues": issue_count(result) + unknown_resources(report).count,
        "resources_billed": len(report.accounts) - len(set(report.without_data) & set(report.accounts)),
        "checksum": billed_totals_checksum(report),
    }
