"""Every dashboard and alert query on a real InfluxDB 2.7, as Grafana sends it, values checked.

The buckets are filled the way a user fills them: `pusher setup`, `pusher collect --all` and
`pusher rollups backfill` on the 2.x example config with fresh demo data and a real
Prometheus, Google Analytics points written through pusher's own writer (GA is the one
service tests cannot reach), and two more sources into the same buckets, one failing and
one whose point InfluxDB refuses, so that the alert rules have something to say. Each
query's answer is compared with tests/grafana_model.py's, computed in Python from the
points read back raw.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from cli_helpers import run_pusher
from dashboards_helpers import ROOT, run_pusher_script
from flux_helpers import as_grafana_sends, go_duration
from grafana_model import Panel, Point, Runs, close, expected_rows, points_of, refused_rows
from ops_helpers import pusher, write_v2_config

from pusher import Reading
from pusher.config import InfluxConfig
from pusher.dashboards import ALERTING_FILE, BOARDS, DATASOURCE_UID, Catalog, render
from pusher.points.lineprotocol import encode
from pusher.writers.influx_v2 import InfluxV2Writer

EXAMPLE_V2 = ROOT / "examples" / "pusher-v2.toml"
PARIS = ZoneInfo("Europe/Paris")
TROUBLE = """
[sources.broken]
type = "python"
callable = "ops_readers:failing"
[sources.conflict]
type = "python"
callable = "ops_readers:conflicting"
"""


@pytest.fixture(scope="module")
def filled(influxdb2, prometheus, tmp_path_factory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("values")
    bucket = f"values_{uuid.uuid4().hex[:8]}"
    (tmp / "examples").mkdir()
    config = tmp / "examples" / "pusher-v2.toml"
    config.write_text(EXAMPLE_V2.read_text().replace('"pusher_daily"', f'"{bucket}_daily"')
                      .replace('bucket = "pusher"\n', f'bucket = "{bucket}"\n'))
    database = tmp / "website.sqlite"
    made = run_pusher_script(ROOT / "examples" / "demo_data.py", str(database), "--days", "3")
    assert made.returncode == 0, made.stderr
    prometheus.wait_for_samples_this_hour("prometheus_http_requests_total")
    env = {"INFLUX_URL": influxdb2.url, "INFLUX_TOKEN": influxdb2.token,
           "PROMETHEUS_URL": prometheus.url, "PUSHER_DEMO_DB": f"sqlite:///{database}"}
    for command in (["setup"], ["collect", "--all", "--since", "3d"],
                    ["rollups", "backfill", "--since", "4d"]):
        done = run_pusher(*command, config=config, env=env)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    write_analytics(influxdb2, f"{bucket}_daily")
    other = tmp / "other"
    other.mkdir()
    trouble = pusher("collect", "broken", "conflict",
                     config=write_v2_config(other, influxdb2.url, bucket, influxdb2.token,
                                            TROUBLE))
    assert trouble.returncode == 1 and "refused=2" in trouble.stderr, trouble.stderr
    now = datetime.now(UTC).replace(microsecond=0)
    stop = f"{now + timedelta(minutes=1):%Y-%m-%dT%H:%M:%SZ}"
    points: list[Point] = []
    for name in (bucket, f"{bucket}_daily"):
        points += points_of(influxdb2.flux(
            f'from(bucket: "{name}") |> range(start: -30d, stop: {stop})'))
    return {"buckets": {"bucket": bucket, "daily_bucket": f"{bucket}_daily"}, "points": points,
            "now": now}


def write_analytics(influxdb2, bucket: str) -> None:
    """Three local days of GA points, encoded and posted by pusher's encoder and writer."""
    today = datetime.now(PARIS).date()
    lines = []
    for back in range(3):
        day = today - timedelta(days=back)
        midnight = datetime(day.year, day.month, day.day, tzinfo=PARIS)
        reading = Reading("analytics", {"sessions": 100 + back, "screenPageViews": 300 + back,
                                        "newUsers": 10 + back}, time=midnight)
        lines.append(encode(reading, "daily"))
    writer = InfluxV2Writer(InfluxConfig(url=influxdb2.url, api="v2", org="acme",
                                         bucket=bucket, token=influxdb2.token))
    writer.post(("\n".join(lines) + "\n").encode(), "daily")
    writer.close()


