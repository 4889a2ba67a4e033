"""The billing view: pages inside Airflow's UI (docs/billing-view.md).

``model`` and ``pages`` are pure Python; ``source``, ``app`` and ``plugin`` are the Airflow glue.
"""
