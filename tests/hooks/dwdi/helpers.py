"""What the DWDIHook tests share: the issuer's clients, the connection id, a fake clock, small data."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from airflow_provider_cscs_dwdi.hooks._http import RetryPolicy
from airflow_provider_cscs_dwdi.hooks.dwdi import DWDIHook

CLIENT, SECRET = "dwdi-client", "dwdi-secret"
BRIEF_CLIENT, BRIEF_SECRET = "dwdi-brief", "brief-secret"
CONN_ID = "dwdi_test"
DEFAULT_ACCOUNTS = [f"g{n:03d}" for n in range(1, 21)]
DEFAULT_PATHS = [f"/capstor/store/cscs/p{n:03d}" for n in range(1, 21)]
DEFAULT_RESOURCE_UUIDS = [uuid.uuid5(uuid.NAMESPACE_URL, f"hook-test/r{n:03d}").hex for n in range(1, 21)]
MONTH = datetime.now(UTC).strftime("%Y-%m")
INSTANT_RETRIES = RetryPolicy(max_attempts=4, backoff_base=0.0, backoff_cap=0.0, max_total_seconds=30.0)

HookFactory = Callable[..., DWDIHook]


class FakeClock:
    """A monotonic clock the test moves by hand (the hook's token cache reads it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def unused_port() -> int:
    """A loopback port nobody listens on (bound by the OS, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def entry(account: str, node_hours: str = "1.5", users: int = 1) -> dict[str, Any]:
    """One compute entry of ``account`` on daint, its node hours spread over ``users`` users."""
    return {
        "account": account,
        "cluster": "daint",
        "totalNodeHours": float(node_hours),
        "users": [{"username": f"u{n}", "nodeHours": float(node_hours) / users} for n in range(users)],
    }
