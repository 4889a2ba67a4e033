"""CSCS-DWDI usage -> Waldur: two Airflow DAGs per offering of the YAML file in $CSCS_DWDI_CONFIG.

The daily ``cscs_dwdi_usage_<slug>`` (month to date) and the monthly closing
``cscs_dwdi_close_<slug>`` (one run per billing month, the unit of a backfill).

Without CSCS_DWDI_CONFIG the shipped example (cscs_dwdi_offerings.example.yaml, next to this file)
is used, so a fresh deployment and the sandbox demo show DAGs at once. A broken configuration
fails this import: Airflow lists it as an import error naming the offering and the field.
"""

from pathlib import Path

from airflow_provider_cscs_dwdi.dag_factory import load_dags_from_env

globals().update(
    load_dags_from_env(default_config=Path(__file__).with_name("cscs_dwdi_offerings.example.yaml"))
)
