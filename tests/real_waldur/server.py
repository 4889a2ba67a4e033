"""A built Waldur MasterMind (tests/real_waldur/build.py) running on loopback, and its seeding.

One PostgreSQL database (restored from the cached migrated dump) serves several ``runserver``
processes: one on the real clock, and one per faked date under libfaketime, because Waldur 7.x
books every usage write in the server's current month. PostgreSQL itself stays on the real clock.

Every ``runserver`` logs each request it answers (Django's ``django.server`` logger) to its own
file, so a test can prove what the server received, not only what the client believes it sent.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import requests

from tests.fixtures.postgres import PostgresServer, free_port
from tests.real_waldur.build import STAFF_PASSWORD, STAFF_USERNAME, WaldurBuild, run

#: ``"POST /api/marketplace-component-usages/set_usage/ HTTP/1.1" 201 0`` in runserver's log.
_REQUEST_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3})')


@dataclass(frozen=True)
class ServedRequest:
    """One request a runserver answered, from its own log."""

    method: str
    path: str
    status: int


class Runserver:
    """``waldur runserver`` on a free loopback port, optionally at a faked date (libfaketime)."""

    def __init__(
        self,
        build: WaldurBuild,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        fake_time: str | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.fake_time = fake_time
        label = "real-clock" if fake_time is None else "fake-" + re.sub(r"\W", "", fake_time)
        self.log_file = log_dir / f"runserver-{label}-{self.port}.log"
        environment = dict(env)
        if fake_time is not None:
            # "@" starts the faked clock at that instant and lets it run (timestamps stay ordered).
            environment.update(
                LD_PRELOAD=str(build.libfaketime), FAKETIME=f"@{fake_time}", FAKETIME_DONT_RESET="1"
            )
        self._log_handle = self.log_file.open("w")
        self.process = subprocess.Popen(
            [str(build.waldur), "runserver", f"127.0.0.1:{self.port}", "--noreload"],
            env=environment,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )
        self._log_offset = 0

    def wait_ready(self, timeout: float = 180) -> Runserver:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"waldur runserver exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                requests.get(f"{self.url}/api/", timeout=5)
                return self
            except requests.ConnectionError:
                time.sleep(0.5)
        raise RuntimeError(f"waldur runserver did not answer within {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        self._log_handle.close()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def _settled_log_size(self, timeout: float = 10) -> int:
        """The log's size once no line has landed for 0.3 s: runserver writes a request's line
        after its answer, so a request answered just before would otherwise be logged later."""
        size = -1
        deadline = time.monotonic() + timeout
        while (current := self.log_file.stat().st_size) != size and time.monotonic() < deadline:
            size = current
            time.sleep(0.3)
        return current

    def mark(self) -> None:
        """Forget the requests served so far (:meth:`served` then lists only later ones)."""
        self._log_offset = self._settled_log_size()

    def served(self) -> list[ServedRequest]:
        """Requests answered since the last :meth:`mark`, from the server's own log."""
        self._settled_log_size()
        with self.log_file.open("rb") as handle:
            handle.seek(self._log_offset)
            text = handle.read().decode(errors="replace")
        return [
            ServedRequest(match["method"], match["path"], int(match["status"]))
            for match in _REQUEST_LINE.finditer(text)
        ]

    def writes(self) -> list[ServedRequest]:
        return [request for request in self.served() if request.method not in {"GET", "HEAD", "OPTIONS"}]


