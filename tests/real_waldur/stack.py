"""The sandbox stack (OIDC issuer, DWDI double, generated data) with the real Waldur in place of the
Waldur double: the same seeding and the same independent truth (``SandboxStack.expected``), so the
provider's DAGs run exactly as in tests/e2e, only against Waldur MasterMind 7.0.7."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import requests

from airflow_provider_cscs_dwdi.core.config import OfferingConfig
from sandbox.stack import SandboxStack, SeededOffering, Totals
from tests.real_waldur.server import RealWaldur

#: Waldur 7.0.7's ``max_page_size``: one page of a listing holds up to this many rows.
MAX_PAGE_SIZE = 300


class _SeedCollector:
    """Stands where the stack expects its Waldur double: collects the seeding for one shell run."""

    def __init__(self, waldur: RealWaldur) -> None:
        self.waldur = waldur
        self.offerings: dict[str, dict[str, Any]] = {}

    @property
    def url(self) -> str:
        return self.waldur.real.url

    @property
    def staff_token(self) -> str:
        return self.waldur.token

    def start(self) -> None:
        """The real Waldur runs for the whole session (conftest.py)."""

    def stop(self) -> None:
        """Stopped with the session."""

    def add_offering(self, name: str, components: Sequence[Mapping[str, Any]], *, offering_uuid: str) -> str:
        self.offerings[offering_uuid] = {
            "uuid": offering_uuid,
            "name": name,
            "components": list(components),
            "resources": [],
            "users": [],
        }
        return offering_uuid

    def add_resource(self, offering_uuid: str, backend_id: str) -> str:
        resource_uuid = uuid.uuid4().hex
        self.offerings[offering_uuid]["resources"].append({"uuid": resource_uuid, "backend_id": backend_id})
        return resource_uuid

    def add_offering_user(self, offering_uuid: str, username: str) -> None:
        self.offerings[offering_uuid]["users"].append(username)


class RealWaldurStack(SandboxStack):
    """:class:`SandboxStack` whose offerings, resources and offering users live in the real Waldur."""

    def __init__(self, offerings: Sequence[OfferingConfig], waldur: RealWaldur, **kwargs: Any) -> None:
        super().__init__(offerings, **kwargs)
        self.real = waldur
        self.collector = _SeedCollector(waldur)
        self.waldur = self.collector  # type: ignore[assignment]

    def _seed_waldur(self) -> None:
        super()._seed_waldur()
        self.real.seed(list(self.collector.offerings.values()))

    def waldur_connection_at(self, url: str, **extra: Any) -> dict[str, Any]:
        """The ``waldur`` connection to one of the runservers (they share the database)."""
        connection = self.waldur_connection()
        connection["host"] = f"{url}/api/"
        connection["extra"] = {**connection["extra"], **extra}
        return connection

    # ------------------------------------------------------------------ what Waldur holds

    def landed_in_database(self, item: SeededOffering, month: str) -> Totals:
        """What the database holds for ``month``, in the shape of ``expected()``."""
        period = f"{month}-01"
        totals = self.real.db_usages(item.uuid, period)
        users = self.real.db_user_usages(item.uuid, period)
        return _as_totals(item, totals, users)

    def landed_through_the_api(self, item: SeededOffering, month: str) -> Totals:
        """What Waldur's API answers for ``month``: component usages of the offering, and the user
        usages of each resource and component read as one page (never more than 300 rows, so the
        listing's unstable order cannot lose or repeat one; the count header proves it)."""
        period = f"{month}-01"
        rows = self._get_all(
            "marketplace-component-usages/", {"offering_uuid": item.uuid, "billing_period": period}
        )
        totals: dict[tuple[str, str], Decimal] = {}
        for row in rows:
            key = (str(row["resource_uuid"]), str(row["type"]))
            assert key not in totals, f"two component usages of {key} in {month}"
            totals[key] = Decimal(str(row["usage"]))
        users: dict[tuple[str, str, str], Decimal] = {}
        for resource_uuid in item.resources.values():
            for component in item.config.components:
                page = self._one_page(
                    "marketplace-component-user-usages/",
                    {
                        "resource_uuid": resource_uuid,
                        "type": component.type,
                        "component_usage__billing_period": period,
                    },
                )
                for row in page:
                    key = (resource_uuid, str(row["component_type"]), str(row["username"]))
                    assert key not in users, f"the API listed {key} twice"
                    users[key] = Decimal(str(row["usage"]))
        return _as_totals(item, totals, users)

    def _session(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.real.token}"
        return session

    def _one_page(self, path: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        with self._session() as session:
            response = session.get(
                f"{self.real.real.url}/api/{path}", params={**params, "page_size": MAX_PAGE_SIZE}, timeout=120
            )
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()
        count = int(response.headers["X-Result-Count"])
        assert count <= MAX_PAGE_SIZE, f"{path} {params}: {count} rows do not fit one page"
        assert len(rows) == count, f"{path} {params}: {len(rows)} rows, X-Result-Count {count}"
        return rows

    def _get_all(self, path: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        # The component-usage listing pages stably (one row per resource and component).
        rows: list[dict[str, Any]] = []
        url: str | None = f"{self.real.real.url}/api/{path}"
        query: Mapping[str, Any] | None = {**params, "page_size": MAX_PAGE_SIZE}
        with self._session() as session:
            while url is not None:
                response = session.get(url, params=query, timeout=120)
                response.raise_for_status()
                rows.extend(response.json())
                url = response.links.get("next", {}).get("url")
                query = None
        assert len(rows) == int(response.headers["X-Result-Count"])
        return rows


def _as_totals(
    item: SeededOffering,
    totals: Mapping[tuple[str, str], Decimal],
    users: Mapping[tuple[str, str, str], Decimal],
) -> Totals:
    backend_ids = {resource_uuid: backend_id for backend_id, resource_uuid in item.resources.items()}
    landed: Totals = {
        backend_id: {"total": {component.type: None for component in item.config.components}, "users": {}}
        for backend_id in item.resources
    }
    for (resource_uuid, component), amount in totals.items():
        landed[backend_ids[resource_uuid]]["total"][component] = amount
    for (resource_uuid, component, username), amount in users.items():
        landed[backend_ids[resource_uuid]]["users"].setdefault(username, {})[component] = amount
    return landed


def user_usage_count(totals: Totals) -> int:
    """How many user usages ``totals`` holds (one per resource, user and component)."""
    return sum(len(amounts) for account in totals.values() for amounts in account["users"].values())
