#!/usr/bin/env bash
# The whole pipeline on this machine: sandbox services + Airflow (SQLite) + every offering's DAG,
# then DWDI's totals next to what landed in the sandbox Waldur. Exits non-zero on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m sandbox.demo "$@"
