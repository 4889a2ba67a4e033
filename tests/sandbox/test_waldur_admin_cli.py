"""The Waldur sandbox's admin API and command line (how the demo runs it as another process)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from sandbox import waldur, waldur_server
from sandbox.waldur import WaldurSandbox
from tests.sandbox.waldur_support import NODE_HOURS, NOVEMBER, REPO_ROOT, SET_USAGE, node_hours, set_usage


def test_admin_endpoints_seed_and_read_back_from_another_process_view(waldur_sandbox: WaldurSandbox) -> None:
    admin = requests.Session()
    base = waldur_sandbox.url + "/sandbox"
    offering = admin.post(f"{base}/offerings", json={"name": "Eiger", "components": [NODE_HOURS]}).json()[
        "uuid"
    ]
    resource = admin.post(f"{base}/resources", json={"offering_uuid": offering, "backend_id": "g001"}).json()[
        "uuid"
    ]
    admin.post(f"{base}/offering-users", json={"offering_uuid": offering, "username": "alice"})
    admin.post(f"{base}/today", json={"today": "2026-11-23"})
    set_usage(waldur_sandbox, resource, node_hours("8.00"))

    usages = admin.get(
        f"{base}/usages",
        params={"resource_uuid": resource, "component_type": "nodeHours", "billing_period": NOVEMBER},
    ).json()
    state = admin.get(f"{base}/state").json()
    bad = admin.post(f"{base}/resources", json={"offering_uuid": "nope", "backend_id": "x"})

    assert usages == {"usage": "8.00", "user_usages": {}}
    assert [u["username"] for u in state["offering_users"]] == ["alice"]
    assert bad.status_code == 400
    assert [r.path for r in waldur_sandbox.requests] == [SET_USAGE]


@pytest.mark.parametrize("module", ["sandbox.waldur_server", "sandbox.waldur"])
def test_command_line_prints_url_and_tokens_and_serves(module: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", "--version", "7"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        me = requests.get(
            info["url"] + "/api/users/me/", headers={"Authorization": f"Token {info['staff_token']}"}
        )
        assert info["version"] == "7"
        assert (me.status_code, me.json()["is_staff"]) == (200, True)
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_the_old_module_name_still_exports_the_same_objects() -> None:
    """stack.py, demo.py, benchmarks and docker-compose still import sandbox.waldur_server."""
    assert waldur_server.__all__ == waldur.__all__
    for name in waldur.__all__:
        assert getattr(waldur_server, name) is getattr(waldur, name), name
