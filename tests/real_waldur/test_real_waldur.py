"""The provider's DAGs against a real Waldur MasterMind 7.0.7, built from source (conftest.py).

The DWDI side is the sandbox double with the real OIDC issuer, as in tests/e2e; the Waldur side is
Waldur itself on PostgreSQL. Waldur 7.x books every usage write in its own current month, so the
closed months are written by runservers whose clock libfaketime sets to a day of that month (the
provider's operators read the same instant); the audits run on the real clock.

The compute offering has 8 resources x 120 users: over 1,000 user usages a month, several
resources with more than 100 users, so every read of the user-usage listing spans pages that the
real server orders unstably (ties in a new order on each page request).

The tests share one seeded Waldur and run in file order: the months pushed by the first are
audited, edited and repaired by the later ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
import yaml

from airflow_provider_cscs_dwdi.core.audit import CAUSE_EDITED
from airflow_provider_cscs_dwdi.core.audit_result import AuditResult
from airflow_provider_cscs_dwdi.core.config import load_config
from airflow_provider_cscs_dwdi.core.months import previous_month
from airflow_provider_cscs_dwdi.dag_factory import (
    AUDIT_DAG_ID_PREFIX,
    CONFIG_ENV_VAR,
    DAG_ID_PREFIX,
    load_dags_from_env,
)
from sandbox.airflow_runs import xcom_results
from sandbox.oidc_issuer import OidcIssuerProcess
from sandbox.stack import SeededOffering, differences
from tests.e2e.conftest import COMPUTE_OFFERING
from tests.e2e.support import ISSUER_CLIENT_ID, ISSUER_CLIENT_SECRET, month_of, operators_clock_at
from tests.e2e.test_inference_pipeline import INFERENCE_OFFERING
from tests.e2e.test_storage_pipeline import STORAGE_OFFERING
from tests.fixtures.airflow_env import task_states
from tests.fixtures.offerings import STORAGE_COMPONENTS
from tests.real_waldur.server import RealWaldur, Runserver
from tests.real_waldur.stack import RealWaldurStack, user_usage_count

pytestmark = [
    pytest.mark.real_waldur,
    pytest.mark.airflow,
    pytest.mark.usefixtures("airflow_db"),
    # A cold cache builds Waldur inside the first test's set-up (scripts/test.sh builds it before).
    pytest.mark.timeout(2400),
]

ACCOUNTS = 8
USERS_PER_ACCOUNT = 120
COMPUTE = {**COMPUTE_OFFERING, "name": "Real HPC", "audit": {"schedule": None, "months": 2}}
STORAGE = {**STORAGE_OFFERING, "name": "Real Storage"}
INFERENCE = {**INFERENCE_OFFERING, "name": "Real Inference"}
#: Space billed in bytes (unit factor 1): totals from 10^12 on, which Waldur 7.0.7 cannot store.
STORAGE_IN_BYTES = {
    "name": "Real Storage Bytes",
    "offering_uuid": "5e1d3c2b4a6f4e8d9c0b1a2f3e4d5c6b",
    "billing_timezone": "UTC",
    "usage_kind": "storage",
    "storage": {
        "filesystem": "capstor",
        "data_type": "store",
        "path_template": "/capstor/store/bytes/{backend_id}",
    },
    "backend_components": {
        **STORAGE_COMPONENTS,
        "space": {**STORAGE_COMPONENTS["space"], "unit_factor": "1"},
    },
}
OFFERINGS = [COMPUTE, STORAGE, INFERENCE, STORAGE_IN_BYTES]


def closed_months(now: datetime) -> tuple[str, str]:
    """The two months before the one of ``now`` (oldest first)."""
    last = previous_month(month_of(now))
    return previous_month(last), last


def instant_in(month: str) -> datetime:
    """Noon on the 28th (a day every month has): when the faked servers and operators live."""
    return datetime.fromisoformat(f"{month}-28T12:00:00+00:00")


class Scene:
    """The seeded stack, its servers and the environment the DAGs read."""

    def __init__(self, stack: RealWaldurStack, monkeypatch: pytest.MonkeyPatch) -> None:
        self.stack = stack
        self.monkeypatch = monkeypatch
        self.waldur: RealWaldur = stack.real
        self.faked: dict[str, Runserver] = {}
        # Fixed once: a session that runs across the turn of a month still tests the same months.
        self.started = datetime.now(UTC)
        self.months = closed_months(self.started)

    def item(self, name: str) -> SeededOffering:
        (item,) = [item for item in self.stack.seeded if item.config.name == name]
        return item

    def faked_server(self, month: str) -> Runserver:
        """A runserver whose clock libfaketime puts at :func:`instant_in` ``month``."""
        if month not in self.faked:
            self.faked[month] = self.waldur.runserver(f"{instant_in(month):%Y-%m-%d %H:%M:%S}")
        return self.faked[month]

    def use_waldur(self, server: Runserver) -> None:
        """Point every offering's Waldur connection at ``server``."""
        connection = self.stack.waldur_connection_at(server.url)
        for item in self.stack.seeded:
            self.monkeypatch.setenv(
                f"AIRFLOW_CONN_{item.config.waldur_conn_id.upper()}", json.dumps(connection)
            )

    def push(self, item: SeededOffering, month: str, offset: int = 0) -> Any:
        """The usage DAG's scheduled run on the 28th of ``month``, against the server faked there."""
        server = self.faked_server(month)
        self.use_waldur(server)
        server.mark()
        instant = instant_in(month) + timedelta(seconds=offset)
        dag = load_dags_from_env()[DAG_ID_PREFIX + item.config.slug]
        for task in dag.tasks:
            task.retries = 0
        with operators_clock_at(instant):
            return dag.test(logical_date=instant)

    def audit(self, offset: int = 0, **conf: Any) -> Any:
        """The compute offering's audit DAG on the real clock, against the real-clock server."""
        self.use_waldur(self.waldur.real)
        self.waldur.real.mark()
        dag = load_dags_from_env()[AUDIT_DAG_ID_PREFIX + self.item(COMPUTE["name"]).config.slug]
        for task in dag.tasks:
            task.retries = 0
        # On the session's first instant: the audited months are the ones the pushes wrote.
        instant = self.started + timedelta(seconds=offset)
        with operators_clock_at(instant):
            return dag.test(logical_date=instant, run_conf=conf or None)


