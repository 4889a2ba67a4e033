#!/usr/bin/env bash
# Creates (or refreshes) the project's virtualenv in .venv, the OIDC issuer's node_modules and,
# for the deployment tests, PostgreSQL's server binaries and redis-server (the Celery broker).
# Idempotent: a second run only checks. Used by `make test`, `make demo` and .ci/run.
# `scripts/bootstrap.sh --python` only prints the interpreter it creates the virtualenv with.
set -euo pipefail
cd "$(dirname "$0")/.."

# The oldest Python the package declares (requires-python), so CI runs the floor it promises.
PYTHON_FLOOR="$(sed -n 's/^requires-python = ">=\([0-9][0-9.]*\)"$/\1/p' pyproject.toml)"
[ -n "$PYTHON_FLOOR" ] || { echo "pyproject.toml: no requires-python = \">=X.Y\" line" >&2; exit 1; }
PYTHON="${PYTHON:-python$PYTHON_FLOOR}"
if [ "${1:-}" = "--python" ]; then
  echo "$PYTHON"
  exit 0
fi
VENV="${VENV:-.venv}"

command -v "$PYTHON" >/dev/null || [ -x "$VENV/bin/python" ] || {
  echo "$PYTHON (the floor declared by requires-python) is required to create $VENV" >&2
  exit 1
}
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
  "$VENV/bin/python" -m pip install --quiet "${constraint_args[@]}" -e ".[test,docs,openlineage,s3,celery]"
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

# PostgreSQL: the deployment tests run Airflow on it (Airflow refuses backfills on SQLite).
# Debian keeps the server binaries in /usr/lib/postgresql/<version>/bin, off PATH.
if ! command -v initdb >/dev/null && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "==> apt-get install postgresql (deployment tests)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  elif [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL is required under CI and cannot be installed here (needs root and apt-get)" >&2
    exit 1
  else
    echo "note: PostgreSQL is not installed; the deployment tests will be skipped" >&2
  fi
fi

# redis-server: the Celery deployment test's broker (tests/deployment/test_celery_deployment.py).
if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "==> apt-get install redis-server (Celery deployment test)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  elif [ "${CI:-}" = "true" ]; then
    echo "redis-server is required under CI and cannot be installed here (needs root and apt-get)" >&2
    exit 1
  else
    echo "note: redis-server is not installed; the Celery deployment test will be skipped" >&2
  fi
fi

# Chromium: the billing view's browser test (tests/view/test_view_browser.py) drives Debian's
# /usr/bin/chromium through Playwright; Playwright's own browser downloads are never used.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "==> apt-get install chromium (billing view browser test)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null
  elif [ "${CI:-}" = "true" ]; then
    echo "/usr/bin/chromium is required under CI and cannot be installed here (needs root and apt-get)" >&2
    exit 1
  else
    echo "note: /usr/bin/chromium is not installed; the billing view's browser test will be skipped" >&2
  fi
fi

# Waldur MasterMind 7.0.7, built from source by the real-Waldur tests (tests/real_waldur/build.py):
# its requirements compile against these headers, and libfaketime runs it in past months.
waldur_packages=()
[ -f /usr/include/ldap.h ] || waldur_packages+=(libldap2-dev)
[ -f /usr/include/sasl/sasl.h ] || waldur_packages+=(libsasl2-dev)
[ -f /usr/include/postgresql/libpq-fe.h ] || waldur_packages+=(libpq-dev)
compgen -G "/usr/lib/*/libmagic.so.1" >/dev/null || waldur_packages+=(libmagic1)
command -v gcc >/dev/null && command -v make >/dev/null || waldur_packages+=(build-essential)
compgen -G "/usr/lib/*/faketime/libfaketime.so.1" >/dev/null || waldur_packages+=(faketime libfaketime)
if [ "${#waldur_packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "==> apt-get install ${waldur_packages[*]} (real-Waldur test)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${waldur_packages[@]}" >/dev/null
  elif [ "${CI:-}" = "true" ]; then
    echo "${waldur_packages[*]} are required under CI (real-Waldur test) and cannot be installed here (needs root and apt-get)" >&2
    exit 1
  else
    echo "note: ${waldur_packages[*]} not installed; the real-Waldur test will be skipped" >&2
  fi
fi
