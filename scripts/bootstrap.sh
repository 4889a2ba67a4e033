#!/usr/bin/env bash
# Creates (or refreshes) the project's virtualenv in .venv and the OIDC issuer's node_modules.
# Idempotent: a second run only checks. Used by `make test`, `make demo` and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
stamp="$VENV/.installed-$(cat pyproject.toml requirements/constraints.txt 2>/dev/null | sha256sum | cut -c1-16)"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$stamp" ]; then
  echo "==> installing the provider and test tools into $VENV (first time: a few minutes)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  constraint_args=()
  [ -f requirements/constraints.txt ] && constraint_args=(-c requirements/constraints.txt)
  "$VENV/bin/python" -m pip install --quiet "${constraint_args[@]}" -e ".[test]"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi

# node_modules is rebuilt whenever package-lock.json changes (its hash is kept beside it).
lock=sandbox/oidc/package-lock.json
if [ -f "$lock" ]; then
  lock_stamp="sandbox/oidc/node_modules/.installed-$(sha256sum "$lock" | cut -c1-16)"
  if [ ! -f "$lock_stamp" ]; then
    command -v npm >/dev/null || { echo "npm is required for the OIDC test issuer (sandbox/oidc)" >&2; exit 1; }
    echo "==> npm ci (OIDC test issuer)"
    (cd sandbox/oidc && npm ci --no-audit --no-fund --loglevel=error)
    touch "$lock_stamp"
  fi
fi
