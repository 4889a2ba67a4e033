"""Fixtures of the end-to-end tests: a fresh, seeded sandbox stack per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_cscs_dwdi.core.config import load_config
from airflow_provider_cscs_dwdi.dag_factory import CONFIG_ENV_VAR
from sandbox.stack import SandboxStack
from tests.e2e.support import ISSUER_CLIENT_ID, ISSUER_CLIENT_SECRET
from tests.fixtures.offerings import NODE_AND_GPU_COMPONENTS

#: The compute offering of tests/e2e/test_pipeline.py (the default of ``make_stack``).
COMPUTE_OFFERING = {
    "name": "E2E HPC",
    "offering_uuid": "6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f",
    "billing_timezone": "UTC",
    "backend_components": NODE_AND_GPU_COMPONENTS,
}


@pytest.fixture
def make_stack(
    oidc_issuer: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Callable[..., SandboxStack]]:
    """Start a fresh sandbox (Waldur state starts empty) with the connections in the env, and the
    offering configured the way deployments do it: a YAML file named by $CSCS_DWDI_CONFIG, read by
    the DAG file in dags/ (dag.test() serializes the DAGs of that folder). Every stack trusts the
    session's OIDC issuer: one node process for the whole suite.

    ``make_stack(accounts=5, offering=COMPUTE_OFFERING, waldur_version="8", users_per_account=3,
    **overrides)``:
    ``overrides`` replace keys of ``offering``; ``waldur_version="7"`` makes a server that ignores
    the usage date.
    """
    started: list[SandboxStack] = []

    def _make(
        *,
        accounts: int = 5,
        offering: Mapping[str, Any] = COMPUTE_OFFERING,
        waldur_version: str = "8",
        users_per_account: int = 3,
        **overrides: Any,
    ) -> SandboxStack:
        config_file = tmp_path / "offerings.yaml"
        configured = {**offering, "archive_path": f"file://{tmp_path}/archive", **overrides}
        config_file.write_text(yaml.safe_dump({"offerings": [configured]}))
        monkeypatch.setenv(CONFIG_ENV_VAR, str(config_file))
        sandbox = SandboxStack(
            load_config(config_file).offerings,
            accounts_per_offering=accounts,
            users_per_account=users_per_account,
            waldur_version=waldur_version,
            external_issuer=(oidc_issuer.realm_url, oidc_issuer.jwks_url, oidc_issuer.token_url),
            client_id=ISSUER_CLIENT_ID,
            client_secret=ISSUER_CLIENT_SECRET,
        )
        sandbox.start()
        started.append(sandbox)
        for name, value in sandbox.connection_env().items():
            monkeypatch.setenv(name, value)
        return sandbox

    yield _make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def stack(make_stack: Callable[..., SandboxStack]) -> SandboxStack:
    return make_stack()
