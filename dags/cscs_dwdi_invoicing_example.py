"""Example downstream DAGs: one per offering of $CSCS_DWDI_CONFIG, run by each push's asset event.

Each logs what an invoicing step would receive (month, usage kind, counts, closed, checksum);
see docs/assets.md. Delete this file where no such example is wanted: nothing depends on it.
"""

from pathlib import Path

from airflow_provider_cscs_dwdi.dag_factory import load_config_from_env
from airflow_provider_cscs_dwdi.invoicing_example import build_invoicing_dags

globals().update(
    build_invoicing_dags(
        load_config_from_env(default_config=Path(__file__).with_name("cscs_dwdi_offerings.example.yaml"))
    )
)
