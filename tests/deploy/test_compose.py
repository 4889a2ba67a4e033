"""docker-compose.yaml, Dockerfile and env files, checked by parsing (no Docker engine runs here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-worker": "celery worker",
    "airflow-triggerer": "triggerer",
}
SANDBOX_SERVICES = {"sandbox-oidc", "sandbox-services"}
CONNECTIONS = {"AIRFLOW_CONN_CSCS_DWDI_DEFAULT": "cscs_dwdi", "AIRFLOW_CONN_WALDUR_DEFAULT": "waldur"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def read_env_file(path: Path) -> dict[str, str]:
    """Docker Compose's env-file syntax as used here: KEY=value, optionally single-quoted."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().removeprefix("'").removesuffix("'")
    return values


def env_files(service: dict[str, Any]) -> list[Path]:
    return [REPO_ROOT / entry["path"] for entry in service.get("env_file", [])]


def test_official_airflow_3_layout(services: dict[str, Any]) -> None:
    assert {"postgres", "redis", "airflow-init", *AIRFLOW_SERVICES} <= set(services)
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["command"] == command, name
    assert services["airflow-apiserver"]["ports"] == ["8080:8080"]
    common = services["airflow-scheduler"]["environment"]
    assert common["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres/airflow")
    assert common["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")


def test_every_airflow_container_runs_the_image_built_with_the_provider(services: dict[str, Any]) -> None:
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        service = services[name]
        assert service["build"] == {"context": ".", "target": "airflow"}, name
        assert service["image"] == services["airflow-apiserver"]["image"], name
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in service["environment"], name


def test_dockerfile_installs_the_provider_into_the_pinned_airflow_image() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    pinned = re.search(r"^FROM apache/airflow:(\S+) AS airflow$", dockerfile, re.M)
    constraints = (REPO_ROOT / "requirements" / "constraints.txt").read_text()

    assert pinned is not None
    assert f"apache-airflow=={pinned.group(1)}" in constraints.splitlines()  # the version tests run with
    assert re.search(r"^COPY --chown=airflow:root airflow_provider_cscs_dwdi ", dockerfile, re.M)
    # The scale-out extras, with the constraints the tests ran (docs/scale-out.md).
    assert re.search(r"^COPY --chown=airflow:root requirements/constraints.txt ", dockerfile, re.M)
    assert re.search(
        r"^RUN pip install --no-cache-dir -c /opt/cscs-dwdi/requirements/constraints.txt \\\n"
        r'\s+"apache-airflow==\$\{AIRFLOW_VERSION\}" "/opt/cscs-dwdi\[s3,celery\]"',
        dockerfile,
        re.M,
    )
    assert "airflow providers get airflow-provider-cscs-dwdi" in dockerfile
    assert not re.search(r"^USER root", dockerfile, re.M)  # pip runs as the image's airflow user


def test_dags_folder_is_mounted_and_configured(services: dict[str, Any]) -> None:
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        service = services[name]
        assert "${AIRFLOW_PROJ_DIR:-.}/dags:/opt/airflow/dags" in service["volumes"], name
        config = service["environment"]["CSCS_DWDI_CONFIG"]
        assert config == "${CSCS_DWDI_CONFIG:-/opt/airflow/dags/cscs_dwdi_offerings.example.yaml}", name
    assert (REPO_ROOT / "dags" / "cscs_dwdi_offerings.example.yaml").is_file()


def test_connection_test_button_is_enabled(services: dict[str, Any]) -> None:
    assert services["airflow-apiserver"]["environment"]["AIRFLOW__CORE__TEST_CONNECTION"] == "Enabled"


@pytest.mark.parametrize("env_file", ["deploy/sandbox.env", ".env.example"])
def test_connections_are_json_env_vars_of_the_provider_types(env_file: str) -> None:
    values = read_env_file(REPO_ROOT / env_file)

    for variable, conn_type in CONNECTIONS.items():
        connection = json.loads(values[variable])
        assert connection["conn_type"] == conn_type
        assert connection["host"].startswith(("http://", "https://"))
        assert connection["password"]
    dwdi = json.loads(values["AIRFLOW_CONN_CSCS_DWDI_DEFAULT"])
    assert dwdi["login"]
    assert dwdi["extra"]["oidc_endpoint_url"].startswith(("http://", "https://"))


