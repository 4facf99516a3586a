#!/usr/bin/env bash
# The whole test suite: installs what it needs, lints, type-checks, checks the import
# layers, then runs pytest, whose fixtures start real InfluxDB 1.x and 2.x, Prometheus
# and PostgreSQL servers on free loopback ports. Extra arguments go to pytest (e.g. -k spool -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
echo "==> ruff, mypy, lint-imports" >&2
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache  # the layers of docs/design.md (.importlinter)
echo "==> pytest" >&2
.venv/bin/python -m pytest -q "$@"
if [ "$#" -eq 0 ]; then
    # The point loop's tests again on the pure-Python fallback that an install without a
    # C compiler runs (the rest of the suite ran on the compiled loop).
    echo "==> pytest, pure-Python point loop (PUSHER_PURE_PYTHON=1)" >&2
    PUSHER_PURE_PYTHON=1 .venv/bin/python -m pytest -q -p no:cacheprovider \
        tests/test_speedups.py tests/test_collisions.py tests/test_hostile_values.py \
        tests/test_lineprotocol.py tests/test_roundtrip.py tests/test_sink_pipeline.py \
        tests/test_acknowledgement.py
fi
