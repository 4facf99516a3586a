#!/usr/bin/env bash
# Installs Apache Airflow, with pusher, in a venv of its own for the tests of the Airflow DAG
# file, and prints the venv's path. Airflow pins its own versions of packages that pusher's
# .venv also has (SQLAlchemy, click, ...), so it never goes into .venv.
#   bash scripts/airflow.sh            install (or find) it, print its path
#   bash scripts/airflow.sh --check    print the path if installed, else exit 1
# The venv is cached by Airflow version and setup.cfg (pusher's dependencies), outside the
# checkout, so every checkout and CI's fresh clones reuse it: a second run takes no time.
# pusher is installed editable from the checkout that installed the venv; the tests put
# their own checkout first on PYTHONPATH, so they always run the code they test.
#   $PUSHER_AIRFLOW_CACHE  where venvs are kept (default ~/.cache/pusher)
#   $AIRFLOW_VERSION       which Airflow (default 3.3.2)
set -euo pipefail
cd "$(dirname "$0")/.."
version="${AIRFLOW_VERSION:-3.3.2}"
cache="${PUSHER_AIRFLOW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pusher}"
venv="$cache/airflow-$version-$(sha256sum setup.cfg | cut -c1-12)"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/airflow" ] && [ -f "$venv/.complete" ]; then echo "$venv"; exit 0; fi
[ "${1:-}" = --check ] && exit 1
mkdir -p "$cache"
exec 9>"$venv.lock"
flock 9  # another checkout may be installing the same venv right now
if [ -x "$venv/bin/airflow" ] && [ -f "$venv/.complete" ]; then echo "$venv"; exit 0; fi
echo "==> apache-airflow $version in $venv (log: $venv.log)" >&2
start=$(date +%s)
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --disable-pip-version-check "apache-airflow==$version" -e . \
    > "$venv.log" 2>&1 || { tail -n 30 "$venv.log" >&2; exit 1; }
touch "$venv/.complete"
echo "==> apache-airflow $version: $(( $(date +%s) - start )) s, $(du -sm "$venv" | cut -f1) MB" >&2
echo "$venv"
