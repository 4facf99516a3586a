"""Rollups on a real InfluxDB 1.6.7: setup, continuous queries running, backfill, verify.

The server's CQ service checks every second (run-interval = "1s" in tests/servers.py) and the
test config says `every = "5s"`, so `RESAMPLE EVERY 5s FOR 3d` runs within seconds: tests
poll for the expected daily points instead of sleeping.
"""

import io
from datetime import UTC, datetime, timedelta

import requests
from cli_helpers import run_pusher
from rollups_helpers import (
    PARIS,
    daily_rows,
    expected_daily,
    fresh_name,
    installed_queries,
    poll,
    write_config,
)

from pusher.config import load_config
from pusher.reading import Granularity, Window
from pusher.runs.collect import Outputs, run_sources

FUNCTIONS = {"events": {"count": "sum"}, "objects": {"count": "last"},
             "timings": {"count": "sum", "max": "max", "mean": "mean"}}


def collect(config_path, names, since, until, now):
    config = load_config(config_path)
    outputs = Outputs(config, False, io.StringIO())
    try:
        records = run_sources(config, names, outputs, since, until, now)
    finally:
        outputs.close()
    assert all(r.ok for r in records), [r.summary() for r in records]


def local_midnight(days_back: int, now: datetime) -> datetime:
    today = Window.containing(now, Granularity.DAILY, PARIS).start
    for _ in range(days_back):
        today = Window.containing(today - timedelta(hours=1), Granularity.DAILY, PARIS).start
    return today


def actual_daily(influxdb1, database, since):
    found = {}
    for measurement in FUNCTIONS:
        for tags, row in daily_rows(influxdb1, database, measurement):
            assert "granularity" not in tags  # never a wrong tag on a rolled-up point
            moment = datetime.fromtimestamp(row["time"], UTC)
            if moment >= since:
                for name in FUNCTIONS[measurement]:
                    found[(measurement, tags["kind" if "kind" in tags else "stage"], moment,
                           name)] = row[name]
    return found


def close(expected, actual):
    return expected.keys() == actual.keys() and all(
        abs(expected[k] - actual[k]) < 1e-9 for k in expected)


def test_setup_creates_everything_then_changes_nothing(influxdb1, tmp_path):
    database = fresh_name()
    config = write_config(tmp_path / "pusher.toml", influxdb1.url, database)
    first = run_pusher("setup", config=config)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        f"created database {database}",
        "created retention policy hourly (duration 30d)",
        "created retention policy daily (duration INF)",
        "created continuous query pusher_rollup_events",
        "created continuous query pusher_rollup_objects",
        "created continuous query pusher_rollup_timings",
    ]
    again = run_pusher("setup", config=config)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [line.replace("created", "unchanged")
                                         for line in first.stdout.splitlines()]
    policies = {r["name"]: r for r in influxdb1.select(f'SHOW RETENTION POLICIES ON "{database}"',
                                                       db=database)}
    assert (policies["hourly"]["duration"], policies["daily"]["duration"]) == ("720h0m0s", "0s")
    assert set(installed_queries(influxdb1, database)) == {
        "pusher_rollup_events", "pusher_rollup_objects", "pusher_rollup_timings"}


def test_setup_updates_only_what_changed(influxdb1, tmp_path):
    database = fresh_name()
    path = tmp_path / "pusher.toml"
    assert run_pusher("setup", config=write_config(path, influxdb1.url, database)).returncode == 0
    write_config(path, influxdb1.url, database, events="max", hourly_retention="60d")
    changed = run_pusher("setup", config=path)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.splitlines() == [
        f"unchanged database {database}",
        "updated retention policy hourly (duration 60d)",
        "unchanged retention policy daily (duration INF)",
        "updated continuous query pusher_rollup_events",
        "unchanged continuous query pusher_rollup_objects",
        "unchanged continuous query pusher_rollup_timings",
    ]
    queries = installed_queries(influxdb1, database)
    assert "SELECT max(count) AS count INTO" in queries["pusher_rollup_events"]
    assert "updated" not in run_pusher("setup", config=path).stdout


def test_setup_refuses_a_config_without_a_daily_policy(influxdb1, tmp_path):
    path = write_config(tmp_path / "pusher.toml", influxdb1.url, fresh_name())
    path.write_text(path.read_text().replace('daily_retention_policy = "daily"\n', ""))
    result = run_pusher("setup", config=path)
    assert result.returncode == 2
    assert "influx.daily_retention_policy" in result.stderr


