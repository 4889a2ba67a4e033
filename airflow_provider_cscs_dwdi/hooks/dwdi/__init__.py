"""DWDIHook and its parts: OIDC token cache, URL splitting, one module per DWDI endpoint family.

Import the public names from here (``from airflow_provider_cscs_dwdi.hooks.dwdi import DWDIHook``);
the modules are an implementation detail:

- :mod:`.settings`: the ``cscs_dwdi`` connection, validated (:class:`DWDISettings`);
- :mod:`.token`: client-credentials tokens and their cache (:func:`renewal_delay`);
- :mod:`.splitting`: request URLs with a repeated key, split under :data:`MAX_URL_BYTES`;
- :mod:`.pages`: the answer check, entry counting and :class:`Family` shared by the families;
- :mod:`.compute`: compute usage (:data:`COMPUTE`, :class:`UsagePage`, :func:`count_rows`);
- :mod:`.storage`: storage usage (:func:`count_storage_entries`), pages are :class:`DWDIPage`;
- :mod:`.inference`: inference cost (:func:`count_inference_entries`), pages are :class:`DWDIPage`;
- :mod:`.hook`: :class:`DWDIHook` (the generic paging of every family, the bearer header and
  401 renewal, ``test_connection``; session and retries from ``hooks._http.SessionHook``).
"""

from __future__ import annotations

from airflow_provider_cscs_dwdi.hooks.dwdi.compute import (
    COMPUTE,
    UsagePage,
    compute_usage_url,
    count_rows,
    split_accounts,
)
from airflow_provider_cscs_dwdi.hooks.dwdi.errors import (
    DWDIAPIError,
    DWDIAuthenticationError,
    DWDIConfigurationError,
    DWDIError,
    DWDIIssuerUnreachableError,
    DWDIResponseError,
    DWDITokenError,
)
from airflow_provider_cscs_dwdi.hooks.dwdi.hook import CONNECTION_TEST_ACCOUNT, DWDIHook
from airflow_provider_cscs_dwdi.hooks.dwdi.inference import (
    INFERENCE,
    count_inference_entries,
    inference_cost_url,
    uuid_identity,
)
from airflow_provider_cscs_dwdi.hooks.dwdi.pages import DWDIPage, Family, count_keys
from airflow_provider_cscs_dwdi.hooks.dwdi.settings import DWDISettings, display_url, parse_settings
from airflow_provider_cscs_dwdi.hooks.dwdi.splitting import MAX_URL_BYTES, request_url, split_values
from airflow_provider_cscs_dwdi.hooks.dwdi.storage import STORAGE, count_storage_entries, storage_usage_url
from airflow_provider_cscs_dwdi.hooks.dwdi.token import renewal_delay

__all__ = [
    "COMPUTE",
    "CONNECTION_TEST_ACCOUNT",
    "INFERENCE",
    "MAX_URL_BYTES",
    "STORAGE",
    "DWDIAPIError",
    "DWDIAuthenticationError",
    "DWDIConfigurationError",
    "DWDIError",
    "DWDIHook",
    "DWDIIssuerUnreachableError",
    "DWDIPage",
    "DWDIResponseError",
    "DWDISettings",
    "DWDITokenError",
    "Family",
    "UsagePage",
    "compute_usage_url",
    "count_inference_entries",
    "count_keys",
    "count_rows",
    "count_storage_entries",
    "display_url",
    "inference_cost_url",
    "parse_settings",
    "renewal_delay",
    "request_url",
    "split_accounts",
    "split_values",
    "storage_usage_url",
    "uuid_identity",
]
