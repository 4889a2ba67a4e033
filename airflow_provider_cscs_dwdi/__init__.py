"""Apache Airflow provider that reports CSCS-DWDI usage to Waldur, exactly.

Compute (node-hours per account and user), storage (space and inodes per project path) and inference
(cost per resource) usage, read from the CSCS data warehouse DWDI and written to Waldur by the DAGs
of each configured offering: a daily usage DAG, a monthly closing DAG and a drift audit DAG.
``python -m airflow_provider_cscs_dwdi init DIR`` writes the DAG file and an example offerings
file into a dags folder.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
