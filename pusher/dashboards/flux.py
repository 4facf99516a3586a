"""Flux text for the dashboards and alert rules. Pure functions, no I/O.

Grafana substitutes ${granularity}, ${bucket} and ${daily_bucket} (dashboard variables), then
`v.timeRangeStart`, `v.timeRangeStop` and `v.windowPeriod` as text (RFC 3339 times and a Go
duration such as "2h0m0s": pkg/tsdb/influxdb/flux/macros.go) before it sends a query.

Windows of a day or more are aligned on local midnights of the rollups' time zone, as the
daily points are: `aggregateWindow` aligns on UTC unless given a location, which would draw
each daily value in the evening of the day before from 2 h windows on (Europe/Paris, winter).
Daily points are never cut into windows shorter than a day (each one is a whole day).
Shorter windows of hourly points stay on UTC: a location there would merge the hour that
repeats when the clocks go back into one window.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pusher.points.pusher_runs import RUN_MEASUREMENT
from pusher.points.quoting import flux_string

# Hourly points in ${bucket}, daily ones in ${daily_bucket} (the data contract).
HOURLY_BUCKET = '"${bucket}"'
DAILY_BUCKET = '"${daily_bucket}"'
PICKED_BUCKET = 'if "${granularity}" == "daily" then "${daily_bucket}" else "${bucket}"'
# Whether a query reads daily points, by the bucket it reads (a Flux boolean expression).
DAILY = {HOURLY_BUCKET: "false", DAILY_BUCKET: "true", PICKED_BUCKET: '"${granularity}" == "daily"'}
DAY_NANOSECONDS = 86_400 * 10**9
RANGE = "|> range(start: v.timeRangeStart, stop: v.timeRangeStop)"
# InfluxDB 1.x continuous queries cannot tag rolled-up points: there the bucket
# ("db/rp" in Flux) alone says which granularity a point has.
GRANULARITY = '|> filter(fn: (r) => r.granularity == "${granularity}" or not exists r.granularity)'
NANOSECONDS = "1000000000.0"
# The pusher_runs history the health views look back over, whatever the time picker says.
RUNS_LOOKBACK = "-30d"


def field_test(fields: Sequence[str]) -> str:
    """`r._field == "a" or r._field == "b"`."""
    return " or ".join(f"r._field == {flux_string(name)}" for name in fields)


def tag_test(tag: str, values: Sequence[str]) -> str:
    return " or ".join(f"r.{tag} == {flux_string(value)}" for value in values)


def select(measurement: str, fields: Sequence[str], bucket: str = PICKED_BUCKET,
           granularity: str = GRANULARITY, where: str | None = None) -> list[str]:
    """The head of a query: one measurement, some fields, at the dashboard's granularity."""
    lines = [f"from(bucket: {bucket})", f"    {RANGE}",
             f"    |> filter(fn: (r) => r._measurement == {flux_string(measurement)})",
             f"    {granularity}", f"    |> filter(fn: (r) => {field_test(fields)})"]
    if where:
        lines.append(f"    |> filter(fn: (r) => {where})")
    return lines


def window_head(zone: str, daily: str) -> list[str]:
    """The lines before a windowed query: its window period `every` and alignment `zone`."""
    short = "int(v: v.windowPeriod) < day"
    every = {"false": "v.windowPeriod", "true": f"if {short} then 1d else v.windowPeriod"}.get(
        daily, f"if {daily} and {short} then 1d else v.windowPeriod")
    return ['import "timezone"', "", f"day = {DAY_NANOSECONDS}  // nanoseconds",
            f"every = {every}",
            f"zone = if int(v: every) >= day then timezone.location(name: {flux_string(zone)}) "
            "else timezone.utc", ""]


_MEASUREMENT = re.compile(r'r\._measurement == "([^"]+)"')
_FIELD = re.compile(r'r\._field == "([^"]+)"')


def reads(query: str) -> tuple[str, set[str]]:
    """The measurement and fields a query built here reads (as select() writes them)."""
    measurements = set(_MEASUREMENT.findall(query))
    if len(measurements) != 1:
        raise ValueError(f"not one measurement in {query!r}")
    return measurements.pop(), set(_FIELD.findall(query))


def windowed(fn: str) -> str:
    """Points per window of the panel, stamped at the window start as pusher stamps them."""
    return (f'    |> aggregateWindow(every: every, fn: {fn}, createEmpty: false, '
            f'timeSrc: "_start", location: zone)')


def named(expression: str) -> list[str]:
    """One series per value of `expression`, in a `series` column (the panels' display name)."""
    return [f"    |> map(fn: (r) => ({{_time: r._time, _value: float(v: r._value), "
            f"series: {expression}}}))",
            '    |> group(columns: ["series"])']


