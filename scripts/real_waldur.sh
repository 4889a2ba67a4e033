#!/usr/bin/env bash
# Builds Waldur MasterMind 7.0.7 from its source tarball for the real-Waldur tests (tests/real_waldur),
# or finds it in the cache: the unpacked source, the exported requirements, a Python 3.11 virtualenv
# and a pg_dump of the migrated database, all under ${CSCS_DWDI_CACHE:-${XDG_CACHE_HOME:-~/.cache}/cscs-dwdi/real-waldur}.
# The tarball is ../shared/waldur/waldur-mastermind-7.0.7-1ea6cb82.tar.gz beside the clone
# (CSCS_WALDUR_TARBALL overrides). Cold: about 8 minutes on 2 cores; warm: seconds.
# `scripts/real_waldur.sh test` then runs only the real-Waldur test module.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || scripts/bootstrap.sh
"$VENV/bin/python" -m tests.real_waldur.build
if [ "${1:-}" = "test" ]; then
  shift
  exec "$VENV/bin/pytest" -m real_waldur tests/real_waldur "$@"
fi
