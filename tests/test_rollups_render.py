"""Rendering rollups: exact Flux and InfluxQL, the committed influx/ files, the Flux validator."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flux_helpers import validate_flux

from pusher.config import InfluxConfig, load_config, parse_config
from pusher.errors import ConfigError
from pusher.points.quoting import influxql_ident
from pusher.rollups.flux_api import read_query
from pusher.rollups.render import (
    continuous_query,
    every_tag_but,
    flux_backfill,
    flux_task,
    rendered_files,
    select_into,
)

ROOT = Path(__file__).resolve().parent.parent
INFLUX = InfluxConfig(api="v2", org="acme", bucket="pusher", daily_bucket="pusher_daily",
                      retention_policy="hourly", daily_retention_policy="daily")


def rollups(**extra):
    table = {"timezone": "Europe/Paris", "lookback": "3d", "every": "1h",
             "measurements": {"timings": {"count": "sum", "sum": "sum", "max": "max"}}} | extra
    return parse_config({"rollups": table}, {}).rollups


def test_flux_task_is_exact():
    config = rollups()
    assert flux_task(config.measurements["timings"], INFLUX, config) == '''\
// Rendered by `pusher rollups render` from the config; edit the config, not this file.
import "date"
import "timezone"

option location = timezone.location(name: "Europe/Paris")
option task = {name: "pusher_rollup_timings", every: 1h, offset: 5m}

// Local midnight 2 day(s) back: no day is ever aggregated from part of it.
hourly = from(bucket: "pusher")
    |> range(start: date.truncate(t: -2d, unit: 1d, location: location))
    |> filter(fn: (r) => r._measurement == "timings" and r.granularity == "hourly")

hourly
    |> filter(fn: (r) => r._field == "count" or r._field == "sum")
    |> aggregateWindow(every: 1d, fn: sum, timeSrc: "_start", createEmpty: false, \
location: location)
    |> set(key: "granularity", value: "daily")
    |> to(bucket: "pusher_daily", org: "acme")

hourly
    |> filter(fn: (r) => r._field == "max")
    |> aggregateWindow(every: 1d, fn: max, timeSrc: "_start", createEmpty: false, \
location: location)
    |> set(key: "granularity", value: "daily")
    |> to(bucket: "pusher_daily", org: "acme")
'''


def test_continuous_query_is_exact():
    config = rollups(every="5s", lookback="2w")
    assert continuous_query(config.measurements["timings"], INFLUX, config) == (
        "CREATE CONTINUOUS QUERY pusher_rollup_timings ON pusher RESAMPLE EVERY 5s FOR 2w "
        "BEGIN SELECT sum(count) AS count, sum(sum) AS sum, max(max) AS max "
        "INTO pusher.daily.timings FROM pusher.hourly.timings WHERE granularity = 'hourly' "
        "GROUP BY time(1d), /^(?:[^g]|g[^r]|gr[^a]|gra[^n]|gran[^u]|granu[^l]|granul[^a]|"
        "granula[^r]|granular[^i]|granulari[^t]|granularit[^y]|granularity.)|^.{0,10}$/ "
        "TZ('Europe/Paris') END")


def test_backfill_select_has_the_time_range():
    config = rollups()
    since, until = datetime(2026, 10, 23, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC)
    text = select_into(config.measurements["timings"], INFLUX, config, since, until)
    assert ("WHERE granularity = 'hourly' AND time >= '2026-10-23T22:00:00Z' "
            "AND time < '2026-10-25T23:00:00Z' GROUP BY time(1d), /") in text


def test_the_group_by_regex_matches_every_tag_key_but_granularity():
    pattern = re.compile(every_tag_but("granularity").strip("/"))
    for key in ("kind", "stage", "g", "gran", "granularit", "granularity2", "Granularity",
                "xgranularity", "job", "a_very_long_tag_name"):
        assert pattern.search(key), key
    assert not pattern.search("granularity")


def test_identifiers_are_quoted_only_when_needed():
    assert influxql_ident("http_requests") == "http_requests"
    assert influxql_ident("api-calls") == '"api-calls"'
    assert influxql_ident("select") == '"select"'
    # AND, OR, TRUE and FALSE are keywords too (influxql token.go), in any case.
    assert [influxql_ident(w) for w in ("true", "False", "and", "OR", "show")] == [
        '"true"', '"False"', '"and"', '"OR"', '"show"']


def test_committed_influx_files_are_the_rendering_of_the_example_config():
    config = load_config(ROOT / "examples" / "pusher.toml", {})
    files = rendered_files(config.influx, config.rollups)
    committed = {str(p.relative_to(ROOT / "influx")): p.read_text()
                 for p in (ROOT / "influx").rglob("*") if p.is_file()}
    assert committed == files, \
        "run: pusher -c examples/pusher.toml rollups render --api all --out influx"
    # The contract's measurements, each with its aggregation.
    assert set(config.rollups.measurements) == {"objects", "events", "timings", "signups",
                                                "workers", "scrape", "http_requests"}


def test_every_rendered_flux_passes_the_validator():
    config = load_config(ROOT / "examples" / "pusher.toml", {})
    since, until = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 8, tzinfo=UTC)
    sources = [text for name, text in rendered_files(config.influx, config.rollups).items()
               if name.endswith(".flux")]
    for rollup in config.rollups.measurements.values():
        sources.append(flux_backfill(rollup, config.influx, config.rollups, since, until))
        sources += [read_query(rollup, config.influx, daily, since, until)
                    for daily in (False, True)]
    broken = sources[0].replace("createEmpty: false, location:", "createEmpty: false, locaton:")
    assert broken != sources[0]
    results = validate_flux([*sources, broken])
    assert [ok for ok, _ in results[:-1]] == [True] * len(sources), results
    assert results[-1][0] is False  # the validator can say no


@pytest.mark.parametrize(("table", "key", "words"), [
    ({"evry": "1h"}, "rollups.evry", "did you mean 'every'"),
    ({"every": "hourly"}, "rollups.every", "must be a span"),
    ({"lookback": "36h"}, "rollups.lookback", "whole number of days"),
    ({"hourly_retention": "30m"}, "rollups.hourly_retention", "at least 1h"),
    ({"timezone": "Mars/Olympus"}, "rollups.timezone", "unknown timezone"),
    ({"measurements": {"events": "sum"}}, "rollups.measurements.events", "field = aggregation"),
    ({"measurements": {"events": {"count": "median"}}}, "rollups.measurements.events.count",
     "unknown aggregation 'median'"),
])
def test_bad_rollup_config_names_the_key(table, key, words):
    with pytest.raises(ConfigError) as caught:
        parse_config({"rollups": table}, {}, Path("pusher.toml"))
    assert caught.value.key == key
    assert caught.value.file == "pusher.toml"
    assert words in caught.value.problem


def test_defaults_follow_the_pusher_timezone():
    config = parse_config({"pusher": {"timezone": "Asia/Tokyo"}, "rollups": {}}, {})
    assert config.rollups.timezone.key == "Asia/Tokyo"
    assert (str(config.rollups.lookback), str(config.rollups.hourly_retention),
            config.rollups.daily_retention.seconds) == ("3d", "90d", 0)


def test_render_command_prints_or_writes_the_files(tmp_path):
    from cli_helpers import run_pusher

    example = ROOT / "examples" / "pusher.toml"
    printed = run_pusher("rollups", "render", "--api", "v1", config=example)
    assert printed.returncode == 0, printed.stderr
    committed = (ROOT / "influx" / "continuous_queries.influxql").read_text()
    assert printed.stdout == f"# continuous_queries.influxql\n{committed}\n"
    written = run_pusher("rollups", "render", "--api", "all", "--out", str(tmp_path),
                         config=example)
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "tasks" / "timings.flux").read_text() == \
        (ROOT / "influx" / "tasks" / "timings.flux").read_text()
    assert sorted(p.name for p in (tmp_path / "tasks").iterdir()) == sorted(
        p.name for p in (ROOT / "influx" / "tasks").iterdir())
