"""Flux validation for tests: the official language server (npm @influxdata/flux-lsp-node).

`npm ci` at the top of the repository installs it (scripts/install.sh test does); Node 20 runs
tests/flux_validate.js. Reusable by any test that renders Flux (dashboards, alert rules, tasks).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve().parent / "flux_validate.js"
PACKAGE = ROOT / "node_modules" / "@influxdata" / "flux-lsp-node"
# Grafana's Flux macros (pkg/tsdb/influxdb/flux/macros.go): every `word.word` whose second
# word it knows is replaced as text, everywhere in the query.
_MACRO = re.compile(r"([a-zA-Z]+)\.([a-zA-Z]+)")
# The window periods Grafana picks for a panel (rangeutil.roundInterval), 1 m to 1 w.
GRAFANA_PERIODS = [60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200,
                   86400, 604800]


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


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String(), which Grafana puts in place of v.windowPeriod."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    hours, minutes, rest = whole // 3600, whole % 3600 // 60, whole % 60
    if hours:
        return f"{hours}h{minutes}m{rest}s"
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def rfc3339_nano(moment: datetime) -> str:
    """Go's time.RFC3339Nano of a UTC time (trailing zeros of the fraction dropped)."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def as_grafana_sends(query: str, variables: Mapping[str, str], start: datetime,
                     stop: datetime, period: float, default_bucket: str = "pusher",
                     org: str = "acme") -> str:
    """A panel's query as Grafana sends it to InfluxDB: dashboard variables replaced, then
    the Flux macros, exactly as Grafana 10/11 does it (text, not a `v` record)."""
    for name, value in variables.items():
        query = query.replace(f"${{{name}}}", value)
    values = {"timeRangeStart": rfc3339_nano(start), "timeRangeStop": rfc3339_nano(stop),
              "windowPeriod": go_duration(period), "bucket": f'"{default_bucket}"',
              "defaultBucket": f'"{default_bucket}"', "organization": f'"{org}"'}
    return _MACRO.sub(lambda m: values.get(m[2], m[0]), query)


def with_grafana_v(source: str, variables: Mapping[str, str] | None = None) -> str:
    """A query as Grafana sends it for the last 24 hours at a 1 minute window period."""
    now = datetime.now(UTC).replace(microsecond=0)
    return as_grafana_sends(source, variables or {}, now - timedelta(days=1), now, 60)
