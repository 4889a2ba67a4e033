"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

The connection forms in the Airflow 3 UI come only from ``conn-fields`` and ``ui-field-behaviour``
below. Extra keys that are NOT secret avoid the words Airflow's log masker treats as sensitive
("token", "secret", "proxy", ...) so their values stay readable in logs; ``proxy_url`` keeps the
word on purpose because a proxy URL may carry credentials.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_cscs_dwdi import __version__
from airflow_provider_cscs_dwdi.core.connection_settings import (
    DEFAULT_COMPUTE_USAGE_PATH,
    DEFAULT_INFERENCE_COST_PATH,
    DEFAULT_STORAGE_USAGE_PATH,
    DWDIExtras,
    WaldurExtras,
    conn_fields,
)

DWDI_INTEGRATION = "CSCS DWDI"
WALDUR_INTEGRATION = "Waldur"
#: Kept importable here: the endpoint defaults now live with the connection's model.
__all__ = [
    "DEFAULT_COMPUTE_USAGE_PATH",
    "DEFAULT_INFERENCE_COST_PATH",
    "DEFAULT_STORAGE_USAGE_PATH",
    "DWDI_CONNECTION_FIELDS",
    "WALDUR_CONNECTION_FIELDS",
    "get_provider_info",
]

# The Port field stays visible on purpose: Airflow 3.3.2's connection list tests a connection by
# sending ``port: Number(connection.port)``, which is 0 for a stored NULL port, and its test route
# answers 400 ("The host or port to test differs from the stored connection") because 0 != NULL.
# A connection that stores its port (443 for plain https) passes that check; the hooks add the
# port to a host URL that has none and treat 0 as no port (docs/connections/index.md, "The Test button").
PORT_PLACEHOLDER = "443 for https, 80 for http: the Test button needs it"


#: The connection forms' fields, from the models that also validate the stored extras.
DWDI_CONNECTION_FIELDS: dict[str, dict[str, Any]] = conn_fields(DWDIExtras)
WALDUR_CONNECTION_FIELDS: dict[str, dict[str, Any]] = conn_fields(WaldurExtras)


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
                    "airflow_provider_cscs_dwdi.operators.approve",
                ],
            },
        ],
        "plugins": [
            {
                "name": "cscs_dwdi_billing_view",
                "plugin-class": "airflow_provider_cscs_dwdi.view.plugin.BillingViewPlugin",
            }
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
