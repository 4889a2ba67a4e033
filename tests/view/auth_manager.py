"""A per-DAG auth manager for the view's tests: Airflow's SimpleAuthManager, except that a user
named ``restricted...`` may not read the DAGs whose ID ends with $CSCS_DWDI_TEST_HIDDEN_SLUG, and
a user named ``partial...`` may not read the audit DAG of that offering only (its other two DAGs
yes).

SimpleAuthManager grants by role only (every viewer reads every DAG); deployments restrict per
DAG with FAB or Keycloak. The view asks the auth manager either way, so this stands in for them.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

HIDDEN_SLUG_ENV = "CSCS_DWDI_TEST_HIDDEN_SLUG"


class RestrictedAuthManager(SimpleAuthManager):
    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        hidden = os.environ.get(HIDDEN_SLUG_ENV, "")
        dag_id = getattr(details, "id", None) or ""
        if hidden and user.get_name().startswith("restricted") and dag_id.endswith(hidden):
            return False
        if hidden and user.get_name().startswith("partial") and dag_id == f"cscs_dwdi_audit_{hidden}":
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )
