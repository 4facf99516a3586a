"""setup, backfill and verify for either API: the library behind the `rollups` commands."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pusher.config import Config
from pusher.reading import Granularity, Window, floor_to
from pusher.rollups import flux_api, influxql
from pusher.rollups.render import v1_policies, v2_buckets
from pusher.rollups.verify import Point, Report, compare, complete_days, daily_values, recompute


def _file(config: Config) -> str | None:
    return str(config.path) if config.path else None


def check(config: Config) -> None:
    """Fail with a ConfigError now if the places the rollups need are not configured."""
    if config.influx.api == "v1":
        v1_policies(config.influx, _file(config))
    else:
        v2_buckets(config.influx, _file(config))


def _client(config: Config) -> Any:
    if config.influx.api == "v1":
        return influxql.InfluxQL(config.influx)
    return flux_api.make_client(config.influx, _file(config))


def _api(config: Config) -> Any:
    return influxql if config.influx.api == "v1" else flux_api


def setup(config: Config) -> list[str]:
    """Create or update what the config needs: where points go (database or buckets),
    and with `[rollups]` their retention and the rollups; lines of created/updated/unchanged."""
    has_rollups = "rollups" in config.raw
    if has_rollups:
        check(config)
    client = _client(config)
    try:
        if not has_rollups:  # the simplest config: only the places points are written to
            if config.influx.api == "v1":
                return influxql.setup_targets(client, config.influx)
            return flux_api.setup_buckets(client, config.influx)
        return _api(config).setup(client, config.influx, config.rollups, _file(config))
    finally:
        client.close()


def day_bounds(config: Config, since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """[since, until) widened to local midnights of the rollups' timezone."""
    tz = config.rollups.timezone
    start = floor_to(since, Granularity.DAILY, tz)
    end = floor_to(until, Granularity.DAILY, tz)
    if end < until:
        end = Window.containing(until, Granularity.DAILY, tz).end
    return start, end


def backfill(config: Config, since: datetime, until: datetime) -> list[str]:
    """Compute the daily points of the local days overlapping [since, until) now."""
    check(config)
    start, end = day_bounds(config, since, until)
    lines = [f"days {start.isoformat()} .. {end.isoformat()} ({config.rollups.timezone.key})"]
    client = _client(config)
    try:
        return lines + _api(config).backfill(client, config.influx, config.rollups, start, end)
    finally:
        client.close()


def verify(config: Config, since: datetime, until: datetime, now: datetime) -> Report:
    """Recompute each complete local day from the hourly points and compare with the daily."""
    check(config)
    start, end = complete_days(since, until, now, config.rollups.timezone)
    report = Report()
    if start >= end:
        return report
    client, api = _client(config), _api(config)
    try:
        for rollup in config.rollups.measurements.values():
            hourly: Iterable[Point] = api.read_points(client, config.influx, rollup, False,
                                                      start, end)
            daily = api.read_points(client, config.influx, rollup, True, start, end)
            compare(rollup, recompute(hourly, rollup, config.rollups.timezone),
                    daily_values(daily), report, config.rollups.timezone)
    finally:
        client.close()
    return report
