"""The OIDC test issuer (sandbox/oidc) behaves like Keycloak's client-credentials endpoint."""

from __future__ import annotations

import base64
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import requests

from sandbox.oidc_issuer import IssuerUnavailable, OidcIssuerProcess

CLIENT = ("dwdi-client", "dwdi-secret")
SHORT = ("dwdi-short", "short-secret")


def _post_token(issuer: OidcIssuerProcess, client: tuple[str, str], **extra: str) -> requests.Response:
    """client_secret_post: the credentials in the form body (what the DWDIHook sends)."""
    form = {"grant_type": "client_credentials", "client_id": client[0], "client_secret": client[1], **extra}
    return requests.post(issuer.token_url, data=form, timeout=10)


def _basic_token(issuer: OidcIssuerProcess, client: tuple[str, str], **extra: str) -> requests.Response:
    """client_secret_basic: the credentials as HTTP Basic."""
    form = {"grant_type": "client_credentials", **extra}
    return requests.post(issuer.token_url, data=form, auth=client, timeout=10)


def _verify(issuer: OidcIssuerProcess, token: str) -> dict[str, Any]:
    """Verify like a resource server does: signature from the JWKS, issuer, audience, expiry."""
    key = jwt.PyJWKClient(issuer.jwks_url).get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=issuer.audience, issuer=issuer.realm_url
    )
    return claims


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims["aud"]
    return [aud] if isinstance(aud, str) else list(aud)


def test_urls_follow_keycloak_layout(oidc_issuer: OidcIssuerProcess) -> None:
    assert urlsplit(oidc_issuer.base_url).hostname == "127.0.0.1"
    assert oidc_issuer.realm_url == f"{oidc_issuer.base_url}/realms/cscs"
    assert oidc_issuer.token_url == f"{oidc_issuer.realm_url}/protocol/openid-connect/token"
    assert oidc_issuer.jwks_url == f"{oidc_issuer.realm_url}/protocol/openid-connect/certs"
    assert (
        oidc_issuer.introspection_url == f"{oidc_issuer.realm_url}/protocol/openid-connect/token/introspect"
    )
    assert oidc_issuer.audience == "dwdi-api"


def test_discovery_lists_keycloak_style_endpoints(oidc_issuer: OidcIssuerProcess) -> None:
    response = requests.get(f"{oidc_issuer.realm_url}/.well-known/openid-configuration", timeout=10)

    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == oidc_issuer.realm_url
    assert doc["token_endpoint"] == oidc_issuer.token_url
    assert doc["token_endpoint"].endswith("/realms/cscs/protocol/openid-connect/token")
    assert doc["jwks_uri"] == oidc_issuer.jwks_url
    assert doc["introspection_endpoint"] == oidc_issuer.introspection_url
    assert "client_credentials" in doc["grant_types_supported"]
    assert {"client_secret_post", "client_secret_basic"} <= set(doc["token_endpoint_auth_methods_supported"])
    assert "openid" in doc["scopes_supported"]


@pytest.mark.parametrize("request_token", [_post_token, _basic_token], ids=["client_secret_post", "basic"])
def test_client_credentials_token_is_a_verifiable_rs256_jwt(
    oidc_issuer: OidcIssuerProcess, request_token: Any
) -> None:
    response = request_token(oidc_issuer, CLIENT, scope="openid")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert "refresh_token" not in body
    token = body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["typ"] == "at+jwt"  # RFC 9068
    claims = _verify(oidc_issuer, token)
    assert claims["iss"] == oidc_issuer.realm_url
    assert "dwdi-api" in _audiences(claims)
    assert claims["client_id"] == "dwdi-client"
    assert claims["sub"] == "dwdi-client"
    assert claims["exp"] - claims["iat"] == 300
    assert "openid" in claims["scope"].split()


def test_token_without_scope_still_targets_the_api(oidc_issuer: OidcIssuerProcess) -> None:
    response = _post_token(oidc_issuer, CLIENT)

    assert response.status_code == 200, response.text
    assert "dwdi-api" in _audiences(_verify(oidc_issuer, response.json()["access_token"]))


def test_short_client_has_a_two_second_token(oidc_issuer: OidcIssuerProcess) -> None:
    response = _basic_token(oidc_issuer, SHORT, scope="openid")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_in"] == 2
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 2
    assert claims["client_id"] == "dwdi-short"


