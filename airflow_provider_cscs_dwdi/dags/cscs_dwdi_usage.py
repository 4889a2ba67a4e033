"""CSCS-DWDI usage -> Waldur: the DAGs of every offering in the offerings YAML file.

Each offering gets its DAGs (the daily ``cscs_dwdi_usage_<slug>``, the monthly closing
``cscs_dwdi_close_<slug>`` and the drift audit ``cscs_dwdi_audit_<slug>``), reporting its compute, storage or inference usage to Waldur.

The offerings file is the one named by the CSCS_DWDI_CONFIG environment variable or, when it is
unset, ``cscs_dwdi_offerings.yaml`` next to this file. Without either, this import fails with an
error saying where it looked and how to set CSCS_DWDI_CONFIG; a broken file fails it with an
error naming the offering and the field. Start from ``cscs_dwdi_offerings.example.yaml``
(``python -m airflow_provider_cscs_dwdi init DIR`` writes both files into a dags folder).
"""

from pathlib import Path

from airflow_provider_cscs_dwdi.dag_factory import load_dags_from_env

globals().update(load_dags_from_env(default_config=Path(__file__).with_name("cscs_dwdi_offerings.yaml")))
