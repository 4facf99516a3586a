"""InfluxDB 2.x side of the rollups through influxdb-client: buckets, tasks, backfill, reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from influxdb_client import BucketRetentionRules, InfluxDBClient
from influxdb_client.domain.task_create_request import TaskCreateRequest
from influxdb_client.domain.task_update_request import TaskUpdateRequest
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError

from pusher.config import InfluxConfig
from pusher.errors import ConfigError, PusherError
from pusher.rollups.config import Rollup, RollupsConfig, Span
from pusher.rollups.render import (
    GRANULARITY,
    TASK_PREFIX,
    flux_backfill,
    flux_string,
    flux_task,
    rfc3339,
    task_name,
    v2_buckets,
)
from pusher.rollups.verify import Point
from pusher.writers import cause_name, one_line

# Columns of a Flux record that are not tags.
_NOT_TAGS = frozenset({"result", "table", "_start", "_stop", "_time", "_value", "_field",
                       "_measurement", GRANULARITY})


def make_client(influx: InfluxConfig, file: str | None = None) -> InfluxDBClient:
    if not influx.org:
        raise ConfigError('is required with api = "v2"', file=file, key="influx.org")
    return InfluxDBClient(url=influx.url, token=influx.token, org=influx.org,
                          timeout=int(influx.timeout * 1000), verify_ssl=influx.verify_ssl,
                          retries=False)


@contextmanager
def _calling(what: str) -> Iterator[None]:
    """Turn the client's HTTP failures into one PusherError line."""
    try:
        yield
    except ApiException as exc:
        raise PusherError(f"InfluxDB answered {exc.status} to {what}: "
                          f"{one_line(str(exc.reason))}") from None
    except (HTTPError, OSError) as exc:
        raise PusherError(f"InfluxDB unreachable ({what}): {cause_name(exc)}") from None
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        # The client could not read the answer as Flux's CSV: not InfluxDB's query API.
        raise PusherError(f"InfluxDB's answer to {what} is not Flux's CSV "
                          f"({type(exc).__name__}): is the URL InfluxDB's?") from None


def setup(client: InfluxDBClient, influx: InfluxConfig, rollups: RollupsConfig,
          file: str | None = None) -> list[str]:
    """Buckets with their retention, then one task per rollup; reports what changed."""
    hourly, daily = v2_buckets(influx, file)
    report = [_bucket(client, influx.org, hourly, rollups.hourly_retention),
              _bucket(client, influx.org, daily, rollups.daily_retention)]
    return report + _tasks(client, influx, rollups)


def _rules(span: Span) -> list[BucketRetentionRules]:
    # Always one rule, 0 seconds meaning forever: in a PATCH, no rule means "no change".
    return [BucketRetentionRules(type="expire", every_seconds=span.seconds)]


def _bucket(client: InfluxDBClient, org: str, name: str, span: Span) -> str:
    target = f"bucket {name} (retention {span if span.seconds else 'forever'})"
    api = client.buckets_api()
    with _calling(f"bucket {name}"):
        found = api.find_buckets(name=name, org=org).buckets or []
        if not found:
            api.create_bucket(bucket_name=name, retention_rules=_rules(span), org=org)
            return f"created {target}"
        bucket = found[0]
        current = sum(r.every_seconds or 0 for r in bucket.retention_rules or [])
        if current == span.seconds:
            return f"unchanged {target}"
        bucket.retention_rules = _rules(span)
        api.update_bucket(bucket)
    return f"updated {target}"


def _tasks(client: InfluxDBClient, influx: InfluxConfig, rollups: RollupsConfig) -> list[str]:
    api = client.tasks_api()
    wanted = {task_name(r): flux_task(r, influx, rollups) for r in rollups.measurements.values()}
    report = []
    with _calling("tasks"):
        installed = {t.name: t for t in api.find_tasks(org=influx.org, limit=500)
                     if t.name.startswith(TASK_PREFIX)}
        for name, flux in wanted.items():
            task = installed.get(name)
            if task is None:
                api.create_task(task_create_request=TaskCreateRequest(
                    flux=flux, org=influx.org, status="active",
                    description="daily rollup rendered by pusher"))
                report.append(f"created task {name}")
            elif task.flux != flux:
                api.update_task_request(task.id, TaskUpdateRequest(flux=flux))
                report.append(f"updated task {name}")
            else:
                report.append(f"unchanged task {name}")
        for name, task in installed.items():
            if name not in wanted:  # a rollup removed from the config
                api.delete_task(task.id)
                report.append(f"removed task {name}")
    return report


def backfill(client: InfluxDBClient, influx: InfluxConfig, rollups: RollupsConfig,
             since: datetime, until: datetime) -> list[str]:
    """The tasks' pipeline as one-shot queries over [since, until)."""
    report = []
    for rollup in rollups.measurements.values():
        with _calling(f"the backfill of {rollup.measurement}"):
            client.query_api().query(flux_backfill(rollup, influx, rollups, since, until),
                                     org=influx.org)
        report.append(f"backfilled {rollup.measurement}")
    return report


def read_query(rollup: Rollup, influx: InfluxConfig, daily: bool, since: datetime,
               until: datetime) -> str:
    """Flux reading a rollup's hourly or daily points back."""
    bucket = influx.bucket_for("daily" if daily else "hourly")
    fields = " or ".join(f"r._field == {flux_string(f)}" for f in rollup.fields)
    start, stop = rfc3339(since), rfc3339(until)
    return (f"from(bucket: {flux_string(bucket)})\n"
            f"    |> range(start: {start}, stop: {stop})\n"
            f"    |> filter(fn: (r) => r._measurement == {flux_string(rollup.measurement)} and "
            f"r.{GRANULARITY} == \"{'daily' if daily else 'hourly'}\")\n"
            f"    |> filter(fn: (r) => {fields})\n")


def read_points(client: InfluxDBClient, influx: InfluxConfig, rollup: Rollup, daily: bool,
                since: datetime, until: datetime) -> Iterator[Point]:
    query = read_query(rollup, influx, daily, since, until)
    with _calling(f"reading {rollup.measurement}"):
        tables = client.query_api().query(query, org=influx.org)
        for table in tables:
            for record in table.records:
                values = record.values
                tags = tuple(sorted((k, str(v)) for k, v in values.items()
                                    if k not in _NOT_TAGS and v not in (None, "")))
                yield Point(int(record.get_time().timestamp()), tags, record.get_field(),
                            record.get_value())
