"""The billing view inside Airflow's real api-server app, after a real push against the sandbox.

Airflow's ``create_app()`` mounts the plugin the provider registers through ``get_provider_info``;
tokens come from the auth manager's own ``/auth/token``. Each security test fails when its check
(authentication, the per-offering DAG authorization, parameter validation) is removed.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.e2e.support import ISSUER_CLIENT_SECRET
from tests.view.auth_manager import HIDDEN_SLUG_ENV
from tests.view.conftest import SLUG

PREFIX = "/cscs-dwdi-billing"
PASSWORDS = {"admin": "admin-pw-view", "restricted": "restricted-pw-view", "partial": "partial-pw-view"}


@pytest.fixture(scope="module")
def client(pushed: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    passwords = tmp_path_factory.mktemp("auth") / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    env = {
        "AIRFLOW__CORE__AUTH_MANAGER": "tests.view.auth_manager.RestrictedAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,restricted:viewer,partial:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": "view-test-jwt-secret-" + "x" * 48,
        HIDDEN_SLUG_ENV: SLUG,
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    from airflow.api_fastapi.app import create_app, purge_cached_app

    purge_cached_app()
    with TestClient(create_app()) as test_client:
        yield test_client
    purge_cached_app()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def token(client: TestClient, user: str) -> str:
    reply = client.post("/auth/token", json={"username": user, "password": PASSWORDS[user]})
    assert reply.status_code == 201, reply.text
    return str(reply.json()["access_token"])


def get(client: TestClient, path: str, user: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token(client, user)}"} if user else {}
    return client.get(PREFIX + path, headers=headers)


def routes(month: str) -> list[str]:
    return [
        "/",
        "/api/offerings",
        f"/offerings/{SLUG}",
        f"/api/offerings/{SLUG}",
        f"/offerings/{SLUG}/{month}",
        f"/api/offerings/{SLUG}/{month}",
        f"/offerings/{SLUG}/{month}.csv",
        f"/offerings/{SLUG}/{month}/resources/x",
        f"/dags/cscs_dwdi_usage_{SLUG}",
    ]


def test_the_plugin_is_registered_from_the_provider_info() -> None:
    from airflow import plugins_manager
    from airflow.providers_manager import ProvidersManager

    from airflow_provider_cscs_dwdi.view.plugin import BillingViewPlugin

    # The provider info's "plugins" entry itself (the entry point is the other registration).
    [info] = [plugin for plugin in ProvidersManager().plugins if plugin.name == "cscs_dwdi_billing_view"]
    module, _, name = info.plugin_class.rpartition(".")
    assert getattr(importlib.import_module(module), name) is BillingViewPlugin
    assert info.provider_name == "airflow-provider-cscs-dwdi"
    plugins_manager.ensure_plugins_loaded()
    names = [plugin.name for plugin in plugins_manager._get_plugins()[0]]
    assert "cscs_dwdi_billing_view" in names
    views, _ = plugins_manager._get_ui_plugins()
    assert any(view["href"] == f"{PREFIX}/" and view["destination"] == "nav" for view in views)


def test_without_a_token_every_page_and_endpoint_answers_401(
    client: TestClient, pushed: dict[str, Any]
) -> None:
    for path in routes(pushed["month"]):
        reply = get(client, path)
        assert reply.status_code == 401, path
        assert "Billing" not in reply.text


def test_a_forged_cookie_is_refused(client: TestClient, pushed: dict[str, Any]) -> None:
    reply = client.get(f"{PREFIX}/api/offerings", cookies={"_token": "not.a.jwt"})
    assert reply.status_code in (401, 403)


@pytest.mark.parametrize("user", ["restricted", "partial"])
def test_a_user_who_may_not_read_the_dags_does_not_see_the_offering(
    client: TestClient, pushed: dict[str, Any], user: str
) -> None:
    # "partial" may read the usage and closing DAGs but not the audit DAG: not enough.
    assert SLUG in [row["slug"] for row in get(client, "/api/offerings", "admin").json()]
    assert SLUG not in [row["slug"] for row in get(client, "/api/offerings", user).json()]
    assert SLUG not in get(client, "/", user).text
    for path in routes(pushed["month"])[2:]:
        assert get(client, path, user).status_code == 403, path


@pytest.mark.parametrize(
    ("path", "status", "names"),
    [
        ("/offerings/nope", 404, "offering"),
        ("/offerings/%2E%2E", 400, "offering"),
        ("/api/offerings/%2E%2E/2026-01", 400, "offering"),
        ("/api/offerings/..%2F..%2Fetc", 404, "malformed"),
        ("/offerings/view_hpc/2026-13", 400, "month"),
        ("/api/offerings/view_hpc/2026-13", 400, "month"),
        ("/api/offerings/view_hpc/2026-13/resources/x", 400, "month"),
        ("/offerings/view_hpc/..%2F2026-01/resources/x", 404, "malformed"),
        ("/api/offerings/view_hpc/..%2F..", 404, "malformed"),
        ("/offerings/view_hpc/2026-00.csv", 400, "month"),
        ("/api/offerings/view_hpc/2026-01/resources/%2E%2E", 400, "resource"),
        ("/api/offerings/view_hpc/2026-01?sort=__class__", 400, "sort"),
        ("/api/offerings/view_hpc/2026-01?page_size=100000", 400, "page_size"),
    ],
)
def test_bad_parameters_get_a_clear_4xx_and_no_file_is_opened(
    client: TestClient,
    pushed: dict[str, Any],
    path: str,
    status: int,
    names: str,
) -> None:
    bearer = {"Authorization": f"Bearer {token(client, 'admin')}"}
    with files_opened() as opened:
        reply = client.get(PREFIX + path, headers=bearer)
    assert reply.status_code == status, reply.text
    assert names in reply.text
    # Not a file of any name: the view reads nothing from disk on a request's behalf (only
    # Python modules imported on first use may be opened).
    assert [name for name in opened if not name.endswith(MODULE_SUFFIXES)] == []


MODULE_SUFFIXES = (".py", ".pyc", ".so", ".pth", ".typed")
_recording: list[list[str]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Every open() of the process (io.open, os.open, Path.open) raises the "open" audit event.
    if event == "open" and _recording and isinstance(args[0], (str, bytes, os.PathLike)):
        _recording[-1].append(os.fsdecode(args[0]))


@contextmanager
def files_opened() -> Iterator[list[str]]:
    """The paths this process opens inside the block (an audit hook stays installed, idle outside)."""
    if not getattr(sys, "_cscs_dwdi_view_audit", False):
        sys.addaudithook(_audit)
        sys._cscs_dwdi_view_audit = True  # type: ignore[attr-defined]
    _recording.append([])
    try:
        yield _recording[-1]
    finally:
        _recording.pop()


def test_the_month_table_and_csv_equal_the_sandbox_totals(client: TestClient, pushed: dict[str, Any]) -> None:
    stack, item, month = pushed["stack"], pushed["item"], pushed["month"]
    expected = stack.expected(item, month)
    table = get(client, f"/api/offerings/{SLUG}/{month}?page_size=1000", "admin").json()
    components = [c.type for c in item.config.components]
    labels = [c.label for c in item.config.components]
    assert table["header"][2 : 2 + len(components)] == labels
    got = {row[0]: [Decimal(cell) for cell in row[2 : 2 + len(components)]] for row in table["rows"]}
    want = {
        account: [Decimal(value or 0) for value in expected[account]["total"].values()]
        for account in expected
    }
    assert got == want
    assert all(row[1] == item.resources[row[0]] for row in table["rows"])
    reply = get(client, f"/offerings/{SLUG}/{month}.csv", "admin")
    assert reply.status_code == 200
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows == [table["header"], *table["rows"]]


def test_the_offering_page_and_resource_detail(client: TestClient, pushed: dict[str, Any]) -> None:
    stack, item, month = pushed["stack"], pushed["item"], pushed["month"]
    page = get(client, f"/api/offerings/{SLUG}", "admin").json()
    assert page["rows"][0]["month"] == month
    expected = stack.expected(item, month)
    first = item.config.components[0].type
    want = sum((Decimal(account["total"][first] or 0) for account in expected.values()), Decimal(0))
    assert Decimal(page["rows"][0]["cells"][0]["billed"]) == want
    assert Decimal(page["rows"][0]["cells"][0]["in_waldur"]) == want
    assert len(page["monthly"]["labels"]) == 12
    assert len(page["month_to_date"]["labels"]) == 2
    closed = next(row for row in page["rows"] if row["month"] == pushed["closed_month"])
    assert (closed["closed"], closed["audit"]) == (True, "clean")
    assert not page["rows"][0]["closed"]
    account = sorted(expected)[0]
    detail = get(client, f"/api/offerings/{SLUG}/{month}/resources/{account}", "admin").json()
    assert {user["username"] for user in detail["users"]} == set(expected[account]["users"])
    # The second daily push wrote nothing new: one entry per component, from the first push.
    assert [entry["old"] for entry in detail["history"]] == [""] * len(components_of(item))
    assert {entry["run_id"] for entry in detail["history"]} == {pushed["daily_runs"][0]}


def components_of(item: Any) -> list[str]:
    return [c.type for c in item.config.components]


def test_no_secret_or_jwt_in_any_page_endpoint_or_log(
    client: TestClient, pushed: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    stack, month = pushed["stack"], pushed["month"]
    account = sorted(pushed["item"].resources)[0]
    jwt = token(client, "admin")
    secrets = [jwt, ISSUER_CLIENT_SECRET, PASSWORDS["admin"]]
    secrets += [
        str(conn.get("password") or "") for conn in (stack.waldur_connection(), stack.dwdi_connection())
    ]
    assert all(len(secret) >= 6 for secret in secrets)
    caplog.set_level(logging.DEBUG)
    paths = [*routes(month)[:-2], f"/offerings/{SLUG}/{month}/resources/{account}"]
    for path in paths:
        reply = client.get(PREFIX + path, headers={"Authorization": f"Bearer {jwt}"})
        assert reply.status_code == 200, path
        for secret in filter(None, secrets):
            assert secret not in reply.text, path
    for secret in filter(None, secrets):
        assert secret not in caplog.text