def series(measurement: str, fields: Sequence[str], fn: str, by: str = "r._field", *,
           zone: str, **head: str) -> str:
    """A plain time series per field (or per tag: by="r.kind") aggregated per window."""
    return "\n".join([*window_head(zone, DAILY[head.get("bucket", PICKED_BUCKET)]),
                      *select(measurement, fields, **head), windowed(fn), *named(by)])


def ratio(measurement: str, numerator: str, denominator: str, by: str, scale: float = 1.0, *,
          zone: str, **head: str) -> str:
    """numerator / denominator of the window sums (timing means, activation rate)."""
    factor = f"{scale} * " if scale != 1.0 else ""
    return "\n".join([
        *window_head(zone, DAILY[head.get("bucket", PICKED_BUCKET)]),
        *select(measurement, [numerator, denominator], **head), windowed("sum"),
        '    |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
        f"    |> filter(fn: (r) => r.{denominator} > 0)",
        f"    |> map(fn: (r) => ({{_time: r._time, series: {by}, "
        f"_value: {factor}float(v: r.{numerator}) / float(v: r.{denominator})}}))",
        '    |> group(columns: ["series"])',
    ])


def total(measurement: str, field: str, label: str, **head: str) -> str:
    """The sum of one field over the whole range (a stat)."""
    return "\n".join([*select(measurement, [field], **head), "    |> group()",
                      "    |> sum()",
                      f'    |> map(fn: (r) => ({{_time: now(), _value: float(v: r._value), '
                      f'series: "{label}"}}))'])


def runs(bounds: str = "start: v.timeRangeStart, stop: v.timeRangeStop") -> str:
    """`runs =` pusher_runs points of every source, hourly and daily (both buckets)."""
    return (f"runs = union(tables: [\n"
            f"    from(bucket: {HOURLY_BUCKET}) |> range({bounds}),\n"
            f"    from(bucket: {DAILY_BUCKET}) |> range({bounds}),\n"
            f"])\n"
            f"    |> filter(fn: (r) => r._measurement == {flux_string(RUN_MEASUREMENT)})\n")


STATUS_CODES = {"done": 0, "partial": 1, "failed": 2}


def last_runs(numbers: Sequence[str]) -> str:
    """One row per source: last status (0 done, 1 partial, 2 failed), last `numbers`,
    `age` (seconds since the last successful run) and `stale` (age / schedule interval)."""
    done, partial, failed = (f"{code}.0" for code in STATUS_CODES.values())
    return runs(f"start: {RUNS_LOOKBACK}") + f"""nowSeconds = float(v: uint(v: now())) / {NANOSECONDS}
status = runs
    |> filter(fn: (r) => r._field == "status")
    |> map(fn: (r) => ({{r with _value: if r._value == "done" then {done} else if r._value == "partial" then {partial} else {failed}}}))
numbers = runs
    |> filter(fn: (r) => {field_test(sorted({"interval", *numbers}))})
    |> toFloat()
success = runs
    |> filter(fn: (r) => r._field == "ok")
    |> toInt()
    |> filter(fn: (r) => r._value == 1)
    |> set(key: "_field", value: "last_success")
    |> map(fn: (r) => ({{r with _value: float(v: uint(v: r._time)) / {NANOSECONDS}}}))
union(tables: [status, numbers, success])
    |> group(columns: ["source", "_field"])
    |> last()
    |> group()
    |> pivot(rowKey: ["source"], columnKey: ["_field"], valueColumn: "_value")
"""  # noqa: E501


def health_table(numbers: Sequence[str], epochs: Sequence[str] = ()) -> str:
    """The pipeline health table: one row per source; `epochs` (seconds) become milliseconds,
    the unit of Grafana's date formats."""
    kept = ", ".join(f"{name}: r.{name} * 1000.0" if name in epochs else f"{name}: r.{name}"
                     for name in numbers)
    return last_runs(numbers) + (
        "    |> map(fn: (r) => ({source: r.source, status: r.status, "
        "age: nowSeconds - r.last_success, "
        f"stale: (nowSeconds - r.last_success) / r.interval, {kept}}}))\n")


def per_source(field: str, fn: str, *, zone: str) -> str:
    """One series per source of a pusher_runs field, aggregated per window."""
    return "\n".join(window_head(zone, "false")) + "\n" + runs() + "\n".join([
        "runs",
        f"    |> filter(fn: (r) => r._field == {flux_string(field)})",
        "    |> toFloat()",
        '    |> group(columns: ["source"])',
        windowed(fn),
        *named("r.source"),
    ]) + "\n"
