"""The DWDI double's admin API and command line."""

from __future__ import annotations

import requests

from sandbox.dwdi_data import DwdiDataset
from sandbox.dwdi_server import DWDISandbox
from sandbox.oidc_issuer import OidcIssuerProcess
from tests.sandbox.dwdi.helpers import (
    ACCOUNTS,
    MONTH_PATH,
    STATIC,
    TODAY,
    get,
    issuer_token,
    run_cli,
    stop,
)


def test_admin_api(open_sandbox: DWDISandbox, dataset: DwdiDataset, session: requests.Session) -> None:
    info = session.get(open_sandbox.url + "/sandbox/info", timeout=10).json()
    assert info == {
        "url": open_sandbox.url,
        "today": "2026-11-23",
        "accounts": ACCOUNTS,
        "clusters": ["daint", "eiger"],
        "storage_paths": [],
        "resource_uuids": [],
        "unavailable_endpoints": [],
        "auth": "none",
    }
    expected = session.get(
        open_sandbox.url + "/sandbox/expected", params={"month": "2026-10", "account": "g001"}, timeout=10
    ).json()
    truth = dataset.expected_totals("2026-10", ["g001"])
    assert expected["g001"]["total"]["nodeHours"] == str(truth["g001"]["total"]["nodeHours"])
    entries = [{"account": "z", "cluster": "daint", "users": []}]
    assert session.post(
        open_sandbox.url + "/sandbox/entries", json={"month": "2026-10", "entries": entries}, timeout=10
    ).ok
    assert session.post(
        open_sandbox.url + "/sandbox/fail-next", json={"status": 503, "count": 1}, timeout=10
    ).ok
    month = {"from": "2026-10", "to": "2026-10"}
    assert get(session, open_sandbox, **month).status_code == 503
    assert get(session, open_sandbox, **month).json() == {"compute": entries}
    recorded = session.get(open_sandbox.url + "/sandbox/requests", timeout=10).json()["requests"]
    assert [r["status"] for r in recorded] == [503, 200]
    bad = session.post(
        open_sandbox.url + "/sandbox/entries", json={"month": "2026-13", "entries": []}, timeout=10
    )
    assert bad.status_code == 400


def test_cli_serves_a_generated_dataset(session: requests.Session) -> None:
    process, url = run_cli(
        "--static-token", STATIC, "--accounts", "p1,p2", "--today", "2026-11-23", "--seed", "3"
    )
    try:
        headers = {"Authorization": f"Bearer {STATIC}"}
        response = session.get(
            url + MONTH_PATH, params={"from": "2026-10", "to": "2026-10"}, headers=headers, timeout=10
        )
        expected = DwdiDataset(accounts=["p1", "p2"], seed=3, today=TODAY).entries("2026-10")
        assert response.json() == {"compute": expected}
        assert (
            session.get(url + MONTH_PATH, params={"from": "2026-10", "to": "2026-10"}, timeout=10).status_code
            == 401
        )
    finally:
        stop(process)


def test_cli_discovers_the_jwks_of_the_issuer(
    oidc_issuer: OidcIssuerProcess, session: requests.Session
) -> None:
    process, url = run_cli(
        "--issuer", oidc_issuer.realm_url, "--accounts-count", "3", "--today", "2026-11-23"
    )
    try:
        token = issuer_token(oidc_issuer, "dwdi-client", "dwdi-secret")
        response = session.get(
            url + MONTH_PATH,
            params={"from": "2026-10", "to": "2026-10"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.status_code == 200
        assert {entry["account"] for entry in response.json()["compute"]} <= {"g001", "g002", "g003"}
        assert session.get(url + "/sandbox/info", timeout=10).json()["auth"] == "jwt"
    finally:
        stop(process)


def test_for_dataset_dates_the_sandbox_on_its_dataset_and_refuses_datasets_of_another_day() -> None:
    from datetime import timedelta

    import pytest

    from sandbox.dwdi.inference_data import InferenceDataset
    from sandbox.dwdi.storage_data import StorageDataset

    dataset = DwdiDataset(accounts=ACCOUNTS, today=TODAY)
    storage = StorageDataset(paths=["/capstor/store/cscs/p001"], today=TODAY)
    inference = InferenceDataset(resource_uuids=[], today=TODAY)

    with DWDISandbox.for_dataset(
        dataset, storage=storage, inference=inference, jwks_url=None, issuer=None
    ) as sandbox:
        info = requests.get(sandbox.url + "/sandbox/info", timeout=10).json()
    assert (info["today"], info["storage_paths"]) == (TODAY.isoformat(), ["/capstor/store/cscs/p001"])

    stale = StorageDataset(paths=[], today=TODAY - timedelta(days=1))
    with pytest.raises(ValueError, match="the storage dataset ends on"):
        DWDISandbox.for_dataset(dataset, storage=stale, inference=inference, jwks_url=None, issuer=None)
