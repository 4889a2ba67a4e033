"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

The connection forms in the Airflow 3 UI come only from ``conn-fields`` and ``ui-field-behaviour``
below. Extra keys that are NOT secret avoid the words Airflow's log masker treats as sensitive
("token", "secret", "proxy", ...) so their values stay readable in logs; ``proxy_url`` keeps the
word on purpose because a proxy URL may carry credentials.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_cscs_dwdi import __version__
from airflow_provider_cscs_dwdi.core.amounts import DEFAULT_MAX_USAGE_AMOUNT

DWDI_INTEGRATION = "CSCS DWDI"
WALDUR_INTEGRATION = "Waldur"

DEFAULT_COMPUTE_USAGE_PATH = "/api/v1/compute/usage-month-multiaccount"
DEFAULT_STORAGE_USAGE_PATH = "/api/v1/storage/usage-month"
DEFAULT_INFERENCE_COST_PATH = "/api/v1/inference/resource/cost"

# The Port field stays visible on purpose: Airflow 3.3.2's connection list tests a connection by
# sending ``port: Number(connection.port)``, which is 0 for a stored NULL port, and its test route
# answers 400 ("The host or port to test differs from the stored connection") because 0 != NULL.
# A connection that stores its port (443 for plain https) passes that check; the hooks add the
# port to a host URL that has none and treat 0 as no port (docs/connections/index.md, "The Test button").
PORT_PLACEHOLDER = "443 for https, 80 for http: the Test button needs it"


def _field(label: str, description: str, json_type: str, **schema: Any) -> dict[str, Any]:
    """One optional connection form field (``null`` allowed so an empty field means the default)."""
    return {"label": label, "description": description, "schema": {"type": [json_type, "null"], **schema}}


DWDI_CONNECTION_FIELDS: dict[str, dict[str, Any]] = {
    "oidc_endpoint_url": _field(
        "OIDC token endpoint URL",
        "Required. The issuer's OAuth2 token endpoint, e.g. "
        "https://identity.example/realms/cscs/protocol/openid-connect/token",
        "string",
        format="uri",
    ),
    "oidc_scope": _field(
        "OIDC scope", "Scope requested with the client credentials.", "string", default="openid"
    ),
    "compute_usage_path": _field(
        "Compute usage path",
        "Path of the monthly compute usage endpoint below the API URL. Newer DWDI releases use "
        "/api/v1/compute/usage-month/account.",
        "string",
        default=DEFAULT_COMPUTE_USAGE_PATH,
    ),
    "storage_usage_path": _field(
        "Storage usage path",
        "Path of the monthly storage usage endpoint below the API URL (asked with exact-month and "
        "repeated paths). Only used by offerings that report storage.",
        "string",
        default=DEFAULT_STORAGE_USAGE_PATH,
    ),
    "inference_cost_path": _field(
        "Inference cost path",
        "Path of the inference cost endpoint below the API URL (asked with from, to and repeated "
        "resource_uuid). Only used by offerings that report inference.",
        "string",
        default=DEFAULT_INFERENCE_COST_PATH,
    ),
    "timeout_seconds": _field(
        "Timeout (seconds)", "Per-request connect and read timeout.", "number", default=60, minimum=1
    ),
    "verify_tls": _field(
        "Verify TLS", "Verify the API's and the issuer's TLS certificates.", "boolean", default=True
    ),
    "ca_bundle_path": _field(
        "CA bundle path", "Optional CA bundle file used for TLS verification.", "string"
    ),
    "proxy_url": _field(
        "Proxy URL",
        "Optional proxy for the API and the issuer: http://, https://, socks5:// or socks5h:// "
        "(for example an SSH tunnel at socks5h://localhost:12345). Masked in logs.",
        "string",
    ),
}

