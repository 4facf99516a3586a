"""What pusher writes, found by running its code on the example config (not a hand-kept list).

Schema: granularity -> measurement -> Shape(fields, tags: tag -> values seen).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cli_helpers import run_pusher
from googleapiclient.http import HttpMockSequence

from pusher.config import load_config
from pusher.points.pusher_runs import RUN_FIELDS, RUN_MEASUREMENT, RUN_TAGS
from pusher.reading import Granularity, Reading, Window
from pusher.sources.google_analytics import google_analytics

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "pusher.toml"
GRANULARITIES = ("hourly", "daily")


@dataclass
class Shape:
    fields: set[str] = field(default_factory=set)
    tags: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


Schema = dict[str, dict[str, Shape]]


def empty_schema() -> Schema:
    return {g: defaultdict(Shape) for g in GRANULARITIES}


_UNESCAPED = {" ": re.compile(r"(?<!\\) "), ",": re.compile(r"(?<!\\),")}


def add_line(schema: Schema, line: str) -> None:
    """One line-protocol line (no string field values with spaces in the demo's lines)."""
    head, fields, _stamp = _UNESCAPED[" "].split(line.strip())
    measurement, *tags = _UNESCAPED[","].split(head)
    tag_map = dict(t.split("=", 1) for t in tags)
    shape = schema[tag_map.pop("granularity")][measurement]
    shape.fields.update(f.split("=", 1)[0] for f in _UNESCAPED[","].split(fields))
    for key, value in tag_map.items():
        shape.tags[key].add(value)


def add_reading(schema: Schema, reading: Reading, granularity: str) -> None:
    shape = schema[granularity][reading.measurement]
    shape.fields.update(reading.fields)
    for key, value in reading.tags.items():
        shape.tags[key].add(value)


def dry_run_lines(tmp_path: Path, prometheus_url: str) -> list[str]:
    """`pusher collect --all --dry-run` on a copy of the example config and fresh demo data."""
    examples = tmp_path / "examples"
    examples.mkdir()
    shutil.copy(EXAMPLE, examples / "pusher.toml")  # state_dir ../.local/state: under tmp_path
    db = tmp_path / "website.sqlite"
    done = run_pusher_script(ROOT / "examples" / "demo_data.py", str(db), "--days", "2")
    assert done.returncode == 0, done.stderr
    result = run_pusher("collect", "--all", "--dry-run", config=examples / "pusher.toml",
                        env={"PUSHER_DEMO_DB": f"sqlite:///{db}",
                             "PROMETHEUS_URL": prometheus_url})
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line.strip()]


def run_pusher_script(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          timeout=120, check=False)


def ga_report(metrics: list[str], dimensions: list[str]) -> str:
    """A runReport answer for the example's metrics (GA is the one service we cannot run)."""
    row = {"dimensionValues": [{"value": "20261126" if d == "date" else "x"} for d in dimensions],
           "metricValues": [{"value": "7"} for _ in metrics]}
    return json.dumps({"dimensionHeaders": [{"name": d} for d in dimensions],
                       "metricHeaders": [{"name": m, "type": "TYPE_INTEGER"} for m in metrics],
                       "rows": [row], "rowCount": 1,
                       "metadata": {"timeZone": "Europe/Paris"}, "kind": "analyticsData#runReport"})


def ga_readings() -> list[Reading]:
    """The example's (disabled) google_analytics source, run on an answer shaped like GA's."""
    spec = load_config(EXAMPLE, env={}).sources["google_analytics"]
    options = {**spec.options, "credentials": "anonymous",
               "endpoint": "https://ga-proxy.example.test/"}
    answer = ga_report(list(options["metrics"]), list(options["dimensions"]))
    http = HttpMockSequence([({"status": "200", "content-type": "application/json"}, answer)])
    window = Window(datetime(2026, 11, 26, 23, tzinfo=UTC), datetime(2026, 11, 27, 23, tzinfo=UTC),
                    Granularity.DAILY)
    found = google_analytics(window, http=http, sleep=lambda s: None, **options)
    return [r for r in found if isinstance(r, Reading)]


def written_schema(tmp_path: Path, prometheus_url: str) -> Schema:
    """Everything the example config's sources, its rollups and pusher_runs write."""
    schema = empty_schema()
    for line in dry_run_lines(tmp_path, prometheus_url):
        add_line(schema, line)
    for reading in ga_readings():
        add_reading(schema, reading, "daily")
    rollups = load_config(EXAMPLE, env={}).rollups
    for name, rollup in rollups.measurements.items():
        hourly = schema["hourly"].get(name)
        assert hourly is not None, f"the rollup of {name} reads nothing the sources write"
        daily = schema["daily"][name]
        daily.fields.update(rollup.fields)
        for key, values in hourly.tags.items():  # rollups group by every tag
            daily.tags[key].update(values)
    for granularity in GRANULARITIES:
        runs = schema[granularity][RUN_MEASUREMENT]
        runs.fields.update(RUN_FIELDS)
        runs.tags.update({t: set() for t in RUN_TAGS if t != "granularity"})
    return schema
