"""The whole sandbox in one object: OIDC issuer, DWDI API and Waldur, seeded consistently.

Used by the demo (``make demo``), the end-to-end tests and the docker-compose ``sandbox`` profile.
It seeds, from an offerings configuration (the same YAML the DAGs are built from):

- Waldur: each offering with its components (under its configured UUID) and one resource per
  backend ID; compute offerings also get one offering user per DWDI username;
- DWDI: deterministic generated data per usage kind: compute usage for the compute offerings'
  accounts (several clusters, users on many days); a storage level for each storage resource's
  path (the offering's ``storage`` settings resolve it, on its filesystem and data type; the
  ``path_mapping`` backend IDs are among the resources); an inference cost per inference resource
  (by its Waldur UUID);
- the issuer: one confidential client whose credentials go into the DWDI connection.

``expected()`` computes what Waldur must hold for a month straight from the double's own rows
(``sandbox.expected``: Decimal x unit_factor, rounded half up once), independently of the
provider's core, and ``landed()`` reads what Waldur actually holds, so the two can be compared.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any

from airflow_provider_cscs_dwdi.core.config import OfferingConfig, load_config
from airflow_provider_cscs_dwdi.core.kinds import UsageKind
from sandbox.dwdi_data import DwdiDataset
from sandbox.dwdi_server import DWDISandbox, InferenceDataset, StorageDataset, StoragePath
from sandbox.expected import Totals, differences, expected_compute, expected_inference, expected_storage
from sandbox.oidc_issuer import OidcIssuerProcess
from sandbox.waldur_server import WaldurSandbox

DEFAULT_CLUSTERS = ("daint", "eiger")
CLIENT_ID = "sandbox-client"

__all__ = ["SandboxStack", "SeededOffering", "Totals", "account_names", "differences"]


def _billing_type(accounting_type: str) -> str:
    return "limit" if accounting_type == "limit" else "usage"


def account_names(offering_index: int, slug: str, count: int) -> list[str]:
    """DWDI-like account names, distinct per offering: ``cscs_hpc_daint`` #0 -> ``c0p001`` ..."""
    return [f"{slug[0]}{offering_index}p{number:03d}" for number in range(1, count + 1)]


def offering_accounts(offering_index: int, config: OfferingConfig, count: int) -> list[str]:
    """The backend IDs seeded for an offering: a storage offering's mapped ones first (so its
    ``path_mapping`` is exercised), then generated names up to ``count``."""
    mapped = sorted(config.storage.path_mapping) if config.storage is not None else []
    generated = [name for name in account_names(offering_index, config.slug, count) if name not in mapped]
    return (mapped + generated)[: max(count, len(mapped))]


@dataclass
class SeededOffering:
    """What the sandbox created in Waldur for one configured offering."""

    config: OfferingConfig
    accounts: list[str]
    resources: dict[str, str] = field(default_factory=dict)  # backend_id -> resource uuid

    @property
    def uuid(self) -> str:
        return self.config.offering_uuid

    @property
    def usage_kind(self) -> UsageKind:
        return self.config.usage_kind

    def paths(self) -> dict[str, str]:
        """``{backend_id: DWDI path}`` of a storage offering (empty for the other kinds)."""
        storage = self.config.storage
        return {} if storage is None else storage.paths_of(self.accounts)

    def storage_paths(self) -> list[StoragePath]:
        """The DWDI storage paths of this offering, on its filesystem and data type."""
        storage = self.config.storage
        if storage is None:
            return []
        return [StoragePath(path, storage.filesystem, storage.data_type) for path in self.paths().values()]


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
        self.today = today or datetime.now(UTC).date()
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.seeded = [
            SeededOffering(config, offering_accounts(index, config, accounts_per_offering))
            for index, config in enumerate(offerings)
        ]
        clusters = sorted(
            {*DEFAULT_CLUSTERS, *(cluster for item in offerings for cluster in (item.clusters or ()))}
        )
        self.seed = seed
        self.dataset = DwdiDataset(
            accounts=[account for item in self.of_kind(UsageKind.COMPUTE) for account in item.accounts],
            clusters=tuple(clusters),
            users_per_account=users_per_account,
            seed=seed,
            today=self.today,
        )
        self.storage = StorageDataset(
            paths=[path for item in self.of_kind(UsageKind.STORAGE) for path in item.storage_paths()],
            seed=seed,
            today=self.today,
        )
        # Inference is keyed by Waldur resource UUID: known once Waldur is seeded (start()).
        self.inference: InferenceDataset | None = None
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

    def of_kind(self, usage_kind: UsageKind) -> list[SeededOffering]:
        """The seeded offerings of one usage kind, in configuration order."""
        return [item for item in self.seeded if item.usage_kind is usage_kind]

    def start(self) -> SandboxStack:
        if self.issuer is not None:
            self.issuer.start()
        jwks_url = self._external_issuer[1] if self._external_issuer else self._issuer().jwks_url
        self.waldur.start()
        self._seed_waldur()
        self.inference = InferenceDataset(
            resource_uuids=[
                resource_uuid
                for item in self.of_kind(UsageKind.INFERENCE)
                for resource_uuid in item.resources.values()
            ],
            seed=self.seed,
            today=self.today,
        )
        self.dwdi = DWDISandbox.for_dataset(
            self.dataset,
            storage=self.storage,
            inference=self.inference,
            jwks_url=jwks_url,
            issuer=self.issuer_url,
            host=self._host,
            port=self._dwdi_port,
        )
        self.dwdi.start()
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
                if item.usage_kind is UsageKind.COMPUTE:
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
        """What Waldur must hold for ``month``, from the double's own rows (see ``sandbox.expected``).

        Storage resources without (good) data, and inference resources with a bad cost, are
        expected to hold nothing (amounts None).
        """
        components = item.config.components
        if item.usage_kind is UsageKind.STORAGE:
            storage = item.config.storage
            if storage is None:
                raise RuntimeError(f"storage offering {item.config.name!r} has no storage settings")
            return expected_storage(
                self.storage, month, item.paths(), components, storage.filesystem, storage.data_type
            )
        if item.usage_kind is UsageKind.INFERENCE:
            if self.inference is None:
                raise RuntimeError("start() the sandbox first")
            return expected_inference(self.inference, month, item.resources, components)
        return expected_compute(self.dataset, month, item.accounts, components, item.config.clusters)

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
