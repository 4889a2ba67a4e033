#!/usr/bin/env bash
# The test command: installs what is missing, lints, type-checks, runs the whole pytest suite.
# Extra arguments go to pytest (e.g. `make test ARGS="-k dwdi"` or `scripts/test.sh -x tests/core`).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh || exit 1
VENV="${VENV:-.venv}"

echo "==> ruff"
"$VENV/bin/ruff" check . || exit 1

echo "==> mypy"
"$VENV/bin/mypy" || exit 1
echo "==> docs (sphinx, warnings and broken internal links are errors)"
scripts/build_docs.sh || exit 1

# The real-Waldur test's server, built here so that its minutes show in the log (a warm cache, outside
# the clone, takes seconds). Without pytest arguments or under CI only: a targeted run does not wait.
if [ "$#" -eq 0 ] || [ "${CI:-}" = "true" ]; then
  echo "==> Waldur MasterMind 7.0.7 for tests/real_waldur (scripts/real_waldur.sh)"
  "$VENV/bin/python" -m tests.real_waldur.build
  status=$?
  # 2: a prerequisite is missing; the test module then skips, except under CI, where it is a failure.
  if [ "$status" -ne 0 ] && { [ "$status" -ne 2 ] || [ "${CI:-}" = "true" ]; }; then
    exit 1
  fi
fi

# The suite runs on pytest-xdist workers, a whole module each (tests/conftest.py). Most of its time is
# spent waiting for the servers it starts, so one worker more than the CPUs keeps them busy: on 2 cores
# that halves the wall time. PYTEST_WORKERS=0 runs it in this process (for pdb or -s).
workers="${PYTEST_WORKERS:-$(( $(nproc) + 1 ))}"
parallel=()
if [ "$workers" != 0 ]; then
  parallel=(-n "$workers" --dist loadgroup --no-loadscope-reorder)
fi
echo "==> pytest (${workers} workers)"
"$VENV/bin/pytest" "${parallel[@]}" "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
