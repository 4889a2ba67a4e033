"""WaldurHook and its parts: the connection's settings, its errors, and next-page links.

Import the public names from here (``from airflow_provider_cscs_dwdi.hooks.waldur import WaldurHook``);
the modules are an implementation detail:

- :mod:`.settings`: the ``waldur`` connection, validated (:class:`WaldurSettings`);
- :mod:`.errors`: :class:`WaldurAPIError`, :class:`WaldurAuthError`, :class:`IncompleteListingError`
  and Waldur's error text;
- :mod:`.links`: next-page links kept on the configured host (:func:`relink`);
- :mod:`.hook`: :class:`WaldurHook` (session, retries, listings, writes, ``test_connection``).
"""

from __future__ import annotations

from airflow_provider_cscs_dwdi.hooks.waldur.errors import (
    EXPIRED_TOKEN_DETAIL,
    IncompleteListingError,
    WaldurAPIError,
    WaldurAuthError,
)
from airflow_provider_cscs_dwdi.hooks.waldur.hook import WaldurHook
from airflow_provider_cscs_dwdi.hooks.waldur.links import relink
from airflow_provider_cscs_dwdi.hooks.waldur.settings import (
    DATE_SUPPORT_CHOICES,
    DEFAULT_WRITE_CONCURRENCY,
    MAX_WRITE_CONCURRENCY,
    WaldurSettings,
    normalise_api_url,
    parse_settings,
)

__all__ = [
    "DATE_SUPPORT_CHOICES",
    "DEFAULT_WRITE_CONCURRENCY",
    "EXPIRED_TOKEN_DETAIL",
    "MAX_WRITE_CONCURRENCY",
    "IncompleteListingError",
    "WaldurAPIError",
    "WaldurAuthError",
    "WaldurHook",
    "WaldurSettings",
    "normalise_api_url",
    "parse_settings",
    "relink",
]
