"""Grafana dashboards and alert rules: rendered files, Flux validity, and what they read."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_helpers import run_pusher
from dashboards_helpers import EXAMPLE, GRANULARITIES, Schema, written_schema
from flux_helpers import validate_flux, with_grafana_v

from pusher.config import load_config
from pusher.dashboards import ALERTING_FILE, BOARDS, DATASOURCE_UID, rendered_files
from pusher.dashboards.grafana import BUCKET, DAILY_BUCKET

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "grafana"
DATA_BOARDS = ("quality-of-service.json", "acquisition.json", "objects.json")
BUCKETS = {"${bucket}": BUCKET, "${daily_bucket}": DAILY_BUCKET}


def boards() -> dict[str, dict[str, Any]]:
    return {name: build() for name, build in BOARDS.items()}


def alert_queries() -> list[str]:
    document = yaml.safe_load(rendered_files()[ALERTING_FILE])
    return [query["model"]["query"] for group in document["groups"]
            for rule in group["rules"] for query in rule["data"]
            if query["datasourceUid"] == DATASOURCE_UID]


def dashboard_queries() -> list[str]:
    return [t["query"] for board in boards().values() for panel in board["panels"]
            for t in panel["targets"]]


def substituted(query: str, granularity: str) -> str:
    """As Grafana sends it: variables replaced, `v` defined."""
    for name, value in {**BUCKETS, "${granularity}": granularity}.items():
        query = query.replace(name, value)
    return with_grafana_v(query)


# --- rendered files ------------------------------------------------------------------------

def test_committed_files_match_the_code():
    stale = [name for name, text in rendered_files().items()
             if not (GRAFANA / name).is_file() or (GRAFANA / name).read_text() != text]
    assert not stale, f"run `pusher dashboards render`: out of date: {stale}"


def test_render_writes_the_files_and_check_catches_a_hand_edit(tmp_path):
    out = tmp_path / "grafana"
    assert run_pusher("dashboards", "render", "--out", str(out)).returncode == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        sorted(rendered_files())
    assert run_pusher("dashboards", "render", "--check", "--out", str(out)).returncode == 0
    edited = out / "dashboards" / "objects.json"
    edited.write_text(edited.read_text().replace("Objects", "Things"))
    result = run_pusher("dashboards", "render", "--check", "--out", str(out))
    assert result.returncode == 1
    assert "dashboards/objects.json" in result.stderr
    assert run_pusher("dashboards", "render", "--out", str(out)).returncode == 0
    assert edited.read_text() == rendered_files()["dashboards/objects.json"]


# --- Flux -----------------------------------------------------------------------------------

def test_every_dashboard_and_alert_query_is_valid_flux():
    sources = [substituted(q, g) for q in dashboard_queries() for g in GRANULARITIES]
    sources += [with_grafana_v(q) for q in alert_queries()]
    assert len(sources) >= 2 * 20 + 3
    results = validate_flux(sources)
    bad = [(source, why) for source, (ok, why) in zip(sources, results, strict=True) if not ok]
    assert not bad, "\n\n".join(f"{why or 'semantic error'}:\n{source}" for source, why in bad)


def test_the_validator_can_fail():
    good = substituted(dashboard_queries()[0], "hourly")
    results = validate_flux([good, good.replace("aggregateWindow", "aggregateWindw"),
                             good.replace("|> range(", "|> range(("),
                             good.replace("v.windowPeriod", '"1h"')])
    assert [ok for ok, _ in results] == [True, False, False, False]
    assert results[2][1]  # a syntax error comes with the parser's message


def test_no_variable_is_left_unsubstituted():
    for query in dashboard_queries():
        assert not re.findall(r"\$\{(?!granularity\}|bucket\}|daily_bucket\})", query), query
    for query in alert_queries():
        assert "${" not in query, query


# --- what the queries read is what pusher writes ---------------------------------------------

@pytest.fixture(scope="module")
def schema(prometheus, tmp_path_factory) -> Schema:
    # increase() over the current window needs two samples in it: poll for a few, and step
    # over the first seconds of an hour, when the current window is too short to hold them.
    prometheus.wait_for_samples("count_over_time(prometheus_http_requests_total[1h]) > 3")
    while datetime.now(UTC).replace(minute=0, second=0, microsecond=0) > \
            datetime.now(UTC) - timedelta(seconds=10):
        time.sleep(0.5)
    return written_schema(tmp_path_factory.mktemp("written"), prometheus.url)


def granularities_of(query: str) -> tuple[list[str], bool]:
    """Which granularities a query reads, and whether each (True) or any (False) must hold."""
    for name, value in BUCKETS.items():  # alert rules name the buckets themselves
        query = query.replace(f'bucket: "{value}"', f'bucket: "{name}"')
    if "${granularity}" in query:
        return list(GRANULARITIES), True
    hourly, daily = '"${bucket}"' in query, '"${daily_bucket}"' in query
    return [g for g, used in zip(GRANULARITIES, (hourly, daily), strict=True) if used], False


COLUMNS = {"_measurement", "_field", "_value", "_time", "_start", "_stop", "granularity"}


def problems(query: str, schema: Schema) -> list[str]:
    """Measurements, fields, tags and tag values the query names that pusher does not write."""
    measurements = set(re.findall(r'r\._measurement == "([^"]+)"', query))
    assert len(measurements) == 1, query
    (measurement,) = measurements
    fields = set(re.findall(r'r\._field == "([^"]+)"', query))
    made = set(re.findall(r'set\(key: "_field", value: "([^"]+)"\)', query))
    used = set(re.findall(r"\br\.([A-Za-z_]\w*)", query)) - COLUMNS - made
    grouped = {c for cols in re.findall(r"columns: \[([^\]]*)\]", query)
               for c in re.findall(r'"([^"]+)"', cols)} - COLUMNS - {"series"}
    values = re.findall(r'r\.([A-Za-z]\w*) == "([^"]+)"', query)
    places, each = granularities_of(query)
    assert places, query
    found = []
    shapes = [schema[g].get(measurement) for g in places]
    for g, shape in zip(places, shapes, strict=True):
        if shape is None:
            found.append(f"{g}: no {measurement}")
            continue
        missing = fields - shape.fields
        unknown = (used | grouped) - shape.fields - set(shape.tags)
        absent = [f"{t}={v}" for t, v in values if t in shape.tags and shape.tags[t]
                  and v not in shape.tags[t]]
        if missing or unknown or absent:
            found.append(f"{g} {measurement}: fields {sorted(missing)}, columns "
                         f"{sorted(unknown)}, tag values {absent}")
    return found if each or len(found) == len(places) else []


def test_every_query_reads_what_the_example_config_writes(schema):
    assert {"objects", "events", "timings", "signups", "workers", "scrape",
            "http_requests"} <= set(schema["hourly"])
    assert {"analytics", "objects", "timings", "pusher_runs"} <= set(schema["daily"])
    queries = dashboard_queries() + alert_queries()
    read = {m for q in queries for m in re.findall(r'r\._measurement == "([^"]+)"', q)}
    assert read == {"workers", "timings", "events", "analytics", "signups", "objects",
                    "pusher_runs"}
    bad = {q: p for q in queries if (p := problems(q, schema))}
    assert not bad, json.dumps(bad, indent=1)


def test_the_cross_check_catches_a_wrong_name(schema):
    query = next(q for q in dashboard_queries() if '"workers"' in q)
    assert not problems(query, schema)
    assert problems(query.replace('"idle"', '"sleeping"'), schema)
    timings = next(q for q in dashboard_queries() if "p90" in q)
    assert not problems(timings, schema)
    # Percentiles are not rolled up: read at the daily granularity they would be empty.
    assert problems(timings.replace('"${bucket}"', '"${daily_bucket}"'), schema)
    assert problems(timings.replace('r.stage == "thumbs"', 'r.stage == "thumbnails"'), schema)


# --- dashboards and provisioning ------------------------------------------------------------

def test_the_data_dashboards_follow_the_granularity_variable():
    for name in DATA_BOARDS:
        board = boards()[name]
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["granularity"]["query"] == "hourly,daily"
        assert variables["bucket"]["query"] == BUCKET
        assert variables["daily_bucket"]["query"] == DAILY_BUCKET
        follow = [t["query"] for p in board["panels"] for t in p["targets"]
                  if "${granularity}" in t["query"]]
        assert follow, name


def test_panels_use_the_provisioned_data_source_and_fit_the_grid():
    for name, board in boards().items():
        assert board["schemaVersion"] >= 39
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == DATASOURCE_UID
            assert all(t["datasource"]["uid"] == DATASOURCE_UID for t in panel["targets"])
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    uids = [board["uid"] for board in boards().values()]
    assert len(set(uids)) == 4


def panel(board: str, title: str) -> dict[str, Any]:
    return next(p for p in boards()[board]["panels"] if p["title"].startswith(title))


def test_the_panels_the_issue_asks_for():
    workers = panel("quality-of-service.json", "Crawler workers")
    assert workers["options"]["legend"]["displayMode"] == "table"
    assert workers["options"]["legend"]["calcs"] == ["min", "max", "mean", "lastNotNull", "sum"]
    timings = panel("quality-of-service.json", "Stage timings (mean)")
    (axis,) = timings["fieldConfig"]["overrides"]
    assert axis["matcher"]["options"] == ".*queue_delay.*"
    assert {"id": "custom.axisPlacement", "value": "right"} in axis["properties"]
    signups = panel("acquisition.json", "New users and activation rate")
    (rate,) = signups["fieldConfig"]["overrides"]
    assert {"id": "unit", "value": "percent"} in rate["properties"]
    assert "100.0 * float(v: r.activated) / float(v: r.new_users)" in \
        signups["targets"][2]["query"]
    table = panel("pipeline-health.json", "Sources")
    stale = next(o for o in table["fieldConfig"]["overrides"]
                 if o["matcher"]["options"] == "stale")
    thresholds = next(p["value"] for p in stale["properties"] if p["id"] == "thresholds")
    assert thresholds["steps"][-1] == {"color": "red", "value": 2.0}
    assert "(nowSeconds - r.last_success) / r.interval" in table["targets"][0]["query"]


def load_yaml(relative: str) -> dict[str, Any]:
    return yaml.safe_load((GRAFANA / relative).read_text())


def test_provisioning_files_parse_and_share_the_data_source_uid():
    (source,) = load_yaml("provisioning/datasources/influxdb.yaml")["datasources"]
    assert source["uid"] == DATASOURCE_UID and source["type"] == "influxdb"
    assert source["jsonData"]["version"] == "Flux"
    assert source["secureJsonData"]["token"] == "${INFLUX_TOKEN}"
    assert source["url"] == "${INFLUX_URL}"
    config = load_config(EXAMPLE, env={})
    assert source["jsonData"]["defaultBucket"] == config.influx.bucket == BUCKET
    assert config.influx.daily_bucket == DAILY_BUCKET
    (provider,) = load_yaml("provisioning/dashboards/pusher.yaml")["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    alerting = load_yaml(ALERTING_FILE)
    rules = [r for g in alerting["groups"] for r in g["rules"]]
    assert {r["uid"] for r in rules} == {"pusher-source-failing", "pusher-source-stale",
                                         "pusher-points-refused"}
    for rule in rules:
        refs = {d["refId"]: d for d in rule["data"]}
        assert refs["A"]["datasourceUid"] == DATASOURCE_UID
        assert refs[rule["condition"]]["datasourceUid"] == "__expr__"
        assert refs["A"]["relativeTimeRange"]["from"] > 0