def test_continuous_queries_roll_up_local_days_and_absorb_late_points(influxdb1, tmp_path):
    database = fresh_name()
    now = datetime.now(UTC)
    # Yesterday and today: inside the CQs' 3 days even if local midnight passes meanwhile.
    since = local_midnight(1, now)
    late = int(local_midnight(1, now).timestamp()) + 5 * 3600  # an hour of yesterday
    path = write_config(tmp_path / "pusher.toml", influxdb1.url, database, skip=(late,))
    assert run_pusher("setup", config=path).returncode == 0
    collect(path, ["main"], since, now, now)
    hours = list(range(int(since.timestamp()), int(now.timestamp()), 3600))
    expected = expected_daily([h for h in hours if h != late], FUNCTIONS)
    assert len({k[2] for k in expected}) == 2
    assert all(k[2].astimezone(PARIS).hour == 0 for k in expected)  # local midnights
    assert poll(lambda: close(expected, actual_daily(influxdb1, database, since))), \
        (expected, actual_daily(influxdb1, database, since))
    hourly_tags = [tags for tags, _ in daily_rows(influxdb1, database, "events", "hourly")]
    assert hourly_tags and all(t["granularity"] == "hourly" for t in hourly_tags)

    collect(path, ["late"], datetime.fromtimestamp(late, UTC),
            datetime.fromtimestamp(late + 3600, UTC), now)
    expected = expected_daily(hours, FUNCTIONS)
    assert poll(lambda: close(expected, actual_daily(influxdb1, database, since))), \
        (expected, actual_daily(influxdb1, database, since))
    verified = run_pusher("rollups", "verify", "--since", since.isoformat(), config=path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.splitlines()[-1].startswith("ok: ")
    assert not verified.stdout.startswith("ok: 0 ")


def test_backfill_fills_older_days_and_verify_catches_tampering(influxdb1, tmp_path):
    database = fresh_name()
    now = datetime.now(UTC)
    since = local_midnight(5, now)
    path = write_config(tmp_path / "pusher.toml", influxdb1.url, database)
    assert run_pusher("setup", config=path).returncode == 0
    collect(path, ["main"], since, now, now)
    # --since the test's own first day: "5d" would start a day later if local midnight
    # (23:00 UTC in winter) passed before a command read the clock.
    days = ("--since", since.isoformat())
    before = run_pusher("rollups", "verify", *days, config=path)
    assert before.returncode == 1
    day4 = local_midnight(4, now)
    assert f"missing  {day4.astimezone(PARIS).date()} events,kind=signup count" in before.stdout

    backfill = run_pusher("rollups", "backfill", *days, config=path)
    assert backfill.returncode == 0, backfill.stderr
    assert "backfilled events: " in backfill.stdout
    hours = list(range(int(since.timestamp()), int(now.timestamp()), 3600))
    expected = expected_daily(hours, FUNCTIONS)
    assert close(expected, actual_daily(influxdb1, database, since))
    after = run_pusher("rollups", "verify", *days, config=path)
    assert after.returncode == 0, after.stdout
    assert after.stdout.startswith("ok: ")

    # A daily value that no longer matches its hours, outside the CQs' 3 days.
    line = f"events,kind=signup count=999999i {int(day4.timestamp())}"
    requests.post(f"{influxdb1.url}/write", params={"db": database, "rp": "daily",
                                                   "precision": "s"},
                  data=line, timeout=10).raise_for_status()
    tampered = run_pusher("rollups", "verify", *days, config=path)
    assert tampered.returncode == 1
    want = expected[("events", "signup", day4, "count")]
    assert (f"differs  {day4.astimezone(PARIS).date()} events,kind=signup count: "
            f"daily 999999, hourly give {want}") in tampered.stdout
    assert tampered.stdout.splitlines()[-1].startswith("FAILED: ")


def test_backfill_days_across_a_dst_change_are_local_days(influxdb1, tmp_path):
    database = fresh_name()
    path = write_config(tmp_path / "pusher.toml", influxdb1.url, database,
                        hourly_retention="3650d")
    assert run_pusher("setup", config=path).returncode == 0
    start, end = datetime(2026, 10, 23, tzinfo=UTC), datetime(2026, 10, 28, tzinfo=UTC)
    collect(path, ["main"], start, end, end)
    # Naive times are read in the rollups' timezone: local midnights of Paris.
    result = run_pusher("rollups", "backfill", "--since", "2026-10-24", "--until",
                        "2026-10-27", config=path)
    assert result.returncode == 0, result.stderr
    days = sorted({datetime.fromtimestamp(row["time"], UTC)
                   for _, row in daily_rows(influxdb1, database, "timings")})
    # Summer time (UTC+2) until Sunday 25 October 03:00, then UTC+1: that day lasts 25 hours.
    assert days == [datetime(2026, 10, 23, 22, tzinfo=UTC), datetime(2026, 10, 24, 22, tzinfo=UTC),
                    datetime(2026, 10, 25, 23, tzinfo=UTC)]
    hours = list(range(int(start.timestamp()), int(end.timestamp()), 3600))
    expected = {k: v for k, v in expected_daily(hours, FUNCTIONS).items() if k[2] in days}
    assert close(expected, actual_daily(influxdb1, database, days[0]))
    timings = [row for _, row in daily_rows(influxdb1, database, "timings")]
    assert timings[1]["count"] == sum(h // 3600 % 3 + 1 for h in hours
                                      if days[1].timestamp() <= h < days[2].timestamp())
    verified = run_pusher("rollups", "verify", "--since", "2026-10-24", "--until", "2026-10-27",
                          config=path)
    assert verified.returncode == 0, verified.stdout
    assert verified.stdout.startswith("ok: 18 daily value(s) checked")