def test_tampered_token_does_not_verify(oidc_issuer: OidcIssuerProcess) -> None:
    token = _post_token(oidc_issuer, CLIENT).json()["access_token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["client_id"] = "someone-else"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

    with pytest.raises(jwt.InvalidSignatureError):
        _verify(oidc_issuer, f"{header}.{forged_payload}.{signature}")


@pytest.mark.parametrize("request_token", [_post_token, _basic_token], ids=["client_secret_post", "basic"])
def test_wrong_secret_is_invalid_client(oidc_issuer: OidcIssuerProcess, request_token: Any) -> None:
    response = request_token(oidc_issuer, ("dwdi-client", "not-the-secret"), scope="openid")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "access_token" not in response.json()


def test_unknown_client_is_invalid_client(oidc_issuer: OidcIssuerProcess) -> None:
    response = _post_token(oidc_issuer, ("nobody", "whatever"), scope="openid")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_counts_one_per_token_and_reset(oidc_counts_reset: OidcIssuerProcess) -> None:
    issuer = oidc_counts_reset
    assert issuer.token_count() == 0

    assert _post_token(issuer, CLIENT, scope="openid").status_code == 200
    assert issuer.token_count("dwdi-client") == 1
    assert issuer.token_count() == 1

    assert _basic_token(issuer, SHORT).status_code == 200
    assert _basic_token(issuer, CLIENT).status_code == 200
    assert issuer.token_count("dwdi-client") == 2
    assert issuer.token_count("dwdi-short") == 1
    assert issuer.token_count() == 3

    # Refused requests issue nothing.
    assert _post_token(issuer, ("dwdi-client", "wrong")).status_code == 401
    assert issuer.token_count() == 3
    assert issuer.token_count("never-asked") == 0
    assert issuer.stats() == {"tokens_issued": {"dwdi-client": 2, "dwdi-short": 1}, "total": 3}

    issuer.reset_counts()
    assert issuer.token_count() == 0
    assert issuer.token_count("dwdi-client") == 0


def test_introspection_reports_active_tokens(oidc_issuer: OidcIssuerProcess) -> None:
    token = _post_token(oidc_issuer, CLIENT, scope="openid").json()["access_token"]

    active = requests.post(oidc_issuer.introspection_url, data={"token": token}, auth=CLIENT, timeout=10)
    forged = requests.post(
        oidc_issuer.introspection_url, data={"token": token[:-4] + "AAAA"}, auth=CLIENT, timeout=10
    )
    unauthenticated = requests.post(
        oidc_issuer.introspection_url, data={"token": token}, auth=("dwdi-client", "wrong"), timeout=10
    )

    assert active.status_code == 200
    assert active.json()["active"] is True
    assert active.json()["client_id"] == "dwdi-client"
    assert active.json()["aud"] == "dwdi-api"
    assert forged.json() == {"active": False}
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"] == "invalid_client"


def test_other_realms_are_not_served(oidc_issuer: OidcIssuerProcess) -> None:
    response = requests.get(
        f"{oidc_issuer.base_url}/realms/master/.well-known/openid-configuration", timeout=10
    )

    assert response.status_code == 404


def test_own_clients_and_realm(oidc_issuer: OidcIssuerProcess) -> None:
    """A separate issuer with its own clients (ISSUER_CLIENTS) and realm; stopped on exit."""
    clients = [{"client_id": "custom", "client_secret": "custom-secret", "ttl": 42}]
    with OidcIssuerProcess(clients=clients, realm="test") as issuer:
        assert issuer.base_url != oidc_issuer.base_url
        good = _basic_token(issuer, ("custom", "custom-secret"), scope="openid")
        default_client = _post_token(issuer, CLIENT)

        assert good.status_code == 200, good.text
        claims = _verify(issuer, good.json()["access_token"])
        assert claims["iss"].endswith("/realms/test")
        assert claims["exp"] - claims["iat"] == 42
        assert default_client.status_code == 401
        # Keys are per process: the session issuer's JWKS does not know this token's key.
        with pytest.raises(jwt.PyJWKClientError):
            _verify(oidc_issuer, good.json()["access_token"])
        url = issuer.token_url
    assert not issuer.running
    with pytest.raises(requests.ConnectionError):
        requests.post(url, data={"grant_type": "client_credentials"}, timeout=5)


def test_port_in_use_raises_issuer_unavailable_with_stderr() -> None:
    # A port held by a plain listening socket of this process: the failure depends on nothing but
    # the port (the session issuer and its state stay out of it).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]

        with pytest.raises(IssuerUnavailable, match=f"cannot listen on 127.0.0.1:{port}"):
            OidcIssuerProcess(port=port).start()


def test_a_silent_start_is_tried_once_more_and_then_says_what_node_was_doing(
    capfd: pytest.CaptureFixture[str],
) -> None:
    issuer = OidcIssuerProcess()
    # No node prints READY within a millisecond: both attempts are silent starts.
    with pytest.raises(IssuerUnavailable) as raised:
        issuer.start(timeout=0.001)
    message = str(raised.value)
    assert message.count("printed no READY line within 0 s") == 2
    assert "then again" in message
    assert "load average" in message
    assert "starting it once more" in capfd.readouterr().err
    # Nothing is left running, and the issuer can be started for real afterwards.
    assert issuer._process is None
    issuer.start()
    try:
        assert issuer.token_url.startswith("http://127.0.0.1:")
    finally:
        issuer.stop()