class RealWaldur:
    """The restored database and its servers; :meth:`seed` creates offerings in one shell run."""

    def __init__(self, build: WaldurBuild, postgres: PostgresServer) -> None:
        self.build = build
        self.postgres = postgres
        self.state_dir = Path(tempfile.mkdtemp(prefix="cscs-dwdi-real-waldur-"))
        self.env = build.environment(db_port=postgres.port, state_dir=self.state_dir)
        self.servers: list[Runserver] = []
        self.token = ""

    def start(self) -> RealWaldur:
        self.real = self.runserver()
        response = requests.post(
            f"{self.real.url}/api-auth/password/",
            json={"username": STAFF_USERNAME, "password": STAFF_PASSWORD},
            timeout=60,
        )
        response.raise_for_status()
        self.token = str(response.json()["token"])
        return self

    def runserver(self, fake_time: str | None = None) -> Runserver:
        server = Runserver(self.build, self.env, self.state_dir, fake_time=fake_time)
        self.servers.append(server)
        return server.wait_ready()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def shell(self, code: str, timeout: float = 600) -> str:
        return run(
            [str(self.build.waldur), "shell", "-c", code],
            log=lambda _line: None,
            timeout=timeout,
            env=self.env,
        )

    def seed(self, offerings: Sequence[Mapping[str, Any]]) -> None:
        """Create the offerings, their resources (state OK) and offering users, in one transaction.

        Resources in state OK with a backend ID need an order processed by a Celery worker through
        the API; the ORM makes them (with their plan period) the way that worker would.
        """
        spec = self.state_dir / "seed.json"
        spec.write_text(json.dumps(list(offerings)))
        self.shell(_SEED_CODE.replace("SPEC_PATH", json.dumps(str(spec))))

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(host="127.0.0.1", port=self.postgres.port, user="postgres", dbname="waldur")

    def db_usages(self, offering_uuid: str, billing_period: str) -> dict[tuple[str, str], Decimal]:
        """``{(resource uuid, component type): usage}`` of a month, straight from the database."""
        with self.connect() as connection:
            rows = connection.execute(
                """
                SELECT r.uuid, c.type, u.usage
                FROM marketplace_componentusage u
                JOIN marketplace_resource r ON r.id = u.resource_id
                JOIN marketplace_offeringcomponent c ON c.id = u.component_id
                JOIN marketplace_offering o ON o.id = r.offering_id
                WHERE o.uuid = %s AND u.billing_period = %s
                """,
                (offering_uuid, billing_period),
            ).fetchall()
        result: dict[tuple[str, str], Decimal] = {}
        for resource_uuid, component, usage in rows:
            key = (resource_uuid.hex, component)
            if key in result:
                raise AssertionError(f"two component usages of {key} in {billing_period}")
            result[key] = usage
        return result

    def db_user_usages(self, offering_uuid: str, billing_period: str) -> dict[tuple[str, str, str], Decimal]:
        """``{(resource uuid, component type, username): usage}`` of a month, from the database."""
        with self.connect() as connection:
            rows = connection.execute(
                """
                SELECT r.uuid, c.type, uu.username, uu.usage
                FROM marketplace_componentuserusage uu
                JOIN marketplace_componentusage u ON u.id = uu.component_usage_id
                JOIN marketplace_resource r ON r.id = u.resource_id
                JOIN marketplace_offeringcomponent c ON c.id = u.component_id
                JOIN marketplace_offering o ON o.id = r.offering_id
                WHERE o.uuid = %s AND u.billing_period = %s
                """,
                (offering_uuid, billing_period),
            ).fetchall()
        result: dict[tuple[str, str, str], Decimal] = {}
        for resource_uuid, component, username, usage in rows:
            key = (resource_uuid.hex, component, username)
            if key in result:
                raise AssertionError(f"two user usages of {key} in {billing_period}")
            result[key] = usage
        return result

    def db_user_usage_count(self) -> int:
        with self.connect() as connection:
            row = connection.execute("SELECT count(*) FROM marketplace_componentuserusage").fetchone()
        assert row is not None
        return int(row[0])


_SEED_CODE = """
import datetime, json
from decimal import Decimal
from django.db import transaction
from waldur_core.core.models import User
from waldur_core.structure.models import Customer, Project
from waldur_mastermind.marketplace import models as m

offerings = json.load(open(SPEC_PATH))
with transaction.atomic():
    customer, _ = Customer.objects.get_or_create(name="CSCS test centre")
    project, _ = Project.objects.get_or_create(customer=customer, name="CSCS test project")
    m.ServiceProvider.objects.get_or_create(customer=customer)
    category, _ = m.Category.objects.get_or_create(title="HPC")
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    for spec in offerings:
        offering = m.Offering.objects.create(
            uuid=spec["uuid"], name=spec["name"], customer=customer, category=category,
            type="Marketplace.Basic", state=m.Offering.States.ACTIVE, shared=True, billable=True,
        )
        plan = m.Plan.objects.create(offering=offering, name="Default")
        for component in spec["components"]:
            offering_component = m.OfferingComponent.objects.create(
                offering=offering, type=component["type"], name=component["name"],
                billing_type=component["billing_type"], measured_unit=component["measured_unit"],
            )
            m.PlanComponent.objects.create(plan=plan, component=offering_component, price=Decimal("1"))
        for resource_spec in spec["resources"]:
            resource = m.Resource.objects.create(
                uuid=resource_spec["uuid"], offering=offering, plan=plan, project=project,
                name=resource_spec["backend_id"], backend_id=resource_spec["backend_id"],
                state=m.Resource.States.OK,
            )
            m.ResourcePlanPeriod.objects.create(resource=resource, plan=plan, start=start)
        users = User.objects.bulk_create(
            [User(username=f"{spec['uuid'][:8]}-{name}", email=f"{name}@example.org") for name in spec["users"]]
        )
        m.OfferingUser.objects.bulk_create(
            [m.OfferingUser(offering=offering, user=user, username=name) for user, name in zip(users, spec["users"])]
        )
print("seeded")
"""
