#!/usr/bin/env bash
# Installs what pusher needs on Debian 12 (bookworm) with Python >= 3.11, idempotently.
#   scripts/install.sh demo   the demo's servers (InfluxDB 1.x, Prometheus) and the venv
#   scripts/install.sh test   also the test servers (PostgreSQL, InfluxDB 2.x built from its
#                             Go module by scripts/influxd2.sh, cached), Node's Flux
#                             validator, and Apache Airflow in a venv of its own
#                             (scripts/airflow.sh, cached in ~/.cache/pusher)
set -euo pipefail
mode="${1:-demo}"
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(influxdb prometheus)
commands=(influxd prometheus)
if [ "$mode" = test ]; then
    packages+=(postgresql nodejs npm)
    commands+=(/usr/lib/postgresql/15/bin/initdb node npm)
fi
python="${PYTHON:-python3}"
"$python" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
    || { echo "pusher needs Python >= 3.11 (set PYTHON=...)" >&2; exit 1; }
"$python" -c 'import ensurepip, venv' 2>/dev/null || { packages+=(python3-venv); commands+=(missing-venv); }
if [ "$mode" = test ]; then
    # The compiled point loop (pusher/points/_speedups.c) is optional for users, whose install
    # skips it with a warning without a compiler; the tests compare it with the
    # pure-Python loop, so here it is built.
    packages+=(gcc)
    commands+=(gcc)
    "$python" -c 'import os, sysconfig; assert os.path.exists(os.path.join(
        sysconfig.get_paths()["include"], "Python.h"))' 2>/dev/null \
        || { packages+=(python3-dev); commands+=(missing-python-headers); }
fi

if [ "$mode" = test ]; then
    # The real 2.x server builds (minutes, the first time: downloads, then compiling) while
    # the rest installs; a cached build is found at once. Its progress lines go to stderr.
    mkdir -p .local
    bash scripts/influxd2.sh >/dev/null &
    influxd_build=$!
fi

missing=()
for i in "${!commands[@]}"; do
    command -v "${commands[$i]}" >/dev/null 2>&1 || missing+=("${packages[$i]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> apt-get install ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    sudo_if_needed apt-get update -qq
    # --no-install-recommends keeps Prometheus from pulling a second copy of its exporters.
    sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv" >&2
    "$python" -m venv .venv
fi
echo "==> pip install -e .[all,dev] and the example plugin (log: .local/pip.log)" >&2
mkdir -p .local
pip_install() {
    .venv/bin/python -m pip install --disable-pip-version-check "$@" >> .local/pip.log 2>&1 \
        || { tail -n 30 .local/pip.log >&2; exit 1; }
}
: > .local/pip.log
pip_install -e ".[all,dev]"
if ! .venv/bin/python -c 'import pusher.points._speedups' 2>/dev/null; then
    echo "==> warning: the compiled point loop was not built (no C compiler or Python" \
         "headers): pusher runs its pure-Python loop, which writes the same bytes" >&2
fi
pip_install -e examples/pusher-crawler

if [ "$mode" = test ] && [ -f package.json ]; then
    echo "==> npm ci (Flux language server for validating Flux)" >&2
    npm ci --silent --no-audit --no-fund >/dev/null
fi

if [ "$mode" = test ]; then
    # Real Airflow for the DAG file's tests: its own venv, kept while its inputs match.
    bash scripts/airflow.sh >/dev/null
    wait "$influxd_build" || { echo "==> building InfluxDB 2.x failed (see above)" >&2; exit 1; }
fi
