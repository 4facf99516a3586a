"""Watermarks, catch-up after downtime, pusher_runs points and `pusher status`."""

from datetime import UTC, datetime, timedelta

import requests
from ops_helpers import grid_source, per_time, pusher, write_config, write_v2_config

from pusher.config import InfluxConfig, load_config
from pusher.points.lineprotocol import encode
from pusher.points.pusher_runs import RUN_FIELDS
from pusher.runs.history import Watermarks, run_reading
from pusher.runs.history_query import RunQuery
from pusher.runs.pipeline import RunRecord
from pusher.state import read_json

HOUR = 3600


def hour_floor(moment: datetime) -> int:
    return int(moment.timestamp()) // HOUR * HOUR


def test_run_point_has_exactly_the_schema_fields():
    record = RunRecord("sales", windows=2, readings=10, written=9, refused=1, duration=1.5)
    ended = datetime(2026, 1, 1, 10, 0, 30, tzinfo=UTC)
    reading = run_reading(record, ended, datetime(2026, 1, 1, 10, tzinfo=UTC), 3600)
    assert set(reading.fields) == set(RUN_FIELDS)
    assert all(type(reading.fields[k]) is kind for k, kind in RUN_FIELDS.items())
    assert encode(reading, "hourly") == (
        'pusher_runs,granularity=hourly,source=sales status="partial",ok=0i,duration=1.5,'
        'readings=10i,written=9i,refused=1i,spooled=0i,interval=3600.0,lag=30.0,'
        'watermark=1767261600i 1767261630')


def test_run_point_without_a_watermark_has_no_lag():
    reading = run_reading(RunRecord("s", errors=["x"]), datetime(2026, 1, 1, tzinfo=UTC), None,
                          60)
    assert reading.fields["status"] == "failed" and "lag" not in reading.fields


def test_watermarks_only_move_forward(tmp_path):
    marks = Watermarks(tmp_path)
    later, earlier = datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    marks.set("a", later)
    marks.set("a", earlier)
    assert marks.get("a") == later and marks.get("b") is None
    assert read_json(tmp_path / "watermarks.json", tmp_path) == {"a": later.isoformat()}


def test_catch_up_collects_every_missed_window(tmp_path, influxdb1, influx_db):
    config = write_config(tmp_path, influxdb1.url, influx_db, grid_source())
    before = hour_floor(datetime.now(UTC))
    first = before - 5 * HOUR
    Watermarks(tmp_path / "state").set("grid", datetime.fromtimestamp(first, UTC))
    result = pusher("collect", "grid", config=config)
    assert result.returncode == 0, result.stderr
    assert "catching up" in result.stderr
    counts = per_time(influxdb1, influx_db)
    current = max(counts)  # the run's current hour (the clock may have struck meanwhile)
    assert current in (before, hour_floor(datetime.now(UTC)))
    assert counts == {t: 5 for t in range(first, current + 1, HOUR)}
    # The current window is collected but not complete: the watermark stops at its start.
    assert Watermarks(tmp_path / "state").get("grid") == datetime.fromtimestamp(current, UTC)


def test_catch_up_is_capped_and_says_how_to_backfill(tmp_path, influxdb1, influx_db):
    config = write_config(tmp_path, influxdb1.url, influx_db, grid_source(extra="catchup_max = 3"))
    Watermarks(tmp_path / "state").set(
        "grid", datetime.fromtimestamp(hour_floor(datetime.now(UTC)) - 10 * HOUR, UTC))
    result = pusher("collect", "grid", config=config)
    assert result.returncode == 0, result.stderr
    assert "exceed catchup_max=3" in result.stderr
    assert "pusher backfill grid --since" in result.stderr
    assert len(per_time(influxdb1, influx_db)) == 3


def test_an_empty_state_dir_reads_the_watermark_back_from_influxdb(tmp_path, influxdb1,
                                                                   influx_db):
    config = write_config(tmp_path, influxdb1.url, influx_db, grid_source())
    assert pusher("collect", "grid", config=config).returncode == 0
    mark = Watermarks(tmp_path / "state").get("grid")
    assert mark is not None
    # A CronJob without a volume: no state at all, but pusher_runs knows the watermark.
    (tmp_path / "state" / "watermarks.json").unlink()
    query = RunQuery(InfluxConfig(url=influxdb1.url, api="v1", database=influx_db))
    assert query.watermark("grid", "hourly") == mark
    older = mark - timedelta(hours=3)
    influxdb1.query('DROP SERIES FROM "pusher_runs"', db=influx_db)
    line = f"pusher_runs,granularity=hourly,source=grid watermark={int(older.timestamp())}i"
    requests.post(f"{influxdb1.url}/write", params={"db": influx_db}, data=line,
                  timeout=10).raise_for_status()
    result = pusher("collect", "grid", config=config)
    assert result.returncode == 0 and "catching up" in result.stderr, result.stderr
    assert min(per_time(influxdb1, influx_db)) <= int(older.timestamp())


def test_a_failing_window_does_not_move_the_watermark(tmp_path, influxdb1, influx_db):
    sources = '[sources.bad]\ntype = "python"\ncallable = "ops_readers:failing"\n'
    config = write_config(tmp_path, influxdb1.url, influx_db, sources)
    result = pusher("collect", "bad", config=config)
    assert result.returncode == 1
    assert Watermarks(tmp_path / "state").get("bad") is None
    runs = influxdb1.select('SELECT "status", "ok" FROM "pusher_runs"', db=influx_db)
    assert [(r["status"], r["ok"]) for r in runs] == [("failed", 0)]


