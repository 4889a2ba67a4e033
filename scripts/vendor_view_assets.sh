#!/usr/bin/env bash
# Refreshes the billing view's vendored chart library from view-assets/package-lock.json:
# the minified UMD build and its licence land in the package's static folder, so the wheel works
# air-gapped (no CDN). Run after changing the version in view-assets/package.json.
set -euo pipefail
cd "$(dirname "$0")/../view-assets"
npm ci --no-audit --no-fund --loglevel=error
target=../airflow_provider_cscs_dwdi/view/static/vendor
mkdir -p "$target"
cp node_modules/frappe-charts/dist/frappe-charts.min.umd.js "$target/"
cp node_modules/frappe-charts/LICENSE "$target/frappe-charts.LICENSE"
echo "vendored frappe-charts $(node -p 'require("./node_modules/frappe-charts/package.json").version') into $target"
