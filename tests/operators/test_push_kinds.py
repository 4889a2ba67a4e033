"""PushToWaldurOperator with storage and inference reports: resource totals only, never users.

Against the Waldur sandbox over loopback; the requests it recorded show what the push read and wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from sandbox.waldur_server import WaldurSandbox
from tests.operators.support import Offering, make_report, push, this_month

USER_USAGE_LISTING = "GET /api/marketplace-component-user-usages/"
OFFERING_USERS_LISTING = "GET /api/marketplace-offering-users/"


def resource_totals_report(
    month: str, usage_kind: str, totals: dict[str, str], without_data: list[str]
) -> dict:
    """A storage or inference report: one total per resource, no users."""
    report = make_report(month, {backend_id: {} for backend_id in totals})
    for backend_id, amount in totals.items():
        report["accounts"][backend_id]["total"]["nodeHours"] = amount
    report["counts"]["user_rows"] = 0
    return {**report, "usage_kind": usage_kind, "without_data": without_data}


def user_usage_requests(sandbox: WaldurSandbox) -> dict[str, int]:
    return {
        endpoint: count
        for endpoint, count in sandbox.request_counts().items()
        if "user_usages" in endpoint or endpoint in (USER_USAGE_LISTING, OFFERING_USERS_LISTING)
    }


@pytest.mark.parametrize("usage_kind", ["storage", "inference"])
def test_a_push_without_users_writes_totals_and_leaves_user_usages_alone_even_reconciling(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering], usage_kind: str
) -> None:
    month = this_month(waldur_sandbox)
    # Waldur already holds user usages for the month (e.g. written by hand): not ours to touch.
    offering = seed(waldur_sandbox, {"s1": {"alice": "2.00"}, "s2": {"bob": "3.00"}, "s3": {}})
    push(offering, make_report(month, {"s1": {"alice": "2.00"}, "s2": {"bob": "3.00"}}))
    waldur_sandbox.reset_requests()
    without_data = ["s3"] if usage_kind == "storage" else []
    totals = (
        {"s1": "12.34", "s2": "0.50"}
        if usage_kind == "storage"
        else {"s1": "12.34", "s2": "0.50", "s3": "0.00"}
    )

    result, _ = push(
        offering, resource_totals_report(month, usage_kind, totals, without_data), reconcile=True
    )

    expected: dict[str, Decimal | None] = {
        backend_id: Decimal(amount) for backend_id, amount in totals.items()
    }
    expected.setdefault("s3", None)  # no storage data: no write at all, not a zero
    assert offering.totals(month) == expected
    assert offering.users(month) == {
        "s1": {"alice": Decimal("2.00")},
        "s2": {"bob": Decimal("3.00")},
        "s3": {},
    }
    assert user_usage_requests(waldur_sandbox) == {}
    assert (result["written"], result["user_usages_written"], result["failed"]) == (len(totals), 0, 0)
    assert (result["without_data_count"], result["without_data"]) == (len(without_data), without_data)
    assert waldur_sandbox.schema_violations == []


def test_a_storage_push_logs_the_resources_without_data(
    waldur_sandbox: WaldurSandbox, seed: Callable[..., Offering], capfd: pytest.CaptureFixture[str]
) -> None:
    month = this_month(waldur_sandbox)
    offering = seed(waldur_sandbox, {"s1": {}, "s2": {}, "s3": {}})
    report: dict[str, Any] = resource_totals_report(month, "storage", {"s1": "1.00"}, ["s2", "s3"])

    result, _ = push(offering, report, dry_run=True)

    assert result["without_data"] == ["s2", "s3"]
    assert offering.posts() == []
    captured = capfd.readouterr()
    log = captured.out + captured.err
    assert "s2 NOT WRITTEN: no storage data from DWDI for the month" in log
    assert "No storage data from DWDI for 2 resource(s), not written: s2, s3" in log
