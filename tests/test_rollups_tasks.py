"""The Flux tasks `pusher setup` installs, run by a real InfluxDB 2.7 and checked in Python.

Each run is started through the tasks API with `scheduledFor`, which is the task's `now()`:
the tests run the tasks on the days they choose (both DST days of 2026 in Europe/Paris)
instead of waiting for the server's schedule. Every daily point the server writes is
compared with the aggregate computed in Python from the hourly points read back.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_helpers import run_pusher
from rollups_helpers import (
    PARIS,
    HourlyPoint,
    Key,
    aggregate,
    fresh_name,
    hourly_points,
    write_v2_config,
)

TESTS = str(Path(__file__).resolve().parent)
FUNCTIONS = {"events": {"count": "sum"}, "objects": {"count": "last"},
             "timings": {"count": "sum", "max": "max", "mean": "mean"}}
YEAR = "start: 2026-01-01T00:00:00Z, stop: 2027-01-01T00:00:00Z"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def rollups(influxdb2, tmp_path_factory):
    """A config set up on the real server, its hourly points collected around both DST
    changes of 2026 (29 March: 23 hours, 25 October: 25 hours), and its tasks by name."""
    tmp = tmp_path_factory.mktemp("tasks")
    bucket = fresh_name()
    config = write_v2_config(tmp / "pusher.toml", influxdb2.url, influxdb2.token, bucket,
                             hourly_retention="0")
    setup = run_pusher("setup", config=config)
    assert setup.returncode == 0, setup.stderr
    for since, until in (("2026-03-27T00:00Z", "2026-04-01T00:00Z"),
                         ("2026-10-23T00:00Z", "2026-10-28T00:00Z")):
        done = run_pusher("collect", "main", "--since", since, "--until", until,
                          config=config, env={"PYTHONPATH": TESTS})
        assert done.returncode == 0, done.stderr
    tasks = {name: task for name, found in influxdb2.tasks().items() for task in found
             if f'to(bucket: "{bucket}_daily"' in task["flux"]}
    assert sorted(tasks) == [f"pusher_rollup_{m}" for m in sorted(FUNCTIONS)]
    return {"bucket": bucket, "config": config, "tasks": tasks}


def run_all(influxdb2, tasks: dict, now: datetime) -> None:
    for name, task in tasks.items():
        run = influxdb2.run_task(task["id"], now)
        assert run["status"] == "success", (name, influxdb2.run_log(task["id"], run["id"]))
        assert utc(run["scheduledFor"]) == now


def hourly_read_back(influxdb2, bucket: str) -> list[HourlyPoint]:
    rows = influxdb2.flux(f'from(bucket: "{bucket}") |> range({YEAR})'
                          ' |> filter(fn: (r) => r._measurement != "pusher_runs")')
    return [(r["_measurement"], r.get("kind") or r["stage"], int(utc(r["_time"]).timestamp()),
             r["_field"], float(r["_value"])) for r in rows]


def daily_read_back(influxdb2, bucket: str) -> dict[Key, float]:
    rows = influxdb2.flux(f'from(bucket: "{bucket}_daily") |> range({YEAR})')
    assert {r["granularity"] for r in rows} == {"daily"}
    return {(r["_measurement"], r.get("kind") or r["stage"], utc(r["_time"]), r["_field"]):
            float(r["_value"]) for r in rows}


def local_midnight(moment: datetime, days_back: int = 0) -> datetime:
    local = moment.astimezone(PARIS).date() - timedelta(days=days_back)
    return datetime(local.year, local.month, local.day, tzinfo=PARIS).astimezone(UTC)


def python_daily(points: list[HourlyPoint], since: datetime, now: datetime) -> dict[Key, float]:
    """What a run at `now` must write: the local days from `since`, today up to `now`."""
    seen = [p for p in points if since.timestamp() <= p[2] < now.timestamp()]
    return aggregate(seen, FUNCTIONS, PARIS)


def assert_days(actual: dict[Key, float], expected: dict[Key, float], days: int) -> None:
    assert len({key[2] for key in expected}) == days
    in_range = {k: v for k, v in actual.items() if k[2] in {key[2] for key in expected}}
    assert in_range.keys() == expected.keys()
    wrong = {k: (in_range[k], v) for k, v in expected.items() if abs(in_range[k] - v) > 1e-9}
    assert not wrong, wrong


@pytest.mark.parametrize("now, first_day, hours", [
    # 02:30 in Paris on 31 March: 29 March (23 hours), 30 March, and 3 hours of 31 March.
    ("2026-03-31T00:30:00Z", "2026-03-28T23:00:00Z", 23 + 24 + 3),
    # 01:30 in Paris on 27 October: 25 October (25 hours), 26 October, 2 hours of the 27th.
    ("2026-10-27T00:30:00Z", "2026-10-24T22:00:00Z", 25 + 24 + 2),
])
def test_a_task_run_writes_each_local_day_of_its_lookback(influxdb2, rollups, now, first_day,
                                                          hours):
    now, first_day = utc(now), utc(first_day)
    assert local_midnight(now, 2) == first_day  # lookback = "3d": today and 2 days back
    run_all(influxdb2, rollups["tasks"], now)
    points = hourly_read_back(influxdb2, rollups["bucket"])
    expected = python_daily(points, first_day, now)
    assert len({p[2] for p in points if first_day.timestamp() <= p[2] < now.timestamp()}) \
        == hours
    # The hourly points read back are the source's own: the Python side is not circular.
    hours_written = range(int(first_day.timestamp()), int(now.timestamp()), 3600)
    assert expected == python_daily(list(hourly_points(hours_written)), first_day, now)
    assert_days(daily_read_back(influxdb2, rollups["bucket"]), expected, days=3)


def test_a_late_hourly_point_is_absorbed_by_the_next_run(influxdb2, rollups):
    bucket, tasks = rollups["bucket"], rollups["tasks"]
    first = utc("2026-03-30T12:30:00Z")
    run_all(influxdb2, tasks, first)
    day = utc("2026-03-29T22:00:00Z")  # 30 March, Paris
    before = daily_read_back(influxdb2, bucket)[("events", "signup", day, "count")]
    # A correction of 09:00 UTC arrives late, and a series seen for the first time.
    late = int(utc("2026-03-30T09:00:00Z").timestamp())
    influxdb2.write(bucket, f"events,granularity=hourly,kind=signup count=1000i {late}\n"
                            f"events,granularity=hourly,kind=refund count=3i {late}")
    second = first + timedelta(hours=1)
    run_all(influxdb2, tasks, second)
    daily = daily_read_back(influxdb2, bucket)
    expected = python_daily(hourly_read_back(influxdb2, bucket), local_midnight(second, 2),
                            second)
    assert_days(daily, expected, days=3)
    # The source's value of 09:00 replaced by 1000; 13:00 is in the second run only.
    hours = range(int(day.timestamp()) // 3600, int(second.timestamp()) // 3600 + 1)
    assert before == sum(h % 7 + 1 for h in hours if h < hours[-1])
    assert daily[("events", "signup", day, "count")] == \
        sum(h % 7 + 1 for h in hours) - (late // 3600 % 7 + 1) + 1000
    assert daily[("events", "refund", day, "count")] == 3
    # And `pusher rollups verify` agrees about every complete day the runs wrote.
    verify = run_pusher("rollups", "verify", "--since", "2026-03-28", "--until", "2026-03-30",
                        config=rollups["config"])
    assert verify.returncode == 0, verify.stdout + verify.stderr
