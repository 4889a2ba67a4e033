"""The UI's connection "Test" button: form metadata, port handling and the api-server's test route.

Airflow 3.3.2's connection list posts ``port: Number(connection.port)`` (0 for a stored NULL) to
``POST /api/v2/connections/test``, whose "same host and port" check then answers 400. The provider
shows the Port field so a connection can store its port; these tests drive the real route through
FastAPI's TestClient with the body the UI sends (scripts/check_connection_test_button.py does the
same in a browser).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError
from airflow_provider_cscs_dwdi.get_provider_info import get_provider_info
from airflow_provider_cscs_dwdi.hooks.dwdi import parse_settings as parse_dwdi_settings
from airflow_provider_cscs_dwdi.hooks.waldur import normalise_api_url
from sandbox.dwdi_server import DWDISandbox
from sandbox.oidc_issuer import OidcIssuerProcess
from sandbox.waldur_server import WaldurSandbox

CONNECTION_TYPES = {c["connection-type"]: c for c in get_provider_info()["connection-types"]}
ROUTE_400 = "The host or port to test differs from the stored connection"
DWDI_CLIENT, DWDI_SECRET = "dwdi-client", "dwdi-secret"


@pytest.mark.parametrize("conn_type", ["cscs_dwdi", "waldur"])
def test_form_shows_a_labelled_port_field(conn_type: str) -> None:
    behaviour = CONNECTION_TYPES[conn_type]["ui-field-behaviour"]
    assert "port" not in behaviour["hidden-fields"]
    assert "API port" in behaviour["relabeling"]["port"]
    assert "Test" in behaviour["placeholders"]["port"]


def _port_of(api_url: str) -> str:
    return api_url.split("://", 1)[1].split("/", 1)[0]


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("https://waldur.example", None, "waldur.example"),
        ("https://waldur.example", 0, "waldur.example"),  # the UI's Number(null)
        ("https://waldur.example", 8443, "waldur.example:8443"),
        ("https://waldur.example:8443/api/", 8443, "waldur.example:8443"),
        ("https://waldur.example:8443/api/", 0, "waldur.example:8443"),
        ("https://waldur.example:8443/api/", None, "waldur.example:8443"),
    ],
)
def test_waldur_url_takes_the_port_field_and_ignores_port_zero(
    host: str, port: int | None, expected: str
) -> None:
    assert _port_of(normalise_api_url(host, port)) == expected


@pytest.mark.parametrize(
    ("port", "expected"), [(None, "dwdi.example"), (0, "dwdi.example"), (443, "dwdi.example:443")]
)
def test_dwdi_url_takes_the_port_field_and_ignores_port_zero(port: int | None, expected: str) -> None:
    settings = parse_dwdi_settings(
        "https://dwdi.example", port, "client", "secret", {"oidc_endpoint_url": "https://idp.example/token"}
    )
    assert _port_of(settings.api_url) == expected


def test_a_port_field_that_contradicts_the_host_url_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"names port 8443 but the port field says 443"):
        normalise_api_url("https://waldur.example:8443/api/", 443)
    with pytest.raises(ConfigurationError, match=r"names port 8443 but the port field says 443"):
        parse_dwdi_settings(
            "https://dwdi.example:8443", 443, "c", "s", {"oidc_endpoint_url": "https://idp.example/t"}
        )


# ---------------------------------------------------------------- the api-server's test route


@pytest.fixture(scope="module")
def api(airflow_db: None) -> Iterator[Any]:
    """A TestClient on Airflow's core API, every caller an admin (simple auth manager)."""
    from fastapi.testclient import TestClient

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
        patch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
        from airflow.api_fastapi.app import create_app

        with TestClient(create_app(apps="core")) as client:
            yield client


@pytest.fixture
def saved(api: Any) -> Iterator[Any]:
    """``saved(body)`` stores a connection through the REST API; all are deleted after the test."""
    created: list[str] = []

    def save(body: dict[str, Any]) -> dict[str, Any]:
        response = api.post("/api/v2/connections", json=body)
        assert response.status_code == 201, response.text
        created.append(body["connection_id"])
        return dict(api.get(f"/api/v2/connections/{body['connection_id']}").json())

    yield save
    for conn_id in created:
        api.delete(f"/api/v2/connections/{conn_id}")


