"""``python -m airflow_provider_cscs_dwdi.migration``: the ``cscs-dwdi-migrate`` command."""

from __future__ import annotations

import sys

from airflow_provider_cscs_dwdi.migration.cli import main

sys.exit(main())
