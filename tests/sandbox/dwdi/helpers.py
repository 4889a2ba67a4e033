"""What the DWDI double's tests share: constants and small HTTP helpers (fixtures: conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import requests

from sandbox.dwdi_server import DWDISandbox
from sandbox.oidc_issuer import OidcIssuerProcess

MONTH_PATH = "/api/v1/compute/usage-month/account"
TODAY = date(2026, 11, 23)
ACCOUNTS = [f"g{number:03d}" for number in range(1, 21)]
STATIC = "static-test-token"
MakeSandbox = Callable[..., DWDISandbox]


def get(
    http: requests.Session,
    sandbox: DWDISandbox,
    path: str = MONTH_PATH,
    token: str | None = None,
    **query: Any,
) -> requests.Response:
    """GET ``path`` with ``query`` (lists repeat the key) and an optional bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.get(sandbox.url + path, params=query, headers=headers, timeout=10)


def usage_entries(http: requests.Session, sandbox: DWDISandbox, path: str, **query: Any) -> list[Any]:
    """The list of a 200 answer of a usage endpoint (``{"<family>": [...]}``), numbers as Decimal
    straight from the bytes on the wire (independently of the provider)."""
    response = get(http, sandbox, path, **query)
    assert response.status_code == 200, response.text
    (entries,) = json.loads(response.content, parse_float=Decimal, parse_int=Decimal).values()
    return list(entries)


def pairs(response: requests.Response) -> list[tuple[str, str]]:
    """``(account, cluster)`` of every compute entry of a 200 answer."""
    assert response.status_code == 200, response.text
    return [(entry["account"], entry["cluster"]) for entry in response.json()["compute"]]


def issuer_token(issuer: OidcIssuerProcess, client_id: str, secret: str) -> str:
    """A real access token of ``client_id`` from the test issuer."""
    response = requests.post(
        issuer.token_url,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def run_cli(*arguments: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m sandbox.dwdi_server`` on a free port; returns the process and its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.dwdi_server", "--port", "0", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("READY "):
        process.kill()
        raise AssertionError(f"no READY line: {line!r} {process.communicate()[1]}")
    return process, line.split(" ", 1)[1].strip()


def stop(process: subprocess.Popen[str]) -> None:
    """Stop a CLI double with SIGTERM; it must exit cleanly."""
    process.terminate()
    assert process.wait(timeout=10) == 0
