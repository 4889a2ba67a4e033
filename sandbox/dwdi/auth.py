"""Bearer checking of the DWDI double: a JWT verified against the issuer's JWKS, or a static token.

``Authorization: Bearer <jwt>`` is verified with PyJWT against ``jwks_url`` (RS256, ``exp``
required and checked without leeway, ``iss`` == ``issuer`` when given, ``aud`` contains
``audience`` when given). A JWKS that cannot be fetched is logged and refused. Without
``jwks_url``: with ``static_token`` the bearer must equal it, without it every request passes.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

import jwt

# The double logged under this name before it became a package; tests and operators filter on it.
log = logging.getLogger("sandbox.dwdi_server")


@dataclass(frozen=True)
class AuthResult:
    """Whether a request's credentials were accepted, why not, and the token's subject."""

    ok: bool
    detail: str = ""
    subject: str | None = None


class BearerVerifier:
    """Checks ``Authorization`` headers (see the module docstring)."""

    def __init__(
        self,
        *,
        jwks_url: str | None,
        issuer: str | None,
        audience: str | None,
        static_token: str | None,
    ) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.static_token = static_token
        # A short cooldown lets a restarted issuer's new key be picked up quickly.
        self._jwks_client = (
            jwt.PyJWKClient(jwks_url, lifespan=60, timeout=5, cooldown_duration=1.0) if jwks_url else None
        )

    @property
    def mode(self) -> str:
        """``"jwt"``, ``"static"`` or ``"none"``."""
        if self._jwks_client is not None:
            return "jwt"
        return "static" if self.static_token is not None else "none"

    def authenticate(self, authorization: str | None) -> AuthResult:
        """Judge one ``Authorization`` header value (None when absent)."""
        if self.mode == "none":
            return AuthResult(True)
        if not authorization:
            return AuthResult(False, "Not authenticated")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            return AuthResult(False, "Invalid authorization header: expected 'Bearer <token>'")
        if self._jwks_client is None:
            assert self.static_token is not None
            if hmac.compare_digest(token.encode(), self.static_token.encode()):
                return AuthResult(True)
            return AuthResult(False, "Invalid token")
        try:
            signing_key = self._jwks_client.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            return AuthResult(False, "Token has expired")
        except jwt.PyJWKClientConnectionError as error:
            log.warning("DWDI sandbox: cannot fetch the issuer's JWKS from %s: %s", self.jwks_url, error)
            return AuthResult(False, "Invalid token: the issuer's signing keys are unavailable")
        except jwt.PyJWTError as error:
            return AuthResult(False, f"Invalid token: {error}")
        subject = claims.get("sub") or claims.get("client_id") or claims.get("azp")
        return AuthResult(True, subject=str(subject) if subject is not None else None)