@pytest.fixture(scope="module")
def scene(
    real_waldur: RealWaldur, oidc_issuer: OidcIssuerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scene]:
    folder = tmp_path_factory.mktemp("real-waldur")
    config_file = folder / "offerings.yaml"
    archive = f"file://{folder}/archive"
    config_file.write_text(
        yaml.safe_dump({"offerings": [{**offering, "archive_path": archive} for offering in OFFERINGS]})
    )
    stack = RealWaldurStack(
        load_config(config_file).offerings,
        real_waldur,
        accounts_per_offering=ACCOUNTS,
        users_per_account=USERS_PER_ACCOUNT,
        external_issuer=(oidc_issuer.realm_url, oidc_issuer.jwks_url, oidc_issuer.token_url),
        client_id=ISSUER_CLIENT_ID,
        client_secret=ISSUER_CLIENT_SECRET,
    )
    with pytest.MonkeyPatch.context() as monkeypatch:
        stack.start()
        monkeypatch.setenv(CONFIG_ENV_VAR, str(config_file))
        for name, value in stack.connection_env().items():
            monkeypatch.setenv(name, value)
        try:
            yield Scene(stack, monkeypatch)
        finally:
            stack.stop()


def assert_landed_exactly(scene: Scene, item: SeededOffering, month: str, *, through_api: bool = True) -> int:
    """Waldur holds exactly the truth of ``month``: in its database, and (by default) as its API
    answers. Returns how many user usages that is."""
    expected = scene.stack.expected(item, month)
    in_database = scene.stack.landed_in_database(item, month)
    assert differences(expected, in_database) == []
    assert _nonzero_user_usages(in_database) == _nonzero_user_usages(expected)
    if through_api:
        answered = scene.stack.landed_through_the_api(item, month)
        assert differences(expected, answered) == []
        assert answered == in_database
    return user_usage_count(in_database)


