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

echo "==> pytest"
"$VENV/bin/pytest" "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
