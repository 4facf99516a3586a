"""Helpers for the rollup tests: a deterministic hourly source and its expected daily values."""

import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import ops_helpers

from pusher import Reading

PARIS = ZoneInfo("Europe/Paris")
POLL_DEADLINE = 60.0  # seconds: a ceiling for polling, not a timed assertion

ROLLUPS_TOML = """
[rollups]
timezone = "Europe/Paris"
hourly_retention = "{hourly_retention}"
daily_retention = "0"
lookback = "3d"
every = "{every}"
[rollups.measurements]
events = {{ count = "{events}" }}
objects = {{ count = "last" }}
timings = {{ count = "sum", max = "max", mean = "mean" }}
"""


def hourly(window, skip=()):
    """Values that are a pure function of the hour, so tests can recompute them."""
    h = int(window.start.timestamp()) // 3600
    if h * 3600 in skip:
        return
    yield Reading("events", {"count": h % 7 + 1}, {"kind": "signup"})
    yield Reading("events", {"count": h % 5 * 10}, {"kind": "login"})
    yield Reading("objects", {"count": 1000 + h % 1000}, {"kind": "users"})
    yield Reading("timings", {"count": h % 3 + 1, "max": (h % 11) / 2, "mean": (h % 13) / 4},
                  {"stage": "browser"})


Key = tuple[str, str, datetime, str]  # measurement, tag value, local midnight (UTC), field
HourlyPoint = tuple[str, str, int, str, float]  # measurement, tag value, epoch s, field, value
REDUCE: dict[str, Callable[[list[float]], float]] = {
    "sum": sum, "max": max, "min": min, "last": lambda v: v[-1], "first": lambda v: v[0],
    "mean": lambda v: sum(v) / len(v),
}


def aggregate(points: Iterable[HourlyPoint], functions: dict[str, dict[str, str]],
              tz: ZoneInfo = PARIS) -> dict[Key, float]:
    """Daily values from hourly points, grouped by local day in `tz`, in plain Python."""
    values: dict[Key, list[tuple[int, float]]] = defaultdict(list)
    for measurement, tag, hour, name, value in points:
        local = datetime.fromtimestamp(hour, tz)
        midnight = local.replace(hour=0, minute=0, second=0).astimezone(UTC)
        values[(measurement, tag, midnight, name)].append((hour, value))
    return {key: REDUCE[functions[key[0]][key[3]]]([v for _, v in sorted(series)])
            for key, series in values.items()}


def hourly_points(hours: Iterable[int]) -> Iterator[HourlyPoint]:
    """What the `hourly` source yields for these hours (epoch seconds)."""
    for hour in hours:
        window = type("W", (), {"start": datetime.fromtimestamp(hour, UTC)})
        for reading in hourly(window):
            tag = next(iter(reading.tags.values()))
            for name, value in reading.fields.items():
                yield reading.measurement, tag, hour, name, value


def expected_daily(hours: list[int], functions: dict[str, dict[str, str]]) -> dict[Key, float]:
    """(measurement, tag value, local midnight UTC, field) -> value, computed independently."""
    return aggregate(hourly_points(hours), functions)


def write_config(path: Path, url: str, database: str, events: str = "sum",
                 hourly_retention: str = "30d", skip: tuple[int, ...] = ()) -> Path:
    path.write_text(f"""
[pusher]
state_dir = "state"
timezone = "UTC"

[influx]
url = "{url}"
api = "v1"
database = "{database}"
retention_policy = "hourly"
daily_retention_policy = "daily"
precision = "s"

[sources.main]
type = "python"
callable = "rollups_helpers:hourly"
skip = {list(skip)}

[sources.late]
type = "python"
callable = "rollups_helpers:hourly"
""" + ROLLUPS_TOML.format(events=events, hourly_retention=hourly_retention, every="5s"))
    return path


SOURCES_TOML = """
[sources.main]
type = "python"
callable = "rollups_helpers:hourly"
"""


def write_v2_config(path: Path, url: str, token: str, bucket: str, events: str = "sum",
                    hourly_retention: str = "30d", measurements: str | None = None) -> Path:
    """A 2.x config at `path`: hourly points in `bucket`, daily ones in `bucket`_daily; tasks
    every hour (tests start their runs through the tasks API instead of waiting for them)."""
    rollups = ROLLUPS_TOML.format(events=events, hourly_retention=hourly_retention,
                                  every="1h")
    if measurements is not None:
        rollups = rollups[:rollups.index("[rollups.measurements]")] + measurements
    written = ops_helpers.write_v2_config(path.parent, url, bucket, token, SOURCES_TOML + rollups,
                                          extra=f'daily_bucket = "{bucket}_daily"')
    return written if written == path else written.rename(path)


def fresh_name() -> str:
    return f"rollups_{uuid.uuid4().hex[:10]}"


def poll(check: Callable[[], object], deadline: float = POLL_DEADLINE) -> object:
    """Call `check` until it returns something truthy; return its last answer at the end."""
    end = time.monotonic() + deadline
    while True:
        answer = check()
        if answer or time.monotonic() > end:
            return answer
        time.sleep(0.2)


def daily_rows(influxdb1, database: str, measurement: str, policy: str = "daily"
               ) -> Iterator[tuple[dict, dict]]:
    """(tags, row) of every point of `measurement` in `policy`, tags without empty values."""
    body = influxdb1.query(f'SELECT * FROM "{database}"."{policy}"."{measurement}" GROUP BY *',
                           db=database, epoch="s")
    for series in body["results"][0].get("series", []):
        tags = {k: v for k, v in series.get("tags", {}).items() if v}
        for values in series["values"]:
            yield tags, dict(zip(series["columns"], values, strict=True))


def installed_queries(influxdb1, database: str) -> dict[str, str]:
    """name -> text of the continuous queries of `database` (SHOW lists every database's)."""
    series = influxdb1.query("SHOW CONTINUOUS QUERIES")["results"][0].get("series", [])
    return {name: query for s in series if s.get("name") == database
            for name, query in s.get("values", [])}
