"""Fixtures of the DWDI double's tests: a dataset with a fixed today, an open sandbox, a session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from sandbox.dwdi_data import DwdiDataset
from sandbox.dwdi_server import DWDISandbox
from tests.sandbox.dwdi.helpers import ACCOUNTS, TODAY, MakeSandbox


@pytest.fixture
def dataset() -> DwdiDataset:
    return DwdiDataset(accounts=ACCOUNTS, today=TODAY)


@pytest.fixture
def open_sandbox(make_dwdi_sandbox: MakeSandbox, dataset: DwdiDataset) -> DWDISandbox:
    """No authentication: for the data and fault tests."""
    return make_dwdi_sandbox(dataset=dataset)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        # The machine's proxy settings must never route loopback test traffic.
        http.trust_env = False
        yield http
