"""Rollups as text: Flux tasks (2.x) and continuous queries (1.x). Pure functions, no I/O.

1.x cannot set a tag value in `SELECT ... INTO`, so there the retention policy says "daily":
a continuous query groups by every tag except `granularity` (a regular expression on tag
keys), and rolled-up points land in the daily retention policy without a granularity tag,
never with a wrong one. 2.x tasks set granularity=daily and write to the daily bucket.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pusher.config import InfluxConfig
from pusher.config.rollups import Rollup, RollupsConfig
from pusher.errors import ConfigError
from pusher.points.quoting import flux_string, influxql_ident, influxql_string

HEADER = "Rendered by `pusher rollups render` from the config; edit the config, not this file."
TASK_PREFIX = "pusher_rollup_"
GRANULARITY = "granularity"


def task_name(rollup: Rollup) -> str:
    return TASK_PREFIX + rollup.measurement


def every_tag_but(tag: str) -> str:
    """An RE2 regex (no look-ahead there) matching every tag key except `tag`."""
    differs = [f"{re.escape(tag[:i])}[^{re.escape(tag[i])}]" for i in range(len(tag))]
    return f"/^(?:{'|'.join(differs)}|{re.escape(tag)}.)|^.{{0,{len(tag) - 1}}}$/"


def v1_policies(influx: InfluxConfig, file: str | None = None) -> tuple[str, str]:
    """The hourly and daily retention policies; 1.x rollups need two distinct ones."""
    hourly, daily = influx.retention_policy, influx.daily_retention_policy
    if not hourly:
        raise ConfigError('must name the hourly retention policy for rollups (e.g. "hourly")',
                          file=file, key="influx.retention_policy")
    if not daily or daily == hourly:
        raise ConfigError("must name a retention policy of its own for the daily points "
                          '(e.g. "daily"): in 1.x it is what marks rolled-up points',
                          file=file, key="influx.daily_retention_policy")
    return hourly, daily


def select_into(rollup: Rollup, influx: InfluxConfig, rollups: RollupsConfig,
                since: datetime | None = None, until: datetime | None = None) -> str:
    """The SELECT ... INTO of one rollup; with since/until, for a backfill."""
    hourly, daily = v1_policies(influx)
    db, name = influxql_ident(influx.database), influxql_ident(rollup.measurement)
    columns = ", ".join(f"{function}({influxql_ident(f)}) AS {influxql_ident(f)}"
                        for f, function in rollup.fields.items())
    where = f"{GRANULARITY} = 'hourly'"
    if since is not None and until is not None:
        where += f" AND time >= {influxql_string(rfc3339(since))}" \
                 f" AND time < {influxql_string(rfc3339(until))}"
    return (f"SELECT {columns} INTO {db}.{influxql_ident(daily)}.{name} "
            f"FROM {db}.{influxql_ident(hourly)}.{name} WHERE {where} "
            f"GROUP BY time(1d), {every_tag_but(GRANULARITY)} "
            f"TZ({influxql_string(rollups.timezone.key)})")


def continuous_query(rollup: Rollup, influx: InfluxConfig, rollups: RollupsConfig) -> str:
    """CREATE CONTINUOUS QUERY, in the exact form InfluxDB 1.x prints it back."""
    return (f"CREATE CONTINUOUS QUERY {influxql_ident(task_name(rollup))} "
            f"ON {influxql_ident(influx.database)} "
            f"RESAMPLE EVERY {rollups.every} FOR {rollups.lookback} "
            f"BEGIN {select_into(rollup, influx, rollups)} END")


def continuous_queries_file(influx: InfluxConfig, rollups: RollupsConfig) -> str:
    """Every continuous query, one statement a line: influx/continuous_queries.influxql."""
    lines = [f"-- {HEADER}"]
    lines += [continuous_query(r, influx, rollups) + ";" for r in rollups.measurements.values()]
    return "\n".join(lines) + "\n"


def v2_buckets(influx: InfluxConfig, file: str | None = None) -> tuple[str, str]:
    """The hourly and daily buckets; 2.x rollups need a daily bucket of their own."""
    daily = influx.bucket_for("daily")
    if daily == influx.bucket:
        raise ConfigError('must name a bucket of its own for the daily points (e.g. '
                          '"pusher_daily"): hourly and daily retention differ',
                          file=file, key="influx.daily_bucket")
    return influx.bucket, daily


def flux_pipeline(rollup: Rollup, influx: InfluxConfig, start: str, stop: str | None = None
                  ) -> str:
    """Read a rollup's hourly points from `start`, write daily ones: shared by task/backfill."""
    hourly, daily = v2_buckets(influx)
    bounds = f"start: {start}" + (f", stop: {stop}" if stop else "")
    org = f", org: {flux_string(influx.org)}" if influx.org else ""
    parts = [
        f"hourly = from(bucket: {flux_string(hourly)})\n"
        f"    |> range({bounds})\n"
        f"    |> filter(fn: (r) => r._measurement == {flux_string(rollup.measurement)}"
        f' and r.{GRANULARITY} == "hourly")'
    ]
    for function, names in rollup.by_function().items():
        test = " or ".join(f"r._field == {flux_string(n)}" for n in names)
        parts.append(
            f"hourly\n    |> filter(fn: (r) => {test})\n"
            f"    |> aggregateWindow(every: 1d, fn: {function}, timeSrc: \"_start\", "
            "createEmpty: false, location: location)\n"
            f'    |> set(key: "{GRANULARITY}", value: "daily")\n'
            f"    |> to(bucket: {flux_string(daily)}{org})"
        )
    return "\n\n".join(parts) + "\n"


def _flux_head(rollups: RollupsConfig) -> str:
    return ('import "date"\nimport "timezone"\n\n'
            f"option location = timezone.location(name: {flux_string(rollups.timezone.key)})\n")


def flux_task(rollup: Rollup, influx: InfluxConfig, rollups: RollupsConfig) -> str:
    """The 2.x task of one rollup: re-aggregates the last `lookback` local days, today too."""
    back = rollups.lookback.days - 1
    anchor = f"-{back}d" if back else "now()"
    return (f"// {HEADER}\n{_flux_head(rollups)}"
            f"option task = {{name: {flux_string(task_name(rollup))}, "
            f"every: {rollups.every}, offset: {rollups.offset}}}\n\n"
            f"// Local midnight {back} day(s) back: no day is ever aggregated from part of it.\n"
            + flux_pipeline(rollup, influx,
                            f"date.truncate(t: {anchor}, unit: 1d, location: location)"))


def flux_backfill(rollup: Rollup, influx: InfluxConfig, rollups: RollupsConfig,
                  since: datetime, until: datetime) -> str:
    """A one-shot query: the task's pipeline over [since, until) (local midnights)."""
    return _flux_head(rollups) + "\n" + flux_pipeline(rollup, influx, rfc3339(since),
                                                      rfc3339(until))


def rendered_files(influx: InfluxConfig, rollups: RollupsConfig, api: str | None = None
                   ) -> dict[str, str]:
    """Relative path -> text of every file under influx/ (both APIs unless `api`)."""
    files: dict[str, str] = {}
    if api in (None, "v1"):
        files["continuous_queries.influxql"] = continuous_queries_file(influx, rollups)
    if api in (None, "v2"):
        for rollup in rollups.measurements.values():
            files[f"tasks/{rollup.measurement}.flux"] = flux_task(rollup, influx, rollups)
    return files


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
