"""The DWDI double's authentication: none, a static token, or issuer JWTs checked against the JWKS."""

from __future__ import annotations

import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.dwdi_server import DWDISandbox
from sandbox.oidc_issuer import OidcIssuerProcess
from tests.sandbox.dwdi.helpers import (
    MONTH_PATH,
    STATIC,
    MakeSandbox,
    get,
    issuer_token,
    pairs,
)


def test_no_authentication_without_issuer_or_static_token(
    open_sandbox: DWDISandbox, session: requests.Session
) -> None:
    assert get(session, open_sandbox, **{"from": "2026-10", "to": "2026-10"}).status_code == 200
    assert open_sandbox.requests[-1].authorized


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Token {STATIC}", "Bearer", f"Bearer {STATIC} extra", f"Basic {STATIC}"],
)
def test_static_token_refusals(
    make_dwdi_sandbox: MakeSandbox, session: requests.Session, authorization: str | None
) -> None:
    sandbox = make_dwdi_sandbox(static_token=STATIC)
    headers = {"Authorization": authorization} if authorization else {}
    response = session.get(
        sandbox.url + MONTH_PATH, params={"from": "2026-10", "to": "2026-10"}, headers=headers, timeout=10
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert isinstance(response.json()["detail"], str)
    assert not sandbox.requests[-1].authorized


def test_static_token_accepted_and_rejected_on_demand(
    make_dwdi_sandbox: MakeSandbox, session: requests.Session
) -> None:
    sandbox = make_dwdi_sandbox(static_token=STATIC)
    month = {"from": "2026-10", "to": "2026-10"}
    assert get(session, sandbox, token=STATIC, **month).status_code == 200
    sandbox.reject_next_token(count=2)
    statuses = [get(session, sandbox, token=STATIC, **month).status_code for _ in range(3)]
    assert statuses == [401, 401, 200]
    assert [r.authorized for r in sandbox.requests] == [True, False, False, True]


def test_valid_issuer_token(
    dwdi_sandbox: DWDISandbox, oidc_issuer: OidcIssuerProcess, session: requests.Session
) -> None:
    token = issuer_token(oidc_issuer, "dwdi-client", "dwdi-secret")
    response = get(session, dwdi_sandbox, token=token, **{"from": "2026-10", "to": "2026-10"}, account="g001")
    assert response.status_code == 200
    assert pairs(response)[0][0] == "g001"
    recorded = dwdi_sandbox.requests[-1]
    assert (recorded.authorized, recorded.token_subject) == (True, "dwdi-client")
    # A revoked token (injected) is refused once; the next call is fine again.
    dwdi_sandbox.reject_next_token()
    assert get(session, dwdi_sandbox, token=token, **{"from": "2026-10", "to": "2026-10"}).status_code == 401
    assert get(session, dwdi_sandbox, token=token, **{"from": "2026-10", "to": "2026-10"}).status_code == 200


def test_expired_token_is_401(
    dwdi_sandbox: DWDISandbox, oidc_issuer: OidcIssuerProcess, session: requests.Session
) -> None:
    token = issuer_token(oidc_issuer, "dwdi-short", "short-secret")
    month = {"from": "2026-10", "to": "2026-10"}
    assert get(session, dwdi_sandbox, token=token, **month).status_code == 200
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    response = get(session, dwdi_sandbox, token=token, **month)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"].lower()
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
def test_garbage_tokens_are_401(dwdi_sandbox: DWDISandbox, session: requests.Session, token: str) -> None:
    response = session.get(
        dwdi_sandbox.url + MONTH_PATH,
        params={"from": "2026-10", "to": "2026-10"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_token_signed_by_another_key_is_401(
    dwdi_sandbox: DWDISandbox, oidc_issuer: OidcIssuerProcess, session: requests.Session
) -> None:
    genuine = issuer_token(oidc_issuer, "dwdi-client", "dwdi-secret")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    kid = jwt.get_unverified_header(genuine)["kid"]
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    month = {"from": "2026-10", "to": "2026-10"}
    for headers in ({"kid": kid}, {"kid": "unknown-kid"}):
        forged = jwt.encode(claims, forger, algorithm="RS256", headers=headers)
        assert get(session, dwdi_sandbox, token=forged, **month).status_code == 401
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert get(session, dwdi_sandbox, token=unsigned, **month).status_code == 401
    assert not any(r.authorized for r in dwdi_sandbox.requests)


@pytest.mark.parametrize(("issuer_suffix", "audience"), [("/other", "dwdi-api"), ("", "other-api")])
def test_wrong_issuer_or_audience_is_401(
    make_dwdi_sandbox: MakeSandbox,
    oidc_issuer: OidcIssuerProcess,
    session: requests.Session,
    issuer_suffix: str,
    audience: str,
) -> None:
    sandbox = make_dwdi_sandbox(
        jwks_url=oidc_issuer.jwks_url, issuer=oidc_issuer.realm_url + issuer_suffix, audience=audience
    )
    token = issuer_token(oidc_issuer, "dwdi-client", "dwdi-secret")
    response = get(session, sandbox, token=token, **{"from": "2026-10", "to": "2026-10"})
    assert response.status_code == 401
    # The same token passes a sandbox with the right settings (so the refusal is about iss/aud).
    right = make_dwdi_sandbox(jwks_url=oidc_issuer.jwks_url, issuer=oidc_issuer.realm_url)
    assert get(session, right, token=token, **{"from": "2026-10", "to": "2026-10"}).status_code == 200


def test_unreachable_jwks_is_401_and_logged(
    make_dwdi_sandbox: MakeSandbox,
    oidc_issuer: OidcIssuerProcess,
    session: requests.Session,
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = make_dwdi_sandbox()  # a port that answers nothing once stopped
    dead_url = closed.url + "/certs"
    closed.stop()
    sandbox = make_dwdi_sandbox(jwks_url=dead_url, issuer=oidc_issuer.realm_url)
    token = issuer_token(oidc_issuer, "dwdi-client", "dwdi-secret")
    with caplog.at_level("WARNING", logger="sandbox.dwdi_server"):
        response = get(session, sandbox, token=token, **{"from": "2026-10", "to": "2026-10"})
    assert response.status_code == 401
    assert "signing keys" in response.json()["detail"]
    assert any("JWKS" in record.getMessage() for record in caplog.records)
    assert token not in caplog.text


def test_token_is_checked_while_faults_are_injected(
    dwdi_sandbox: DWDISandbox, oidc_issuer: OidcIssuerProcess, session: requests.Session
) -> None:
    """A recorded fault still tells whether the client sent a good token (retry tests need it)."""
    token = issuer_token(oidc_issuer, "dwdi-client", "dwdi-secret")
    dwdi_sandbox.fail_next(503)
    assert get(session, dwdi_sandbox, token=token, **{"from": "2026-10", "to": "2026-10"}).status_code == 503
    recorded = dwdi_sandbox.requests[-1]
    assert (recorded.status, recorded.authorized, recorded.token_subject) == (503, True, "dwdi-client")