def ui_test_body(stored: dict[str, Any]) -> dict[str, Any]:
    """What Airflow 3.3.2's connection list posts when Test is clicked (TestConnectionButton.tsx)."""
    port = stored["port"]
    return {
        "conn_type": stored["conn_type"],
        "connection_id": stored["connection_id"],
        "description": stored["description"] or "",
        "extra": stored["extra"] or "{}",
        "host": stored["host"] or "",
        "login": stored["login"] or "",
        "password": stored["password"] or "",
        "port": 0 if port is None else int(port),  # JavaScript's Number(null) is 0
        "schema": stored["schema"] or "",
    }


def click_test(api: Any, stored: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = api.post("/api/v2/connections/test", json=ui_test_body(stored))
    return response.status_code, response.json()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


@pytest.mark.airflow
@pytest.mark.parametrize("host_has_port", [True, False], ids=["port-in-url", "port-field-only"])
def test_ui_test_of_a_waldur_connection_with_its_port_succeeds(
    saved: Any, api: Any, waldur_sandbox: WaldurSandbox, host_has_port: bool
) -> None:
    host = f"{waldur_sandbox.url}/api/" if host_has_port else "http://127.0.0.1/api/"
    stored = saved(
        {
            "connection_id": f"waldur_button_{host_has_port}",
            "conn_type": "waldur",
            "host": host,
            "port": _port(waldur_sandbox.url),
            "password": waldur_sandbox.staff_token,
        }
    )
    assert stored["password"] == "***"  # the UI only ever has the masked value
    status, answer = click_test(api, stored)
    assert (status, answer["status"]) == (200, True), answer
    assert answer["message"] == "Connected to Waldur as staff (staff)."


@pytest.mark.airflow
@pytest.mark.parametrize("host_has_port", [True, False], ids=["port-in-url", "port-field-only"])
def test_ui_test_of_a_dwdi_connection_with_its_port_succeeds(
    saved: Any,
    api: Any,
    dwdi_sandbox: DWDISandbox,
    oidc_issuer: OidcIssuerProcess,
    host_has_port: bool,
) -> None:
    stored = saved(
        {
            "connection_id": f"dwdi_button_{host_has_port}",
            "conn_type": "cscs_dwdi",
            "host": dwdi_sandbox.url if host_has_port else "http://127.0.0.1",
            "port": _port(dwdi_sandbox.url),
            "login": DWDI_CLIENT,
            "password": DWDI_SECRET,
            "extra": f'{{"oidc_endpoint_url": "{oidc_issuer.token_url}", "timeout_seconds": 10}}',
        }
    )
    status, answer = click_test(api, stored)
    assert (status, answer["status"]) == (200, True), answer
    assert answer["message"].startswith(f"Connected: OIDC client '{DWDI_CLIENT}' got a token")
    assert f"127.0.0.1:{_port(dwdi_sandbox.url)}" in answer["message"]


@pytest.mark.airflow
def test_ui_test_of_a_connection_without_port_is_refused_by_airflow_or_succeeds(
    saved: Any, api: Any, waldur_sandbox: WaldurSandbox
) -> None:
    # Airflow 3.3.2 refuses the UI's port 0 for a stored NULL (docs/connections/index.md, "The Test button"). An
    # Airflow that accepts it copies the 0 onto the tested connection: the hook must then still
    # reach the port written in the URL, so a failure here would be the provider's.
    stored = saved(
        {
            "connection_id": "waldur_button_no_port",
            "conn_type": "waldur",
            "host": f"{waldur_sandbox.url}/api/",
            "password": waldur_sandbox.staff_token,
        }
    )
    assert stored["port"] is None
    status, answer = click_test(api, stored)
    if status == 400:
        assert ROUTE_400 in answer["detail"]
    else:
        assert (status, answer["status"]) == (200, True), answer


@pytest.mark.airflow
def test_ui_test_with_a_wrong_token_fails_without_showing_it(
    saved: Any, api: Any, waldur_sandbox: WaldurSandbox
) -> None:
    wrong = "wrong-token-0123456789abcdef"
    stored = saved(
        {
            "connection_id": "waldur_button_wrong_token",
            "conn_type": "waldur",
            "host": f"{waldur_sandbox.url}/api/",
            "port": _port(waldur_sandbox.url),
            "password": wrong,
        }
    )
    status, answer = click_test(api, stored)
    assert (status, answer["status"]) == (200, False), answer
    assert "refused the API token of this connection (HTTP 401" in answer["message"]
    assert wrong not in answer["message"]
    # Airflow tested a copy under a random id: the message names no connection id at all.
    assert "connection '" not in answer["message"]