def test_status_shows_runs_lag_and_spool(tmp_path, influxdb1, influx_db):
    sources = grid_source(extra='schedule = "every 15m"') + \
        '[sources.bad]\ntype = "python"\ncallable = "ops_readers:failing"\n'
    config = write_config(tmp_path, influxdb1.url, influx_db, sources)
    pusher("collect", "grid", "bad", config=config)
    result = pusher("status", config=config)
    assert result.returncode == 0, result.stderr
    header, grid, bad, *rest = result.stdout.splitlines()
    assert header.split() == ["SOURCE", "SCHEDULE", "LAST", "RUN", "STATUS", "POINTS", "NEXT",
                              "RUN", "LAG", "SPOOL"]
    assert grid.split()[:3] == ["grid", "every", "15m"] and " done " in grid
    assert grid.split()[-1] == "0" and grid.split()[6] == "10"  # 2 windows x 5 points
    assert bad.split()[:2] == ["bad", "@hourly"] and " failed " in bad
    assert rest[0].startswith("spool: 0 points waiting")
    assert "last failure of bad: " in rest[1] and "upstream says no" in rest[1]


# --- InfluxDB 2.x, a least-privilege token (write and read on its bucket) ----------------------

def least_privilege_config(tmp_path, influxdb2, bucket, sources):
    token = influxdb2.create_token([("write", "buckets", bucket), ("read", "buckets", bucket)])
    return write_v2_config(tmp_path, influxdb2.url, bucket, token, sources), token


def test_v2_a_least_privilege_token_reads_its_watermark_back(tmp_path, influxdb2,
                                                              influx_bucket):
    config, token = least_privilege_config(tmp_path, influxdb2, influx_bucket, grid_source())
    first = pusher("collect", "grid", config=config)
    assert first.returncode == 0, first.stderr
    mark = Watermarks(tmp_path / "state").get("grid")
    influx = load_config(config).influx
    assert RunQuery(influx).watermark("grid", "hourly") == mark
    last = RunQuery(influx).last_run("grid", "hourly")
    assert (last["status"], last["written"], last["watermark"]) == \
        ("done", "10", str(int(mark.timestamp())))
    # A CronJob without a volume, whose last run was 3 hours ago: it catches up from there.
    (tmp_path / "state" / "watermarks.json").unlink()
    older = mark - timedelta(hours=3)
    influxdb2.api("POST", "/api/v2/delete", params={"org": "acme", "bucket": influx_bucket},
                  json={"start": "1970-01-01T00:00:00Z", "stop": "2100-01-01T00:00:00Z",
                        "predicate": '_measurement="pusher_runs"'})
    influxdb2.write(influx_bucket, "pusher_runs,granularity=hourly,source=grid "
                                   f"watermark={int(older.timestamp())}i")
    result = pusher("collect", "grid", config=config)
    assert result.returncode == 0 and "catching up" in result.stderr, result.stderr
    assert "WARNING" not in result.stderr
    rows = influxdb2.flux(f'from(bucket: "{influx_bucket}") |> range(start: 0) '
                          '|> filter(fn: (r) => r._measurement == "grid")')
    assert min(datetime.fromisoformat(r["_time"].replace("Z", "+00:00")) for r in rows) <= older
    assert token not in result.stderr


def test_v2_a_write_only_token_says_what_it_may_not_read(tmp_path, influxdb2, influx_bucket):
    token = influxdb2.create_token([("write", "buckets", influx_bucket)])
    config = write_v2_config(tmp_path, influxdb2.url, influx_bucket, token, grid_source())
    result = pusher("collect", "grid", config=config)
    assert result.returncode == 0, result.stderr  # the points go in all the same
    assert (f"pusher: WARNING: cannot read the watermark of grid from InfluxDB: the token may "
            f"not read bucket '{influx_bucket}' (or there is no such bucket): pusher reads its "
            'run records there (docs/operations.md, "Tokens")') in result.stderr.splitlines()


def test_v2_status_from_influx_needs_no_state_dir(tmp_path, influxdb2, influx_bucket):
    sources = grid_source() + '[sources.bad]\ntype = "python"\ncallable = "ops_readers:failing"\n'
    config, _ = least_privilege_config(tmp_path, influxdb2, influx_bucket, sources)
    assert_status_from_influx(config)


def test_status_from_influx_needs_no_state_dir(tmp_path, influxdb1, influx_db):
    sources = grid_source() + '[sources.bad]\ntype = "python"\ncallable = "ops_readers:failing"\n'
    assert_status_from_influx(write_config(tmp_path, influxdb1.url, influx_db, sources))


def assert_status_from_influx(config):
    pusher("collect", "grid", "bad", config=config)
    for name in ("runs.json", "watermarks.json"):
        (config.parent / "state" / name).unlink()
    local = pusher("status", config=config).stdout.splitlines()
    assert "never run" in local[1]
    result = pusher("status", "--from-influx", config=config)
    assert result.returncode == 0, result.stderr
    _, grid, bad, *rest = result.stdout.splitlines()
    assert " done " in grid and grid.split()[5] == "10" and grid.split()[8] != "-"
    assert " failed " in bad
    assert rest[1] == "last failure of bad: failed"
