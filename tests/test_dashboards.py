"""Grafana dashboards and alert rules: rendered files, Flux validity, and what they read."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_helpers import run_pusher
from dashboards_helpers import EXAMPLE, GRANULARITIES, Schema, written_schema
from flux_helpers import validate_flux, with_grafana_v

from pusher.config import load_config
from pusher.dashboards import ALERTING_FILE, BOARDS, DATASOURCE_UID, Catalog, render
from pusher.dashboards.catalog import EXAMPLE_BUCKET as BUCKET
from pusher.dashboards.catalog import EXAMPLE_DAILY_BUCKET as DAILY_BUCKET
from pusher.dashboards.catalog import catalog_of

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "grafana"
DATA_BOARDS = ("quality-of-service.json", "acquisition.json", "objects.json")
BUCKETS = {"${bucket}": BUCKET, "${daily_bucket}": DAILY_BUCKET}


def rendered_files() -> dict[str, str]:
    return render().files


def boards() -> dict[str, dict[str, Any]]:
    return {name: build(Catalog()) for name, build in BOARDS.items()}


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

EXAMPLE_V2 = ROOT / "examples" / "pusher-v2.toml"


def test_committed_files_are_a_render_of_the_2x_example_config():
    example = render(catalog_of(load_config(EXAMPLE_V2, env={"INFLUX_TOKEN": "unused"}))).files
    stale = [name for name, text in example.items()
             if not (GRAFANA / name).is_file() or (GRAFANA / name).read_text() != text]
    assert not stale, ("run `pusher -c examples/pusher-v2.toml dashboards render`: out of "
                       f"date: {stale}")
    assert example == rendered_files()  # without a config: the example's


def test_render_without_a_config_is_the_examples_and_says_so(tmp_path):
    result = run_pusher("dashboards", "render", "--out", str(tmp_path / "grafana"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        "dashboards for the example config (no pusher.toml here): buckets pusher, "
        "pusher_daily, days in Europe/Paris, every panel")
    written = {p.relative_to(tmp_path / "grafana").as_posix(): p.read_text()
               for p in (tmp_path / "grafana").rglob("*") if p.is_file()}
    assert written == rendered_files()


OTHER = """
[pusher]
timezone = "UTC"
[influx]
api = "v2"
org = "acme"
bucket = "metrics"
daily_bucket = "metrics_1d"
[sources.events]
type = "sql"
url = "sqlite:///website.sqlite"
[[sources.events.queries]]
sql = "SELECT kind, count(*) AS count FROM events GROUP BY kind"
measurement = "events"
tags = ["kind"]
[[sources.events.queries]]
sql = "SELECT stage, duration FROM event_timings"
measurement = "timings"
aggregate = { column = "duration", group_by = ["stage"], stats = ["count", "sum"] }
[[sources.events.queries]]
sql = "SELECT count(*) AS new_users, count(activated_at) AS activated FROM users"
measurement = "signups"
fields = ["new_users", "activated"]
[rollups]
timezone = "America/New_York"
[rollups.measurements]
events = { count = "sum" }
"""


def test_render_for_a_config_takes_its_buckets_time_zone_and_measurements(tmp_path):
    (tmp_path / "pusher.toml").write_text(OTHER)
    result = run_pusher("dashboards", "render", "--out", str(tmp_path / "grafana"),
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    notes = result.stderr.splitlines()
    assert notes[0] == ("dashboards for pusher.toml: buckets metrics, metrics_1d, days in "
                        "America/New_York")
    assert "- quality-of-service.json: panel 'Crawler workers' left out: no source in the " \
           "config declares 'workers'" in notes
    assert "- quality-of-service.json: panel 'Stage timings p90 (hourly points)' left out: " \
           "'timings' has no field 'p90' in the config" in notes
    assert "- acquisition.json: panel 'Totals over the range' without some queries: no " \
           "source in the config declares 'analytics'" in notes
    grafana = tmp_path / "grafana"
    qos = json.loads((grafana / "dashboards" / "quality-of-service.json").read_text())
    assert [p["title"] for p in qos["panels"]] == ["Stage timings (mean)", "Events"]
    constants = {v["name"]: v["query"] for v in qos["templating"]["list"]
                 if v["type"] == "constant"}
    assert constants == {"bucket": "metrics", "daily_bucket": "metrics_1d"}
    for panel in qos["panels"]:
        assert 'timezone.location(name: "America/New_York")' in panel["targets"][0]["query"]
    totals = json.loads((grafana / "dashboards" / "acquisition.json").read_text())["panels"][0]
    assert [t["refId"] for t in totals["targets"]] == ["A", "B"]
    alerts = (grafana / ALERTING_FILE).read_text()
    assert 'from(bucket: "metrics")' in alerts and 'from(bucket: "metrics_1d")' in alerts
    assert 'bucket: "pusher' not in alerts


def test_a_python_source_declares_what_its_callable_says(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests" / "plugins"))
    config = tmp_path / "pusher.toml"
    config.write_text('[influx]\napi = "v2"\norg = "acme"\n'
                      '[sources.crawler]\ntype = "python"\ncallable = "demo_readers:workers"\n'
                      'spider = "news"\n'
                      '[sources.other]\ntype = "python"\ncallable = "demo_readers:counts"\n')
    catalog = catalog_of(load_config(config))
    assert catalog.missing("workers", ["active", "idle", "total"]) is None
    assert catalog.missing("workers", ["busy"]) == \
        "'workers' has no field 'busy' in the config"
    assert catalog.missing("demo", ["value"]) == \
        "no source in the config declares 'demo' (these sources do not declare theirs: other)"
    left_out = render(catalog).left_out
    assert not [note for note in left_out if "Crawler workers" in note]
    assert "quality-of-service.json: panel 'Events' left out: no source in the config " \
           "declares 'events' (these sources do not declare theirs: other)" in left_out


def test_render_with_a_missing_config_file_is_a_config_error(tmp_path):
    result = run_pusher("dashboards", "render", "--out", str(tmp_path),
                        config=tmp_path / "nope.toml")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"pusher: error: {tmp_path / 'nope.toml'}: no such file (use --config or "
        "$PUSHER_CONFIG)"]


def test_render_writes_the_files_and_check_catches_a_hand_edit(tmp_path):
    out = tmp_path / "grafana"
    assert run_pusher("dashboards", "render", "--out", str(out), cwd=tmp_path).returncode == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        sorted(rendered_files())
    check = ("dashboards", "render", "--check", "--out", str(out))
    assert run_pusher(*check, cwd=tmp_path).returncode == 0
    edited = out / "dashboards" / "objects.json"
    edited.write_text(edited.read_text().replace("Objects", "Things"))
    result = run_pusher(*check, cwd=tmp_path)
    assert result.returncode == 1
    assert "dashboards/objects.json" in result.stderr
    assert run_pusher("dashboards", "render", "--out", str(out), cwd=tmp_path).returncode == 0
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
                             good.replace("(every: every,", '(every: "1h",')])
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
    # increase() over the current window needs two samples in it.
    prometheus.wait_for_samples_this_hour("prometheus_http_requests_total")
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
