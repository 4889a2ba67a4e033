"""The whole sandbox in one object: OIDC issuer, DWDI compute API and Waldur, seeded consistently.

Used by the demo (``make demo``), the end-to-end tests and the docker-compose ``sandbox`` profile.
It seeds, from an offerings configuration (the same YAML the DAGs are built from):

- Waldur: each offering with its components (under its configured UUID), one resource per DWDI
  account (``backend_id`` = account) and one offering user per DWDI username;
- DWDI: deterministic generated usage for those accounts (several clusters, users on many days);
- the issuer: one confidential client whose credentials go into the DWDI connection.

``expected()`` computes what Waldur must hold for a month straight from the generated DWDI rows
(Decimal sums x unit_factor, rounded half up once), independently of the provider's own core, and
``landed()`` reads what Waldur actually holds, so the two can be compared.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import signal
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from types import TracebackType
from typing import Any

from airflow_provider_cscs_dwdi.core.config import OfferingConfig, load_config
from sandbox.dwdi_data import DwdiDataset
from sandbox.dwdi_server import DWDISandbox
from sandbox.oidc_issuer import OidcIssuerProcess
from sandbox.waldur_server import WaldurSandbox

CENT = Decimal("0.01")
DEFAULT_CLUSTERS = ("daint", "eiger")
CLIENT_ID = "sandbox-client"

Totals = dict[str, dict[str, Any]]  # {account: {"total": {type: Decimal}, "users": {name: {type: Decimal}}}}


def _billing_type(accounting_type: str) -> str:
    return "limit" if accounting_type == "limit" else "usage"


def account_names(offering_index: int, slug: str, count: int) -> list[str]:
    """DWDI-like account names, distinct per offering: ``cscs_hpc_daint`` #0 -> ``c0p001`` ..."""
    return [f"{slug[0]}{offering_index}p{number:03d}" for number in range(1, count + 1)]


@dataclass
class SeededOffering:
    """What the sandbox created in Waldur for one configured offering."""

    config: OfferingConfig
    accounts: list[str]
    resources: dict[str, str] = field(default_factory=dict)  # backend_id -> resource uuid

    @property
    def uuid(self) -> str:
        return self.config.offering_uuid


