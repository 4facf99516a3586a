"""Flux validation for tests: the official language server (npm @influxdata/flux-lsp-node).

`npm ci` at the top of the repository installs it (scripts/install.sh test does); Node 20 runs
tests/flux_validate.js. Reusable by any test that renders Flux (dashboards, alert rules, tasks).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve().parent / "flux_validate.js"
PACKAGE = ROOT / "node_modules" / "@influxdata" / "flux-lsp-node"
# What Grafana's InfluxDB data source defines around every Flux query it sends.
GRAFANA_V = "v = {timeRangeStart: -24h, timeRangeStop: now(), windowPeriod: 1m}\n"


class FluxValidatorMissing(RuntimeError):
    """Node or the npm package is not installed: a setup problem, never a pass."""


def validate_flux(sources: list[str]) -> list[tuple[bool, str]]:
    """(valid, parser messages) for each Flux source, in order, from one Node process."""
    node = shutil.which("node")
    if node is None or not PACKAGE.is_dir():
        raise FluxValidatorMissing(
            f"need node and {PACKAGE.relative_to(ROOT)}: run `npm ci` in {ROOT}")
    done = subprocess.run([node, str(SCRIPT)], input=json.dumps(sources), text=True,
                          capture_output=True, check=False, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"flux_validate.js failed: {done.stderr.strip()}")
    results = json.loads(done.stdout)
    return [(bool(r["valid"]), "; ".join(r["errors"])) for r in results]


def with_grafana_v(source: str) -> str:
    """A dashboard query as Grafana runs it: with the `v` record of the time picker."""
    return GRAFANA_V + source