def test_sandbox_connections_point_at_the_sandbox_services(services: dict[str, Any]) -> None:
    values = read_env_file(REPO_ROOT / "deploy" / "sandbox.env")
    dwdi = json.loads(values["AIRFLOW_CONN_CSCS_DWDI_DEFAULT"])
    waldur = json.loads(values["AIRFLOW_CONN_WALDUR_DEFAULT"])

    doubles = services["sandbox-services"]
    command = doubles["command"]

    def option(name: str) -> str:
        return command[command.index(name) + 1]

    assert {"sandbox-dwdi", "sandbox-waldur"} <= set(doubles["networks"]["default"]["aliases"])
    assert dwdi["host"] == f"http://sandbox-dwdi:{option('--dwdi-port')}"
    assert waldur["host"] == f"http://sandbox-waldur:{option('--waldur-port')}/api/"
    assert waldur["password"] == values["SANDBOX_WALDUR_TOKEN"]
    # The DWDI double trusts exactly the issuer the connection asks for tokens.
    issuer = f"http://sandbox-oidc:{services['sandbox-oidc']['expose'][0]}/realms/cscs"
    assert option("--issuer-url") == issuer
    assert dwdi["extra"]["oidc_endpoint_url"] == f"{issuer}/protocol/openid-connect/token"
    assert option("--token-url") == dwdi["extra"]["oidc_endpoint_url"]
    assert (
        f"--public-url http://sandbox-oidc:{services['sandbox-oidc']['expose'][0]}"
        in services["sandbox-oidc"]["command"][-1]
    )
    clients = json.loads(values["ISSUER_CLIENTS"])
    assert {"client_id": dwdi["login"], "client_secret": dwdi["password"], "ttl": 300} in clients


def test_deployment_env_file_overrides_the_sandbox_connections(services: dict[str, Any]) -> None:
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        entries = services[name]["env_file"]
        assert entries == [
            {"path": "deploy/sandbox.env", "required": True},
            {"path": ".env", "required": False},  # later files win
        ], name


def test_sandbox_profile_adds_only_the_sandbox_services(services: dict[str, Any]) -> None:
    in_sandbox_profile = {
        name for name, service in services.items() if "sandbox" in service.get("profiles", [])
    }
    assert in_sandbox_profile == SANDBOX_SERVICES
    doubles = services["sandbox-services"]
    assert doubles["build"] == {"context": ".", "target": "sandbox"}
    assert doubles["command"][:3] == ["python", "-m", "sandbox.stack"]
    assert (REPO_ROOT / "sandbox" / "stack.py").is_file()
    oidc = services["sandbox-oidc"]
    assert oidc["image"].startswith("node:")
    assert "./sandbox/oidc:/app" in oidc["volumes"]
    assert "exec node issuer.js" in oidc["command"][-1]
    assert (REPO_ROOT / "sandbox" / "oidc" / "issuer.js").is_file()
    assert doubles["depends_on"] == {"sandbox-oidc": {"condition": "service_healthy"}}


def test_sandbox_image_stage_adds_the_sandbox_code() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()

    assert re.search(r"^FROM airflow AS sandbox$", dockerfile, re.M)
    assert re.search(r"^COPY --chown=airflow:root sandbox /opt/cscs-dwdi/sandbox$", dockerfile, re.M)


