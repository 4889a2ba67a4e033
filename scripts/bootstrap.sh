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

# Debian packages the suite needs: installed as root with apt-get; missing under CI=true, a failure;
# elsewhere a note, and the tests that need them skip.
apt_updated=
need_packages() {  # <what they are for> <package>...
  local purpose="$1"
  shift
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "==> apt-get install $* ($purpose)"
    export DEBIAN_FRONTEND=noninteractive
    [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=yes; }
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  elif [ "${CI:-}" = "true" ]; then
    echo "$* required under CI ($purpose) and cannot be installed here (needs root and apt-get)" >&2
    exit 1
  else
    echo "note: $* not installed; the tests that need it ($purpose) will be skipped" >&2
  fi
}

# npm for the OIDC issuer's packages, curl for the docs pages' and the deployment test's commands.
command -v npm >/dev/null || need_packages "the OIDC test issuer, sandbox/oidc" nodejs npm
command -v curl >/dev/null || need_packages "the docs pages' commands" curl

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
  need_packages "deployment tests" postgresql
fi

# redis-server: the Celery deployment test's broker (tests/deployment/test_celery_deployment.py).
command -v redis-server >/dev/null || need_packages "Celery deployment test" redis-server

# Chromium: the browser tests (tests/view, tests/browser) drive Debian's /usr/bin/chromium through
# Playwright; Playwright's own browser downloads are never used.
[ -x /usr/bin/chromium ] || need_packages "browser tests" chromium

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
  need_packages "real-Waldur test" "${waldur_packages[@]}"
fi
