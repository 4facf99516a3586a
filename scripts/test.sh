#!/usr/bin/env bash
# The whole test suite: installs what it needs, lints, type-checks, then runs pytest,
# whose fixtures start real InfluxDB 1.x and 2.x, Prometheus and PostgreSQL servers
# on free loopback ports. Extra arguments go to pytest (e.g. -k spool -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
echo "==> ruff, mypy" >&2
.venv/bin/ruff check .
.venv/bin/mypy
echo "==> pytest" >&2
exec .venv/bin/python -m pytest -q "$@"