def panel_queries() -> list[tuple[str, str, str]]:
    """(board, panel title, query) of every windowed or total query of every dashboard."""
    return [(name, panel["title"], target["query"]) for name, build in BOARDS.items()
            for panel in build(Catalog())["panels"] for target in panel["targets"]
            if panel["type"] != "table"]


def ask(influxdb2, query: str, variables: dict[str, str], start: datetime, stop: datetime,
        period: int) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = influxdb2.flux(as_grafana_sends(query, variables, start, stop,
                                                                 period))
    return rows


def in_range(points: list[Point], start: datetime, stop: datetime) -> list[Point]:
    return [p for p in points if start <= p.time < stop]


def problems(influxdb2, filled, query: str, granularity: str, period: int) -> list[str]:
    """How InfluxDB's answer to a panel query differs from the Python model's ([]: none)."""
    now = filled["now"]
    start, stop = now.replace(minute=0, second=0) - timedelta(days=5), now
    rows = ask(influxdb2, query, {**filled["buckets"], "granularity": granularity}, start,
               stop, period)
    if not rows:
        return ["no rows"]
    if not all({"_time", "_value", "series"} <= row.keys() for row in rows):
        return [f"columns {sorted(rows[0])}"]
    total = "aggregateWindow" not in query
    expected = [(s, max(t, start) if t else None, v) for s, t, v in expected_rows(
        Panel(query, granularity), in_range(filled["points"], start, stop), period, PARIS)]
    got = [(r["series"], None if total else utc(r["_time"]), float(r["_value"])) for r in rows]
    if sorted(g[:2] for g in got) != sorted(e[:2] for e in expected):
        return [f"series and times: {sorted(got)[:3]} vs {sorted(expected)[:3]}"]
    return [f"{g} vs {e}" for g, e in zip(sorted(got), sorted(expected), strict=True)
            if not close(g[2], e[2])]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("granularity", ["hourly", "daily"])
@pytest.mark.parametrize("period", [3600, 86400], ids=go_duration)
def test_every_panel_answers_what_the_points_say(influxdb2, filled, granularity, period):
    queries = panel_queries()
    assert len(queries) >= 20
    for board, title, query in queries:
        found = problems(influxdb2, filled, query, granularity, period)
        assert not found, f"{board} {title!r} ({granularity}, {go_duration(period)}): {found[:5]}"


def test_the_comparison_can_fail(influxdb2, filled):
    (events,) = [q for _, title, q in panel_queries() if title == "Events"]
    assert not problems(influxdb2, filled, events, "hourly", 86400)
    # UTC days, or a daily panel cut into UTC windows of 3 h: each one is caught.
    assert problems(influxdb2, filled, events.replace("location: zone", "location: timezone.utc"),
                    "hourly", 86400)
    assert problems(influxdb2, filled, events.replace("location: zone", "location: timezone.utc")
                    .replace("then 1d else", "then v.windowPeriod else"), "daily", 3 * 3600)


def test_a_day_reads_the_same_from_hourly_and_daily_points(influxdb2, filled):
    # At 1 d windows the granularity picker must not change a day's value: the panels'
    # aggregation of hourly points is the rollups' (a mean of timings is sum / count).
    now = filled["now"]
    start = now.replace(minute=0, second=0) - timedelta(days=5)
    picked = [(t, q) for _, t, q in panel_queries() if '"${granularity}" == "daily" then' in q]
    assert len(picked) >= 8
    for title, query in picked:
        windowed = "aggregateWindow" in query  # a total's time is the query's now()
        hourly, daily = (
            sorted((r["series"], r["_time"] if windowed else "", round(float(r["_value"]), 9))
                   for r in ask(influxdb2, query, {**filled["buckets"], "granularity": g},
                                start, now, 86400))
            for g in ("hourly", "daily"))
        assert hourly == daily and hourly, title


