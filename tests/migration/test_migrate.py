"""``cscs-dwdi-migrate`` on the seed plugin's example configuration and on the agent 1.0.7 examples.

The written offerings file is loaded with ``load_config``, and the written connections are read by
the hooks' own settings, so what the command writes is what the provider runs with.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_cscs_dwdi.core.config import load_config
from airflow_provider_cscs_dwdi.migration import main, write_outputs
from airflow_provider_cscs_dwdi.migration import migrate as migrate_document
from airflow_provider_cscs_dwdi.migration.model import url_port

# The UI Test button's harness (a TestClient on Airflow's core API, connections saved through it).
from tests.test_connection_test_button import api, saved  # noqa: F401

CONFIGS = Path(__file__).parent / "agent_configs"
SEED = CONFIGS / "seed-0.1.0.yaml"
AGENT_1_0_7 = CONFIGS / "agent-1.0.7.yaml"
SECRETS = ("your-oidc-client-secret", "your_oidc_client_secret", "waldur-token-0123456789abcdef")


def migrate(config: Path, out: Path) -> dict[str, Any]:
    """Run the command on ``config``; the written files, the report as text and the offerings loaded."""
    assert main([str(config), "--out", str(out)]) == 0
    # It loads as the DAG file loads it; the assertions below read what was written.
    assert load_config(out / "offerings.yaml").offerings
    return {
        "offerings": yaml.safe_load((out / "offerings.yaml").read_text())["offerings"],
        "offerings_text": (out / "offerings.yaml").read_text(),
        "report": (out / "migration-report.md").read_text(),
        "env": (out / "connections.env").read_text(),
        "script": (out / "connections.sh").read_text(),
    }


def section(report: str, title: str) -> str:
    return report.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def env_connections(env_text: str) -> dict[str, str]:
    """The ``NAME='<json>'`` lines, unquoted as a shell reads them."""
    lines = [line for line in env_text.splitlines() if line and not line.startswith("#")]
    return {name: "".join(shlex.split(value)) for name, value in (line.split("=", 1) for line in lines)}


def script_connections(script: str) -> dict[str, dict[str, Any]]:
    """The connections document ``connections.sh`` imports (between its here-document markers)."""
    document = script.split("<<'CSCS_DWDI_CONNECTIONS'\n", 1)[1].split("\nCSCS_DWDI_CONNECTIONS\n", 1)[0]
    connections: dict[str, dict[str, Any]] = json.loads(document)
    return connections


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return migrate(SEED, tmp_path_factory.mktemp("seed"))


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("agent")
    return {**migrate(AGENT_1_0_7, out), "out": out}


def test_the_seed_example_becomes_a_compute_offering_that_loads(seed: dict[str, Any]) -> None:
    (offering,) = seed["offerings"]

    assert (offering["name"], offering["usage_kind"], offering["billing_timezone"]) == (
        "CSCS HPC Offering",
        "compute",
        "UTC",
    )
    assert offering["backend_components"] == {
        "nodeHours": {
            "measured_unit": "node-hours",
            "unit_factor": "1",
            "accounting_type": "usage",
            "label": "Node Hours",
        }
    }
    assert (offering["dwdi_conn_id"], offering["waldur_conn_id"]) == ("cscs_dwdi_default", "waldur_default")


def test_the_seed_report_says_what_to_set_and_what_was_never_billed(seed: dict[str, Any]) -> None:
    must_fix = section(seed["report"], "Must fix before the first run")
    not_carried = section(seed["report"], "Not carried over")

    # The seed has no Waldur keys: a placeholder UUID (loads, matches no offering) and no connection.
    assert "waldur_offering_uuid**: missing" in must_fix
    assert "00000000-0000-0000-0000-000000000001" in seed["offerings_text"]
    assert "waldur_api_url, waldur_api_token**: missing" in must_fix
    assert list(env_connections(seed["env"])) == ["AIRFLOW_CONN_CSCS_DWDI_DEFAULT"]
    # The seed's storage component was never filled by the compute plugin: left out, said so.
    assert "backend_components.storage**: the agent never filled it" in not_carried
    assert "timezone**: not set: the agent's default UTC" in seed["report"]
    assert "cscs_dwdi_client_secret**: moved to the DWDI connection's password" in seed["report"]


def test_storage_and_inference_of_agent_1_0_7_load_with_every_setting_accounted_for(
    agent: dict[str, Any],
) -> None:
    compute, storage, inference = agent["offerings"]
    report = agent["report"]

    assert {o["billing_timezone"] for o in (compute, storage, inference)} == {"Europe/Zurich"}
    assert [o["usage_kind"] for o in (compute, storage, inference)] == ["compute", "storage", "inference"]
    assert compute["clusters"] == ["alps"]
    assert list(compute["backend_components"]) == ["nodeHours"]
    assert "backend_components.cpuHours**: the agent never filled it" in report
    assert "order_processing_backend**: 'slurm' stays with the agent" in report
    assert "offering 'CSCS SLURM Cluster' (#4)**: reporting backend 'slurm' is not CSCS-DWDI" in report
    assert "reporting_periods**:" in section(report, "Not carried over")

    assert storage["storage"] == {
        "filesystem": "lustre",
        "data_type": "projects",
        "path_mapping": {"project_123": "/store/projects/proj123", "project_456": "/store/projects/proj456"},
    }
    # storage_inodes is left out: the agent never sent it.
    assert storage["backend_components"] == {
        "storage_space": {
            "measured_unit": "GB",
            "unit_factor": "0.000000001",
            "accounting_type": "usage",
            "label": "Storage Space (GB)",
            "dwdi_field": "spaceUsed",
        }
    }
    assert "backend_components.storage_inodes**: the agent never filled it" in report
    assert "storage_tenant**: the agent read it but never sent it" in report

    assert inference["backend_components"] == {
        "token_cost": {
            "measured_unit": "EUR",
            "unit_factor": "1",
            "accounting_type": "usage",
            "label": "Inference cost",
            "dwdi_field": "totalCost",
        }
    }


def test_a_storage_unit_factor_the_agent_divided_by_is_stated_never_silently_changed(
    agent: dict[str, Any],
) -> None:
    must_fix = section(agent["report"], "Must fix before the first run")

    (line,) = must_fix.strip().splitlines()
    assert "storage_space.unit_factor**" in line
    assert "the agent divided spaceUsed by unit_factor 0.000000001" in line
    assert "spaceUsed x 1000000000" in line
    assert "offerings.yaml keeps unit_factor 0.000000001" in line
    assert "set unit_factor: '1000000000' instead" in line


def test_secrets_go_only_to_the_connection_files_readable_by_their_owner(agent: dict[str, Any]) -> None:
    out: Path = agent["out"]

    for name in ("connections.env", "connections.sh"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
    for secret in SECRETS[1:]:
        assert secret not in agent["offerings_text"]
        assert secret not in agent["report"]
        assert secret in agent["env"]
        assert secret in agent["script"]


def test_identical_credentials_share_a_connection_and_different_ones_get_their_own(
    agent: dict[str, Any],
) -> None:
    compute, storage, inference = agent["offerings"]

    # Storage goes through a SOCKS proxy, inference's Waldur client skips TLS verification.
    assert (compute["dwdi_conn_id"], storage["dwdi_conn_id"], inference["dwdi_conn_id"]) == (
        "cscs_dwdi_default",
        "cscs_dwdi_cscs_lustre_storage",
        "cscs_dwdi_default",
    )
    assert (compute["waldur_conn_id"], storage["waldur_conn_id"], inference["waldur_conn_id"]) == (
        "waldur_default",
        "waldur_default",
        "waldur_cscs_llm_inference",
    )


def test_the_written_connections_are_read_by_the_hooks(
    agent: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.models.connection import Connection

    from airflow_provider_cscs_dwdi.hooks.dwdi import DWDIHook
    from airflow_provider_cscs_dwdi.hooks.waldur import WaldurHook

    env = env_connections(agent["env"])
    imported = script_connections(agent["script"])
    # Both files carry the same connections (the import document's extra is text, as stored).
    assert {f"AIRFLOW_CONN_{conn_id.upper()}" for conn_id in imported} == set(env)
    for conn_id, document in imported.items():
        expected = json.loads(env[f"AIRFLOW_CONN_{conn_id.upper()}"])
        if "extra" in expected:
            expected["extra"] = json.dumps(expected["extra"])
        assert document == expected
    for name, value in env.items():
        monkeypatch.setenv(name, value)
        assert Connection.from_json(value, conn_id="x").conn_type == json.loads(value)["conn_type"]

    storage_dwdi = DWDIHook("cscs_dwdi_cscs_lustre_storage").settings
    # The connections store the URL's port (the UI's Test button needs one); the hooks join them.
    assert (storage_dwdi.api_url, storage_dwdi.client_id, storage_dwdi.client_secret) == (
        "https://dwdi.cscs.ch:443",
        "your_oidc_client_id",
        "your_oidc_client_secret",
    )
    assert storage_dwdi.token_url == "https://auth.cscs.ch/realms/cscs/protocol/openid-connect/token"
    assert (storage_dwdi.proxy_url, storage_dwdi.scope) == ("socks5://localhost:12345", "openid")
    waldur = WaldurHook("waldur_default").settings
    assert (waldur.api_url, waldur.token, waldur.verify_tls) == (
        "https://waldur.example.org:443/api/",
        "waldur-token-0123456789abcdef",
        True,
    )
    assert WaldurHook("waldur_cscs_llm_inference").settings.verify_tls is False


def test_the_console_script_refuses_a_file_that_is_not_an_agent_configuration(tmp_path: Path) -> None:
    bad = tmp_path / "offerings.yaml"
    bad.write_text("offerings: {}\n")
    script = Path(sys.executable).parent / "cscs-dwdi-migrate"

    done = subprocess.run(
        [str(script), str(bad), "--out", str(tmp_path / "out")], capture_output=True, text=True, check=False
    )

    assert done.returncode == 1
    assert "not a Waldur Site Agent configuration (no 'offerings' list)" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_storage_offering_without_its_filesystem_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(AGENT_1_0_7.read_text().replace('      storage_filesystem: "lustre"\n', ""))

    assert main([str(config), "--out", str(tmp_path / "out")]) == 1

    assert (
        "offering 'CSCS Lustre Storage' (#2): backend_settings.storage_filesystem is missing"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()


def test_the_command_runs_without_importing_airflow() -> None:
    # It runs where the agent's file is: a host that may have no Airflow.
    script = (
        "import json, sys\n"
        "import airflow_provider_cscs_dwdi.migration\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))))\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_compute_bills_with_unit_factor_reporting_as_the_agent_1_0_x_did() -> None:
    agent_config = yaml.safe_load(AGENT_1_0_7.read_text())
    compute = agent_config["offerings"][0]
    compute["backend_components"]["nodeHours"]["unit_factor_reporting"] = 0.25

    migration = migrate_document(agent_config)

    assert migration.offerings[0]["backend_components"]["nodeHours"]["unit_factor"] == "0.25"
    assert any(
        note.where.endswith("nodeHours.unit_factor_reporting") and "carried as unit_factor 0.25" in note.text
        for note in migration.carried_with_note
    )


def test_a_socks4_proxy_is_reported_not_written_into_the_connection() -> None:
    agent_config = yaml.safe_load(AGENT_1_0_7.read_text())
    agent_config["offerings"][1]["backend_settings"]["socks_proxy"] = "socks4://localhost:1080"

    migration = migrate_document(agent_config)

    conn_id = migration.offerings[1]["dwdi_conn_id"]
    storage_dwdi = next(c for c in migration.connections if c.conn_id == conn_id)
    assert "proxy_url" not in storage_dwdi.extra
    assert any(
        note.where.endswith("backend_settings.socks_proxy")
        and "a socks4:// proxy is not supported" in note.text
        for note in migration.must_fix
    )


AWKWARD_TOKEN = 'tok\'en $HOME "x" `id` \\n end'


def _migrated_with_awkward_token(out: Path) -> dict[str, Any]:
    """The agent 1.0.7 example whose Waldur token has every character a shell treats specially."""
    document = yaml.safe_load(AGENT_1_0_7.read_text())
    for offering in document["offerings"]:
        if offering.get("waldur_api_token"):
            offering["waldur_api_token"] = AWKWARD_TOKEN
    write_outputs(migrate_document(document, source="agent.yaml"), out)
    return {
        name: json.loads(value)
        for name, value in env_connections((out / "connections.env").read_text()).items()
    }


def test_connections_env_sources_in_a_posix_shell_with_the_values_intact(tmp_path: Path) -> None:
    expected = _migrated_with_awkward_token(tmp_path)
    names = sorted(expected)
    # set -a exports what the file assigns, as the Airflow components need.
    script = 'set -a; . "$1"; set +a; for name in ' + " ".join(names) + '; do printenv "$name"; done'

    done = subprocess.run(
        ["sh", "-c", script, "sh", str(tmp_path / "connections.env")],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nowhere"},
    )

    assert done.returncode == 0, done.stderr
    sourced = [json.loads(line) for line in done.stdout.splitlines()]
    assert sourced == [expected[name] for name in names]
    assert AWKWARD_TOKEN in {connection["password"] for connection in sourced}


def test_every_migrated_connection_stores_the_port_of_its_url(agent: dict[str, Any]) -> None:
    # Airflow 3.3's Test button answers 400 for a stored connection without a port.
    connections = [json.loads(value) for value in env_connections(agent["env"]).values()]

    assert connections
    assert {(connection["host"], connection["port"]) for connection in connections} == {
        ("https://dwdi.cscs.ch", 443),
        ("https://waldur.example.org/api/", 443),
    }
    assert url_port("http://localhost:8080/api/") == 8080
    assert url_port("http://waldur.internal/api/") == 80


@pytest.mark.airflow
@pytest.mark.usefixtures("airflow_db")
def test_connections_sh_creates_new_connections_and_replaces_existing_ones(agent: dict[str, Any]) -> None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    imported = script_connections(agent["script"])
    with create_session() as session:
        session.execute(delete(Connection).where(Connection.conn_id.in_(list(imported))))
        # An old connection under a migrated id: `airflow connections add` would stop at it.
        session.add(
            Connection(
                conn_id="waldur_default", conn_type="waldur", host="https://old.example", password="old"
            )
        )
    from airflow.configuration import conf

    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        # The test configuration makes a key per process: the CLI must read what this one wrote.
        "AIRFLOW__CORE__FERNET_KEY": conf.get("core", "fernet_key"),
    }

    for _ in range(2):  # a second run replaces them again, without failing
        done = subprocess.run(
            ["sh", str(agent["out"] / "connections.sh")],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=environment,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    with create_session() as session:
        stored = {
            connection.conn_id: connection
            for connection in session.scalars(
                select(Connection).where(Connection.conn_id.in_(list(imported)))
            )
        }
        assert set(stored) == set(imported)
        for conn_id, document in imported.items():
            connection = stored[conn_id]
            assert (connection.conn_type, connection.host, connection.port, connection.password) == (
                document["conn_type"],
                document["host"],
                document["port"],
                document["password"],
            )
            assert connection.extra_dejson == json.loads(document.get("extra", "{}"))
    assert not any(secret in done.stdout + done.stderr for secret in SECRETS)


@pytest.mark.airflow
def test_a_migrated_waldur_connection_passes_the_ui_test_button(
    tmp_path: Path, request: pytest.FixtureRequest, waldur_sandbox: Any
) -> None:
    # The harness of tests/test_connection_test_button.py: Airflow's real test route, called with
    # the body the UI's connection list posts (port 0 for a connection stored without one).
    from tests import test_connection_test_button as button

    document = yaml.safe_load(AGENT_1_0_7.read_text())
    document["offerings"] = [document["offerings"][0]]
    document["offerings"][0].update(
        waldur_api_url=f"{waldur_sandbox.url}/api/", waldur_api_token=waldur_sandbox.staff_token
    )
    write_outputs(migrate_document(document, source="agent.yaml"), tmp_path)
    waldur = json.loads(
        env_connections((tmp_path / "connections.env").read_text())["AIRFLOW_CONN_WALDUR_DEFAULT"]
    )
    assert waldur["port"] == int(waldur_sandbox.url.rsplit(":", 1)[1])
    client = request.getfixturevalue("api")
    save = request.getfixturevalue("saved")

    stored = save(
        {
            "connection_id": "waldur_migrated",
            **{key: waldur[key] for key in ("conn_type", "host", "port", "password")},
            "extra": json.dumps(waldur.get("extra", {})),
        }
    )
    status, answer = button.click_test(client, stored)

    assert (status, answer["status"]) == (200, True), answer


@pytest.mark.parametrize(("factor", "written"), [(0.1, "0.1"), ("1e-9", "0.000000001"), (2, "2")])
def test_a_compute_unit_factor_is_carried_exactly_as_the_offerings_file_reads_it(
    factor: Any, written: str
) -> None:
    document = yaml.safe_load(AGENT_1_0_7.read_text())
    document["offerings"] = [document["offerings"][0]]
    for settings in document["offerings"][0]["backend_components"].values():
        settings.pop("unit_factor_reporting", None)
        settings["unit_factor"] = factor

    migration = migrate_document(document, source="agent.yaml")

    factors = {c["unit_factor"] for c in migration.offerings[0]["backend_components"].values()}
    assert factors == {written}


@pytest.mark.parametrize("factor", ["many", True, 0, "-1"])
def test_a_unit_factor_that_is_no_positive_number_is_refused_naming_it(factor: Any) -> None:
    from airflow_provider_cscs_dwdi.core.errors import CscsDwdiError
    from airflow_provider_cscs_dwdi.migration import MigrationError

    document = yaml.safe_load(AGENT_1_0_7.read_text())
    document["offerings"] = [document["offerings"][0]]
    name, settings = next(iter(document["offerings"][0]["backend_components"].items()))
    settings.pop("unit_factor_reporting", None)
    settings["unit_factor"] = factor

    with pytest.raises(
        MigrationError, match=f"backend_components.{name}.unit_factor: not a number > 0"
    ) as error:
        migrate_document(document, source="agent.yaml")
    assert isinstance(error.value, CscsDwdiError)
