"""Fixtures of the DWDIHook tests: a hook on a fresh connection, a JWT-checking DWDI double."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.hooks.dwdi import DWDIHook
from sandbox.dwdi_data import DwdiDataset
from sandbox.dwdi_server import InferenceDataset, StorageDataset
from tests.hooks.dwdi.helpers import (
    CLIENT,
    CONN_ID,
    DEFAULT_ACCOUNTS,
    DEFAULT_PATHS,
    DEFAULT_RESOURCE_UUIDS,
    INSTANT_RETRIES,
    SECRET,
    HookFactory,
)


@pytest.fixture
def sleeps() -> list[float]:
    """The delays the hook's retries asked for (the recorded sleep does not wait)."""
    return []


@pytest.fixture
def make_hook(
    set_connection: Callable[..., None], oidc_issuer: Any, sleeps: list[float]
) -> Iterator[HookFactory]:
    """``make_hook(api_url, client_id=..., secret=..., token_url=..., **extras)`` -> DWDIHook."""
    hooks: list[DWDIHook] = []

    def make(
        api_url: str,
        *,
        client_id: str = CLIENT,
        secret: str = SECRET,
        token_url: str | None = None,
        hook_kwargs: dict[str, Any] | None = None,
        **extra: Any,
    ) -> DWDIHook:
        set_connection(
            CONN_ID,
            conn_type="cscs_dwdi",
            host=api_url,
            login=client_id,
            password=secret,
            extra={"oidc_endpoint_url": token_url or oidc_issuer.token_url, "timeout_seconds": 10, **extra},
        )
        kwargs: dict[str, Any] = {
            "retry_policy": INSTANT_RETRIES,
            "sleep": sleeps.append,
            **(hook_kwargs or {}),
        }
        hook = DWDIHook(CONN_ID, **kwargs)
        hooks.append(hook)
        return hook

    yield make
    for hook in hooks:
        hook.close()


@pytest.fixture
def issuer(oidc_counts_reset: Any) -> Any:
    """The session-wide issuer with its per-client token counts zeroed for this test."""
    return oidc_counts_reset


@pytest.fixture
def make_sandbox(make_dwdi_sandbox: Callable[..., Any], oidc_issuer: Any) -> Callable[..., Any]:
    """``make_sandbox(**kwargs)``: a DWDI sandbox that verifies every bearer JWT against the issuer
    (signature, expiry, ``iss``, ``aud``); default data: accounts g001..g020, 20 storage paths and
    20 inference resources."""

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("dataset", DwdiDataset(accounts=DEFAULT_ACCOUNTS))
        kwargs.setdefault("storage", StorageDataset(paths=DEFAULT_PATHS))
        kwargs.setdefault("inference", InferenceDataset(resource_uuids=DEFAULT_RESOURCE_UUIDS))
        return make_dwdi_sandbox(
            jwks_url=oidc_issuer.jwks_url,
            issuer=oidc_issuer.realm_url,
            audience=oidc_issuer.audience,
            **kwargs,
        )

    return make