class SandboxStack:
    """OIDC issuer + DWDI + Waldur doubles on loopback (or on ``host``), seeded from offerings.

    :param offerings: the offerings to create (from the DAG configuration file).
    :param external_issuer: ``(issuer_url, jwks_url, token_url)`` of an issuer that already runs
        (docker-compose starts it as its own service); None starts ``sandbox/oidc`` here.
    :param client_id / client_secret: the issuer's client for the DWDI connection (an external
        issuer's own client; a started one gets this client, with a random secret by default).
    :param waldur_token: a fixed Waldur staff token (docker-compose); default random.
    """

    def __init__(
        self,
        offerings: Sequence[OfferingConfig],
        *,
        today: date | None = None,
        host: str = "127.0.0.1",
        oidc_port: int = 0,
        dwdi_port: int = 0,
        waldur_port: int = 0,
        accounts_per_offering: int = 6,
        users_per_account: int = 3,
        waldur_version: str = "8",
        client_id: str = CLIENT_ID,
        client_secret: str | None = None,
        waldur_token: str | None = None,
        external_issuer: tuple[str, str, str] | None = None,
        seed: int = 7,
    ) -> None:
        self.today = today or datetime.now(timezone.utc).date()
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.seeded = [
            SeededOffering(config, account_names(index, config.slug, accounts_per_offering))
            for index, config in enumerate(offerings)
        ]
        clusters = sorted(
            {*DEFAULT_CLUSTERS, *(cluster for item in offerings for cluster in (item.clusters or ()))}
        )
        self.dataset = DwdiDataset(
            accounts=[account for item in self.seeded for account in item.accounts],
            clusters=tuple(clusters),
            users_per_account=users_per_account,
            seed=seed,
            today=self.today,
        )
        self._external_issuer = external_issuer
        self.issuer: OidcIssuerProcess | None = None
        if external_issuer is None:
            self.issuer = OidcIssuerProcess(
                host=host,
                port=oidc_port,
                clients=[{"client_id": self.client_id, "client_secret": self.client_secret, "ttl": 300}],
            )
        self._host = host
        self._dwdi_port = dwdi_port
        self.dwdi: DWDISandbox | None = None
        self.waldur = WaldurSandbox(
            version=waldur_version, host=host, port=waldur_port, today=self.today, staff_token=waldur_token
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def issuer_url(self) -> str:
        return self._external_issuer[0] if self._external_issuer else self._issuer().realm_url

    @property
    def token_url(self) -> str:
        return self._external_issuer[2] if self._external_issuer else self._issuer().token_url

    def _issuer(self) -> OidcIssuerProcess:
        if self.issuer is None:
            raise RuntimeError("the sandbox uses an external issuer")
        return self.issuer

    def start(self) -> SandboxStack:
        if self.issuer is not None:
            self.issuer.start()
        jwks_url = self._external_issuer[1] if self._external_issuer else self._issuer().jwks_url
        self.dwdi = DWDISandbox(
            jwks_url=jwks_url,
            issuer=self.issuer_url,
            dataset=self.dataset,
            host=self._host,
            port=self._dwdi_port,
            today=self.today,
        )
        self.dwdi.start()
        self.waldur.start()
        self._seed_waldur()
        return self

    def stop(self) -> None:
        self.waldur.stop()
        if self.dwdi is not None:
            self.dwdi.stop()
        if self.issuer is not None:
            self.issuer.stop()

    def __enter__(self) -> SandboxStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _seed_waldur(self) -> None:
        for item in self.seeded:
            self.waldur.add_offering(
                item.config.name,
                [
                    {
                        "type": component.type,
                        "name": component.label,
                        "billing_type": _billing_type(component.accounting_type),
                        "measured_unit": component.measured_unit,
                    }
                    for component in item.config.components
                ],
                offering_uuid=item.config.offering_uuid,
            )
            for account in item.accounts:
                item.resources[account] = self.waldur.add_resource(item.uuid, account)
                for username in self.dataset.usernames(account):
                    self.waldur.add_offering_user(item.uuid, username)

    # ------------------------------------------------------------------ connections

    @property
    def dwdi_url(self) -> str:
        if self.dwdi is None:
            raise RuntimeError("start() the sandbox first")
        return self.dwdi.url

    def dwdi_connection(self) -> dict[str, Any]:
        """The ``cscs_dwdi`` Airflow connection (JSON form) for this sandbox."""
        return {
            "conn_type": "cscs_dwdi",
            "host": self.dwdi_url,
            "login": self.client_id,
            "password": self.client_secret,
            "extra": {"oidc_endpoint_url": self.token_url, "oidc_scope": "openid"},
        }

    def waldur_connection(self) -> dict[str, Any]:
        """The ``waldur`` Airflow connection (JSON form): staff token, as backfills need."""
        return {
            "conn_type": "waldur",
            "host": f"{self.waldur.url}/api/",
            "password": self.waldur.staff_token,
            "extra": {"usage_date_support": "auto"},
        }

    def connection_env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` variables for every connection id the offerings name."""
        env: dict[str, str] = {}
        for item in self.seeded:
            env[f"AIRFLOW_CONN_{item.config.dwdi_conn_id.upper()}"] = json.dumps(self.dwdi_connection())
            env[f"AIRFLOW_CONN_{item.config.waldur_conn_id.upper()}"] = json.dumps(self.waldur_connection())
        return env

    # ------------------------------------------------------------------ truth and what landed

    def expected(self, item: SeededOffering, month: str) -> Totals:
        """What Waldur must hold for ``month``, computed from the generated DWDI rows."""
        raw = self.dataset.expected_totals(month, accounts=item.accounts, clusters=item.config.clusters)
        expected: Totals = {}
        for account in item.accounts:
            data = raw.get(account, {"total": {}, "users": {}})
            total = {
                component.type: _billed(
                    data["total"].get(component.dwdi_field, Decimal(0)), component.unit_factor
                )
                for component in item.config.components
            }
            users: dict[str, dict[str, Decimal]] = {}
            for username, fields in data["users"].items():
                for component in item.config.components:
                    if component.dwdi_field in fields:
                        users.setdefault(username, {})[component.type] = _billed(
                            fields[component.dwdi_field], component.unit_factor
                        )
            expected[account] = {"total": total, "users": users}
        return expected

    def landed(self, item: SeededOffering, month: str) -> Totals:
        """What the sandbox Waldur holds for ``month`` (None where nothing was written)."""
        period = f"{month}-01"
        landed: Totals = {}
        for account, resource_uuid in item.resources.items():
            total: dict[str, Decimal | None] = {}
            users: dict[str, dict[str, Decimal]] = {}
            for component in item.config.components:
                total[component.type] = self.waldur.usage(resource_uuid, component.type, period)
                for username, amount in self.waldur.user_usages(
                    resource_uuid, component.type, period
                ).items():
                    users.setdefault(username, {})[component.type] = amount
            landed[account] = {"total": total, "users": users}
        return landed


def _billed(amount: Decimal, unit_factor: Decimal) -> Decimal:
    return (amount * unit_factor).quantize(CENT, rounding=ROUND_HALF_UP)


def differences(expected: Mapping[str, Any], landed: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between two ``Totals``; empty when Waldur holds exactly the truth.

    A user whose expected amount is 0.00 may be absent in Waldur (nothing to bill).
    """
    problems: list[str] = []
    for account, want in expected.items():
        got = landed.get(account, {"total": {}, "users": {}})
        for component, amount in want["total"].items():
            held = got["total"].get(component)
            if held is None or Decimal(held) != amount:
                problems.append(f"{account} {component}: expected {amount}, Waldur holds {held}")
        for username, amounts in want["users"].items():
            for component, amount in amounts.items():
                held = got["users"].get(username, {}).get(component)
                if (held is None and amount != 0) or (held is not None and Decimal(held) != amount):
                    problems.append(
                        f"{account} {username} {component}: expected {amount}, Waldur holds {held}"
                    )
        for username in set(got["users"]) - set(want["users"]):
            problems.append(f"{account} {username}: in Waldur but not in DWDI")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Serve the seeded DWDI and Waldur doubles in the foreground (docker-compose ``sandbox``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="offerings YAML (the DAGs' configuration)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--dwdi-port", type=int, default=8081)
    parser.add_argument("--waldur-port", type=int, default=8082)
    parser.add_argument("--issuer-url", required=True, help="iss of the tokens (external issuer)")
    parser.add_argument("--jwks-url", required=True)
    parser.add_argument("--token-url", required=True)
    parser.add_argument("--waldur-token", required=True)
    args = parser.parse_args(argv)
    stack = SandboxStack(
        load_config(args.config).offerings,
        host=args.host,
        dwdi_port=args.dwdi_port,
        waldur_port=args.waldur_port,
        waldur_token=args.waldur_token,
        external_issuer=(args.issuer_url, args.jwks_url, args.token_url),
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with stack:
        print(f"READY dwdi={stack.dwdi_url} waldur={stack.waldur.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
