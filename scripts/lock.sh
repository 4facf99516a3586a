#!/usr/bin/env bash
# Regenerate requirements.lock: the exact versions of pusher[all] in a clean Python 3.11 venv.
# The Dockerfile installs with these pins; tests/test_dockerfile.py checks they satisfy setup.cfg.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3.11}
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet ".[all]"
{
  echo "# pusher[all] for Python 3.11, pinned. Regenerate with: bash scripts/lock.sh"
  "$venv/bin/pip" freeze --exclude pusher --exclude pip --exclude setuptools --exclude wheel \
    | LC_ALL=C sort -f
} > requirements.lock
echo "wrote requirements.lock ($(grep -c '==' requirements.lock) pins)"