WALDUR_CONNECTION_FIELDS: dict[str, dict[str, Any]] = {
    "timeout_seconds": _field(
        "Timeout (seconds)", "Per-request connect and read timeout.", "number", default=60, minimum=1
    ),
    "verify_tls": _field("Verify TLS", "Verify Waldur's TLS certificate.", "boolean", default=True),
    "page_size": _field(
        "Page size",
        "Items per page when listing (Waldur caps it at 100).",
        "integer",
        default=100,
        minimum=1,
        maximum=100,
    ),
    "write_concurrency": _field(
        "Write concurrency", "Usage writes sent in parallel.", "integer", default=8, minimum=1, maximum=32
    ),
    "usage_date_support": _field(
        "Past-month writes",
        "Whether the server honours the usage 'date' (Waldur 8.x) so past months can be written. "
        "auto detects it; ignored refuses every past month (Waldur 7.x would overwrite the current one).",
        "string",
        default="auto",
        enum=["auto", "honoured", "ignored"],
    ),
    "max_usage_amount": _field(
        "Largest usage amount",
        "The largest usage total a push sends. A larger one fails the push before anything is "
        "written (Waldur 7.0.7 cannot store 10^12 or more; such a total usually means a wrong "
        "unit_factor).",
        "string",
        default=str(DEFAULT_MAX_USAGE_AMOUNT),
    ),
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow uses for discovery and for the connection forms."""
    return {
        "package-name": "airflow-provider-cscs-dwdi",
        "name": "CSCS DWDI to Waldur usage reporting",
        "description": (
            "Reports CSCS-DWDI compute, storage and inference usage to Waldur, exactly: per "
            "offering a daily usage DAG, a monthly closing DAG and a drift audit DAG."
        ),
        "versions": [__version__],
        "integrations": [
            {"integration-name": DWDI_INTEGRATION, "tags": ["service"]},
            {"integration-name": WALDUR_INTEGRATION, "tags": ["service"]},
        ],
        "hooks": [
            {
                "integration-name": DWDI_INTEGRATION,
                "python-modules": ["airflow_provider_cscs_dwdi.hooks.dwdi"],
            },
            {
                "integration-name": WALDUR_INTEGRATION,
                "python-modules": ["airflow_provider_cscs_dwdi.hooks.waldur"],
            },
        ],
        "operators": [
            {
                "integration-name": DWDI_INTEGRATION,
                "python-modules": [
                    "airflow_provider_cscs_dwdi.operators.fetch",
                    "airflow_provider_cscs_dwdi.operators.aggregate",
                ],
            },
            {
                "integration-name": WALDUR_INTEGRATION,
                "python-modules": [
                    "airflow_provider_cscs_dwdi.operators.list_backend_ids",
                    "airflow_provider_cscs_dwdi.operators.billing_months",
                    "airflow_provider_cscs_dwdi.operators.push",
                    "airflow_provider_cscs_dwdi.operators.audit",
                ],
            },
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_cscs_dwdi.hooks.dwdi.DWDIHook",
                "hook-name": "CSCS DWDI",
                "connection-type": "cscs_dwdi",
                "conn-fields": DWDI_CONNECTION_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "extra"],
                    "relabeling": {
                        "host": "DWDI API URL",
                        "port": "DWDI API port",
                        "login": "OIDC client ID",
                        "password": "OIDC client secret",
                    },
                    "placeholders": {
                        "host": "https://dwdi-api.cscs.ch",
                        "port": PORT_PLACEHOLDER,
                        "login": "my-oidc-client",
                        "oidc_endpoint_url": "https://identity.cscs.ch/realms/cscs/protocol/openid-connect/token",
                        "oidc_scope": "openid",
                    },
                },
            },
            {
                "hook-class-name": "airflow_provider_cscs_dwdi.hooks.waldur.WaldurHook",
                "hook-name": "Waldur",
                "connection-type": "waldur",
                "conn-fields": WALDUR_CONNECTION_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "extra"],
                    "relabeling": {
                        "host": "Waldur API URL",
                        "port": "Waldur API port",
                        "password": "API token",
                    },
                    "placeholders": {"host": "https://waldur.example.org/api/", "port": PORT_PLACEHOLDER},
                },
            },
        ],
    }
