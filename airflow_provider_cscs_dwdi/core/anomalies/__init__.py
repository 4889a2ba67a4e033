"""The anomaly guard: checks of a month's new totals before they are written to Waldur.

``settings`` is the offering's ``anomaly_guard:`` block (thresholds and a policy per check),
``evidence`` what the checks compare (read from the reports, Waldur and the fetch archives),
``checks`` the checks themselves (:func:`~core.anomalies.checks.find_anomalies`). Pure Python, like
the rest of ``core``: the operators gather the evidence and act on the anomalies.
"""

from airflow_provider_cscs_dwdi.core.anomalies.checks import (
    Anomaly,
    find_anomalies,
    held_keys,
    holds_everything,
)
from airflow_provider_cscs_dwdi.core.anomalies.evidence import (
    ArchiveEvidence,
    GuardEvidence,
    accounts_with_data,
    archive_evidence,
    clusters_by_account,
    records_of,
    storage_paths,
    totals_of,
)
from airflow_provider_cscs_dwdi.core.anomalies.settings import (
    DEFAULT_POLICIES,
    AnomalyCheck,
    AnomalyGuardSettings,
    GuardPolicy,
)

__all__ = [
    "DEFAULT_POLICIES",
    "Anomaly",
    "AnomalyCheck",
    "AnomalyGuardSettings",
    "ArchiveEvidence",
    "GuardEvidence",
    "GuardPolicy",
    "accounts_with_data",
    "archive_evidence",
    "clusters_by_account",
    "find_anomalies",
    "held_keys",
    "holds_everything",
    "records_of",
    "storage_paths",
    "totals_of",
]
