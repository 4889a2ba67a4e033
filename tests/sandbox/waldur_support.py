"""What the Waldur sandbox tests share: constants, an authenticated client and seeding helpers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import requests

from sandbox.waldur import WaldurSandbox

REPO_ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 23)
NOVEMBER = "2026-11-01"
OCTOBER = "2026-10-01"
NODE_HOURS = {"type": "nodeHours", "billing_type": "usage", "measured_unit": "node-hours", "unit_factor": 1}
STORAGE = {"type": "storage", "billing_type": "limit", "measured_unit": "TB"}
LICENCE = {"type": "licence", "billing_type": "fixed", "measured_unit": "seat"}
SET_USAGE = "/api/marketplace-component-usages/set_usage/"
COMPONENT_USAGES = "/api/marketplace-component-usages/"
RESOURCES = "/api/marketplace-provider-resources/"

MakeSandbox = Callable[..., WaldurSandbox]


def session(sandbox: WaldurSandbox, token: str | None = None) -> requests.Session:
    """A client session authenticated with ``token`` (the staff token by default)."""
    client = requests.Session()
    client.headers["Authorization"] = f"Token {token or sandbox.staff_token}"
    return client


def seeded(sandbox: WaldurSandbox, resources: int = 1, **resource_kwargs: Any) -> tuple[str, list[str]]:
    """An offering with nodeHours (usage), storage (limit) and licence (fixed) plus resources."""
    offering = sandbox.add_offering("Eiger", [NODE_HOURS, STORAGE, LICENCE], backend_id="eiger")
    return offering, [
        sandbox.add_resource(offering, f"g{i:03d}", **resource_kwargs) for i in range(resources)
    ]


def set_usage(
    sandbox: WaldurSandbox,
    resource: str,
    usages: list[dict[str, Any]],
    *,
    token: str | None = None,
    **extra: Any,
) -> requests.Response:
    """POST set_usage for ``resource`` (extra keys such as ``date`` go into the body)."""
    return session(sandbox, token).post(
        sandbox.url + SET_USAGE, json={"resource": resource, "usages": usages, **extra}
    )


def node_hours(amount: str) -> list[dict[str, str]]:
    """A set_usage ``usages`` list with one nodeHours amount."""
    return [{"type": "nodeHours", "amount": amount}]


def component_usage_url(sandbox: WaldurSandbox, offering: str, billing_period: str) -> str:
    """The API URL (ending in ``/``) of the only component usage of ``offering`` in ``billing_period``."""
    rows = session(sandbox).get(
        sandbox.url + COMPONENT_USAGES, params={"offering_uuid": offering, "billing_period": billing_period}
    )
    assert rows.status_code == 200
    (row,) = rows.json()
    return f"{sandbox.url}{COMPONENT_USAGES}{row['uuid']}/"