def test_long_running_services_have_healthchecks(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name not in {"airflow-init", "airflow-cli"}:
            assert service["healthcheck"]["test"], name


def test_start_order_follows_health(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on["postgres"] == {"condition": "service_healthy"}, name
        assert depends_on["redis"] == {"condition": "service_healthy"}, name
        assert depends_on["airflow-init"] == {"condition": "service_completed_successfully"}, name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"] == {"condition": "service_healthy"}


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, Any]) -> None:
    used = {
        volume.split(":")[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if not volume.startswith(("$", ".", "/"))
    }
    assert used <= set(compose["volumes"])
    assert {"postgres-db-volume", "dwdi-archive"} <= used


def test_every_worker_shares_the_archive_volume_at_the_default_archive_path(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # fetch_usage and aggregate_usage of one month may run on different workers: both must see
    # the archive, so every task-running service mounts the same named volume at archive_path.
    from airflow_provider_cscs_dwdi.operators.fetch import default_archive_root

    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert not re.search(r"^ENV AIRFLOW_HOME", dockerfile, re.M)  # the image's own /opt/airflow
    monkeypatch.setenv("AIRFLOW_HOME", "/opt/airflow")
    archive_path = default_archive_root().removeprefix("file://")

    workers = [name for name, service in services.items() if "celery worker" in str(service.get("command"))]
    assert workers == ["airflow-worker"]
    for name in workers:
        assert f"dwdi-archive:{archive_path}" in services[name]["volumes"], name
    # airflow-init creates the mounted folder with the workers' owner.
    created = re.search(r"mkdir -p /opt/airflow/\{([^}]*)\}", services["airflow-init"]["command"][-1])
    assert created is not None
    assert archive_path in {f"/opt/airflow/{folder}" for folder in created.group(1).split(",")}


# ---------------------------------------------------------------- the compose files and the docs agree


def test_the_offerings_file_env_example_names_is_one_the_docs_say_to_create(services: dict[str, Any]) -> None:
    configured = read_env_file(REPO_ROOT / ".env.example")["CSCS_DWDI_CONFIG"]
    mount = next(
        volume for volume in services["airflow-scheduler"]["volumes"] if volume.endswith(":/opt/airflow/dags")
    )
    assert configured.startswith("/opt/airflow/dags/"), configured
    in_checkout = "dags/" + configured.removeprefix("/opt/airflow/dags/")
    assert mount == "${AIRFLOW_PROJ_DIR:-.}/dags:/opt/airflow/dags"
    create = f"cp dags/cscs_dwdi_offerings.example.yaml {in_checkout}"
    assert create in (REPO_ROOT / "docs" / "deployment.md").read_text()
    assert create in (REPO_ROOT / ".env.example").read_text()
    # Without a .env, the default is a file that exists: the example, which the sandbox seeds.
    default = services["airflow-scheduler"]["environment"]["CSCS_DWDI_CONFIG"]
    assert default == "${CSCS_DWDI_CONFIG:-/opt/airflow/dags/cscs_dwdi_offerings.example.yaml}"
    assert (REPO_ROOT / "dags" / "cscs_dwdi_offerings.example.yaml").is_file()


def test_the_dag_count_the_docs_give_is_what_the_mounted_dags_folder_builds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    from airflow_provider_cscs_dwdi.core.config import load_config

    example = REPO_ROOT / "dags" / "cscs_dwdi_offerings.example.yaml"
    monkeypatch.setenv("CSCS_DWDI_CONFIG", str(example))
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    offerings = load_config(example).offerings
    per_offering = {
        prefix: sorted(dag_id for dag_id in bag.dags if dag_id.startswith(prefix))
        for prefix in ("cscs_dwdi_usage_", "cscs_dwdi_close_", "cscs_dwdi_audit_", "cscs_dwdi_invoicing_")
    }
    for prefix, dag_ids in per_offering.items():
        assert dag_ids == sorted(prefix + offering.slug for offering in offerings), prefix
    assert len(bag.dags) == 4 * len(offerings) == 16
    page = (REPO_ROOT / "docs" / "deployment.md").read_text()
    assert "**The DAGs: four per offering.**" in page
    assert "the four example offerings show 16 DAGs" in page
    readme = " ".join((REPO_ROOT / "README.md").read_text().split())
    assert "gets three DAGs" in readme
    assert "also deploys an example invoicing DAG per offering, four in all" in readme


@pytest.mark.parametrize("env_file", ["deploy/sandbox.env", ".env.example"])
def test_the_docs_say_compose_connections_are_not_in_the_ui_list(env_file: str) -> None:
    assert set(CONNECTIONS) <= set(read_env_file(REPO_ROOT / env_file))
    page = " ".join((REPO_ROOT / "docs" / "deployment.md").read_text().split())
    assert "the UI's connection list shows only connections stored in the database" in page
    index = " ".join((REPO_ROOT / "docs" / "connections" / "index.md").read_text().split())
    assert "do **not** appear in the UI's list" in index