def test_the_health_table_answers_per_source(influxdb2, filled):
    now = filled["now"]
    board = BOARDS["pipeline-health.json"](Catalog())
    (table,) = [p for p in board["panels"] if p["type"] == "table"]
    rows = ask(influxdb2, table["targets"][0]["query"], filled["buckets"],
               now - timedelta(days=2), now, 3600)
    expected = Runs.of(filled["points"], now - timedelta(days=30)).table(datetime.now(UTC))
    assert {r["source"] for r in rows} == set(expected) >= {
        "prometheus", "objects", "events", "timings", "signups", "workers", "broken",
        "conflict"}
    for row in rows:
        want = expected[row["source"]]
        for column in ("status", "watermark", "lag", "written", "refused", "spooled"):
            got = float(row[column]) if row[column] != "" else None
            assert close(got, want[column]), (row["source"], column, got, want[column])
        if want["age"] is None:  # never succeeded: no age, no staleness
            assert (row["age"], row["stale"]) == ("", ""), row
        else:  # seconds since the last success, at the query's now() vs the test's
            assert abs(float(row["age"]) - want["age"]) < 120, row
    assert expected["broken"]["status"] == 2.0 and expected["conflict"]["refused"] == 2.0


def alert_queries() -> dict[str, tuple[str, int]]:
    document = yaml.safe_load(render().files[ALERTING_FILE])
    return {rule["uid"]: (query["model"]["query"], query["relativeTimeRange"]["from"])
            for group in document["groups"] for rule in group["rules"]
            for query in rule["data"] if query["datasourceUid"] == DATASOURCE_UID}


def run_rule(influxdb2, filled, uid: str) -> tuple[list[dict[str, str]], datetime]:
    query, seconds = alert_queries()[uid]
    # The rules name the example's buckets: point them at this test's, as a render would.
    query = query.replace('"pusher_daily"', '"${daily_bucket}"').replace(
        '"pusher"', '"${bucket}"')
    now = datetime.now(UTC)
    return ask(influxdb2, query, filled["buckets"], now - timedelta(seconds=seconds), now,
               60), now


def test_the_failing_rule_fires_for_the_source_whose_last_run_failed(influxdb2, filled):
    rows, now = run_rule(influxdb2, filled, "pusher-source-failing")
    expected = Runs.of(filled["points"], now - timedelta(days=2)).failing()
    assert sorted((r["source"], float(r["_value"])) for r in rows) == \
        sorted((source, value) for source, _, value in expected)
    assert {r["source"] for r in rows if r["_value"] == "1"} == {"broken"}


def test_the_stale_rule_measures_each_source_against_its_schedule(influxdb2, filled):
    rows, now = run_rule(influxdb2, filled, "pusher-source-stale")
    expected = Runs.of(filled["points"], now - timedelta(days=30)).stale(now)
    assert {r["source"] for r in rows} == set(expected)
    for row in rows:  # the query's now() and the test's differ by a few seconds
        assert abs(float(row["_value"]) - expected[row["source"]]) < 120 / 3600, row
    assert float(next(r["_value"] for r in rows if r["source"] == "broken")) == 1000000.0


def test_the_refused_rule_sums_refused_points_per_source(influxdb2, filled):
    rows, now = run_rule(influxdb2, filled, "pusher-points-refused")
    expected = refused_rows(filled["points"], now - timedelta(hours=3))
    assert {r["source"]: float(r["_value"]) for r in rows} == expected
    assert expected["conflict"] == 2.0
