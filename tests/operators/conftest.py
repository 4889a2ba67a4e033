"""Fixtures of the operator tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import Connection

from sandbox.waldur_server import WaldurSandbox
from tests.operators.support import CONN_ID, NODE_HOURS, Offering


@pytest.fixture
def seed(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Offering]:
    """``seed(sandbox, backend_ids, token=..., **extras)``: an offering with one user per report user."""

    def _seed(
        sandbox: WaldurSandbox, usage: dict[str, dict[str, str]], *, token: str | None = None, **extra: Any
    ) -> Offering:
        offering = sandbox.add_offering("HPC", [NODE_HOURS])
        resources = {backend_id: sandbox.add_resource(offering, backend_id) for backend_id in usage}
        for username in sorted({user for users in usage.values() for user in users}):
            sandbox.add_offering_user(offering, username)
        connection = Connection(
            conn_id=CONN_ID,
            conn_type="waldur",
            host=sandbox.url,
            password=token or sandbox.staff_token,
            extra=json.dumps(extra),
        )
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection.as_json())
        return Offering(sandbox, offering, resources)

    return _seed
