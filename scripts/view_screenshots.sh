#!/usr/bin/env bash
# The billing view's screenshots on docs/billing-view.md: runs the browser test (a real pipeline,
# a real api-server, Chromium) with CSCS_DWDI_VIEW_SCREENSHOTS set, then copies the PNGs to docs/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
shots="$(mktemp -d)"
trap 'rm -rf "$shots"' EXIT
CSCS_DWDI_VIEW_SCREENSHOTS="$shots" .venv/bin/pytest -q -p no:cacheprovider \
  tests/view/test_view_browser.py::test_the_billing_view_in_chromium
mkdir -p docs/images/billing-view
cp "$shots"/*.png docs/images/billing-view/
ls -l docs/images/billing-view/
