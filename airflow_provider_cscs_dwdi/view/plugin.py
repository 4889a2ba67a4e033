"""The Airflow plugin the provider registers (``get_provider_info()["plugins"]``): no file to copy.

Airflow's api-server mounts :func:`~airflow_provider_cscs_dwdi.view.app.create_app` under
``/cscs-dwdi-billing``; the UI shows it in the navigation (Browse > Billing) and on every DAG page.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_cscs_dwdi.view.app import URL_PREFIX, create_app


class BillingViewPlugin(AirflowPlugin):
    """Billing pages per offering and month, read from the pipeline's XComs and DAG runs."""

    name = "cscs_dwdi_billing_view"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "CSCS DWDI billing view"}]
    external_views = [
        {
            "name": "Billing",
            "href": f"{URL_PREFIX}/",
            "url_route": "cscs-dwdi-billing",
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "Billing",
            "href": f"{URL_PREFIX}/dags/{{DAG_ID}}",
            "url_route": "cscs-dwdi-billing-dag",
            "destination": "dag",
        },
    ]
