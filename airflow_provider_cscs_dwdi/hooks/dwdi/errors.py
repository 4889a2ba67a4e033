"""The errors DWDIHook raises on purpose; every message is free of secrets."""

from __future__ import annotations

from airflow_provider_cscs_dwdi.core.errors import ConfigurationError, CscsDwdiError


class DWDIError(CscsDwdiError):
    """Base class of the errors DWDIHook raises on purpose."""


class DWDIConfigurationError(ConfigurationError, DWDIError):
    """The ``cscs_dwdi`` connection is incomplete or wrong; the message names the field."""


class DWDITokenError(DWDIError):
    """No access token could be obtained from the OIDC issuer."""


class DWDIAuthenticationError(DWDITokenError):
    """The issuer (bad client id / secret) or the API (token refused twice) rejected our credentials.

    Not retried: the same credentials would be rejected again.
    """


class DWDIIssuerUnreachableError(DWDITokenError):
    """The OIDC issuer could not be reached, or kept answering 5xx, within the retry policy."""


class DWDIAPIError(DWDIError):
    """The DWDI API answered with a final error status (or not at all, after retries).

    ``status`` is the HTTP status (None when no answer came), ``excerpt`` the first 200 bytes of the
    body (decoded, secrets redacted).
    """

    def __init__(self, message: str, *, status: int | None = None, excerpt: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.excerpt = excerpt


class DWDIResponseError(DWDIAPIError):
    """A 200 answer whose body is not JSON or not the documented ``{"<family>": [...]}`` shape
    (``compute``, ``storage`` or ``inference``)."""

    def __init__(self, message: str, *, status: int | None, content_type: str, excerpt: str) -> None:
        super().__init__(message, status=status, excerpt=excerpt)
        self.content_type = content_type
