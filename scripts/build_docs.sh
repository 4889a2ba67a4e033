#!/usr/bin/env bash
# Builds docs/ (Sphinx + MyST Markdown) into docs/_build/html. Every warning fails the build
# (-W, all of them reported: --keep-going), nitpicky (-n: a reference that resolves to nothing,
# a missing page or heading anchor included), from scratch (-E: an incremental build would not
# repeat the warnings of unchanged pages). No external link is checked: CI has no network.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
# Pages removed since the last build would otherwise stay in the output.
rm -rf docs/_build/html
exec "$VENV/bin/sphinx-build" -W --keep-going -n -E -q -b html docs docs/_build/html "$@"