def _nonzero_user_usages(totals: dict[str, Any]) -> set[tuple[str, str, str, Decimal]]:
    return {
        (account, username, component, Decimal(amount))
        for account, data in totals.items()
        for username, amounts in data["users"].items()
        for component, amount in amounts.items()
        if Decimal(amount) != 0
    }


def push_result(dag_run: Any) -> dict[str, Any]:
    (result,) = xcom_results(dag_run, "push_to_waldur")
    assert isinstance(result, dict)
    return result


def audit_result(dag_run: Any) -> AuditResult:
    (doc,) = xcom_results(dag_run, "audit_waldur")
    return AuditResult.from_xcom(doc)


def log_of(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    captured = capfd.readouterr()
    return captured.out + captured.err + caplog.text


def test_a_month_of_over_1000_user_usages_lands_exactly_and_a_repush_writes_nothing(scene: Scene) -> None:
    item = scene.item(COMPUTE["name"])
    _, month = scene.months
    expected = scene.stack.expected(item, month)
    big = [account for account, data in expected.items() if len(data["users"]) > 100]
    assert len(big) >= 3, "the month must have several resources with more than 100 users"

    dag_run = scene.push(item, month)

    assert str(dag_run.state) == "success", task_states(dag_run)
    count = assert_landed_exactly(scene, item, month)
    assert count >= 1000
    server = scene.faked_server(month)
    posts = server.writes()
    # The hook's one probe of the 8.x bulk endpoint, which 7.0.7 does not have.
    (probe,) = [request for request in posts if request.status != 201]
    assert (probe.status, probe.path.endswith("/set_user_usages/")) == (404, True)
    # 7.0.7 has no bulk endpoint: one set_user_usage per user usage, one set_usage per resource.
    assert sum(request.path.endswith("/set_user_usage/") for request in posts) == count
    assert sum(request.path.endswith("/set_usage/") for request in posts) == len(item.resources)

    again = scene.push(item, month, offset=1)

    assert str(again.state) == "success", task_states(again)
    assert push_result(again)["changed"] == 0
    assert server.writes() == []
    assert_landed_exactly(scene, item, month, through_api=False)


def test_two_past_months_written_under_libfaketime_audit_clean(scene: Scene) -> None:
    item = scene.item(COMPUTE["name"])
    older, last = scene.months
    dag_run = scene.push(item, older)
    assert str(dag_run.state) == "success", task_states(dag_run)
    assert assert_landed_exactly(scene, item, older, through_api=False) >= 1000

    audited = scene.audit()

    result = audit_result(audited)
    assert result.clean, [drift.cells() for drift in result.drifts]
    assert str(audited.state) == "success", task_states(audited)
    assert [month["month"] for month in result.months] == [older, last]
    assert all(month["unchanged"] == ACCOUNTS for month in result.months), result.months
    assert scene.waldur.real.writes() == []


def test_hand_edits_of_a_total_and_of_a_user_usage_are_found_and_named(scene: Scene) -> None:
    item = scene.item(COMPUTE["name"])
    _, month = scene.months
    expected = scene.stack.expected(item, month)
    edited_account, user_account = sorted(item.accounts)[0], sorted(item.accounts)[1]
    username, amounts = sorted(expected[user_account]["users"].items())[5]
    token = {"Authorization": f"Token {scene.waldur.token}"}
    # A person corrects a total while the month is open (its server's clock is in that month)...
    response = requests.post(
        f"{scene.faked_server(month).url}/api/marketplace-component-usages/set_usage/",
        json={
            "resource": item.resources[edited_account],
            "usages": [{"type": "nodeHours", "amount": "1.00"}],
        },
        headers=token,
        timeout=60,
    )
    assert response.status_code == 201, response.text
    # ... and a user usage after it closed (7.0.7 lets staff do that).
    (row,) = [
        row
        for row in requests.get(
            f"{scene.waldur.real.url}/api/marketplace-component-usages/",
            params={"resource_uuid": item.resources[user_account], "billing_period": f"{month}-01"},
            headers=token,
            timeout=60,
        ).json()
        if row["type"] == "nodeHours"
    ]
    response = requests.post(
        f"{scene.waldur.real.url}/api/marketplace-component-usages/{row['uuid']}/set_user_usage/",
        json={"username": username, "usage": "7.77"},
        headers=token,
        timeout=60,
    )
    assert response.status_code == 201, response.text

    audited = scene.audit(1)

    assert str(audited.state) == "failed", task_states(audited)
    result = audit_result(audited)
    drifts = {(d.month, d.backend_id, d.component, d.username): d for d in result.drifts}
    assert set(drifts) == {
        (month, edited_account, "nodeHours", None),
        (month, user_account, "nodeHours", username),
    }
    total = drifts[(month, edited_account, "nodeHours", None)]
    assert (total.dwdi, total.waldur, total.cause) == (
        expected[edited_account]["total"]["nodeHours"],
        Decimal("1.00"),
        CAUSE_EDITED,
    )
    user = drifts[(month, user_account, "nodeHours", username)]
    assert (user.dwdi, user.waldur, user.cause) == (amounts["nodeHours"], Decimal("7.77"), CAUSE_EDITED)
    assert scene.waldur.real.writes() == []


def test_a_repair_of_a_past_month_is_refused_by_waldur_7_and_writes_nothing(
    scene: Scene, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    item = scene.item(COMPUTE["name"])
    _, month = scene.months
    before = (
        scene.waldur.db_usages(item.uuid, f"{month}-01"),
        scene.waldur.db_user_usages(item.uuid, f"{month}-01"),
    )
    user_usages_before = scene.waldur.db_user_usage_count()

    dag_run = scene.audit(2, repair_month=month)

    assert str(dag_run.state) == "failed", task_states(dag_run)
    assert task_states(dag_run)["audit_waldur"] == "failed"
    assert f"Refusing to repair {month}: it is not the current month" in log_of(capfd, caplog)
    assert audit_result(dag_run).repair is None
    assert scene.waldur.real.writes() == []
    after = (
        scene.waldur.db_usages(item.uuid, f"{month}-01"),
        scene.waldur.db_user_usages(item.uuid, f"{month}-01"),
    )
    assert after == before
    assert scene.waldur.db_user_usage_count() == user_usages_before


@pytest.mark.parametrize("name", [STORAGE["name"], INFERENCE["name"]], ids=["storage", "inference"])
def test_a_storage_and_an_inference_month_land_exactly(scene: Scene, name: str) -> None:
    item = scene.item(name)
    _, month = scene.months
    expected = scene.stack.expected(item, month)
    assert any(amount for data in expected.values() for amount in data["total"].values())

    dag_run = scene.push(item, month)

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert assert_landed_exactly(scene, item, month) == 0
    written = [
        request for request in scene.faked_server(month).writes() if request.path.endswith("/set_usage/")
    ]
    assert len(written) == sum(
        any(amount is not None for amount in data["total"].values()) for data in expected.values()
    )

    again = scene.push(item, month, offset=1)
    assert str(again.state) == "success", task_states(again)
    assert scene.faked_server(month).writes() == []


def test_a_total_of_10_to_the_12_is_refused_before_any_request(
    scene: Scene, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    item = scene.item(STORAGE_IN_BYTES["name"])
    _, month = scene.months
    expected = scene.stack.expected(item, month)
    over = sorted(
        backend_id for backend_id, data in expected.items() if (data["total"]["space"] or 0) >= 10**12
    )
    assert over, "the dataset has paths of a terabyte and more"

    dag_run = scene.push(item, month)

    assert task_states(dag_run)["push_to_waldur[0]"] == "failed", task_states(dag_run)
    assert scene.faked_server(month).writes() == []
    assert scene.waldur.db_usages(item.uuid, f"{month}-01") == {}
    log = log_of(capfd, caplog)
    assert f"Nothing of {month} was written to offering" in log
    for backend_id in over:
        assert f"resource {backend_id}, component space: " in log
