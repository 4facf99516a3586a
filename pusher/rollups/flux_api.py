"""InfluxDB 2.x side of the rollups through influxdb-client: buckets, tasks, backfill, reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from influxdb_client import BucketRetentionRules, InfluxDBClient
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.domain.bucket import Bucket
from influxdb_client.domain.post_bucket_request import PostBucketRequest
from influxdb_client.domain.task import Task
from influxdb_client.domain.task_create_request import TaskCreateRequest
from influxdb_client.domain.task_update_request import TaskUpdateRequest
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError

from pusher.config import InfluxConfig
from pusher.config.rollups import Rollup, RollupsConfig, Span
from pusher.errors import ConfigError, PusherError
from pusher.points.quoting import flux_string
from pusher.rollups.render import (
    GRANULARITY,
    TASK_PREFIX,
    flux_backfill,
    flux_task,
    rfc3339,
    task_name,
    v2_buckets,
)
from pusher.rollups.verify import Point
from pusher.writers import cause_name, one_line, with_setup_hint

# Columns of a Flux record that are not tags.
_NOT_TAGS = frozenset({"result", "table", "_start", "_stop", "_time", "_value", "_field",
                       "_measurement", GRANULARITY})


def make_client(influx: InfluxConfig, file: str | None = None) -> InfluxDBClient:
    if not influx.org:
        raise ConfigError('is required with api = "v2"', file=file, key="influx.org")
    return InfluxDBClient(url=influx.url, token=influx.token, org=influx.org,
                          timeout=int(influx.timeout * 1000), verify_ssl=influx.verify_ssl,
                          retries=False)


# What `pusher setup` needs beyond what collect needs (docs/rollups.md, "Tokens").
SETUP_NEEDS = ("`pusher setup` needs a token that may read and write buckets and tasks in "
               "the org (an operator or all-access token); collect needs less")


@contextmanager
def _calling(what: str, needs: str | None = None) -> Iterator[None]:
    """Turn the client's failures into one PusherError line; with `needs`, a 401/403
    says which permission is missing instead of the server's bare answer."""
    try:
        yield
    except ApiException as exc:
        if needs and _refused(exc):
            raise PusherError(f"the token may not {what} (InfluxDB answered {exc.status}: "
                              f"{_message(exc)}); {needs}") from None
        raise PusherError(with_setup_hint(f"InfluxDB answered {exc.status} to {what}: "
                                          f"{_message(exc)}")) from None
    except InfluxDBError as exc:  # raised by the client itself, e.g. an org it cannot find
        raise PusherError(f"{what}: {one_line(str(exc.message))}") from None
    except (HTTPError, OSError) as exc:
        raise PusherError(f"InfluxDB unreachable ({what}): {cause_name(exc)}") from None
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        # The client could not read the answer as Flux's CSV: not InfluxDB's query API.
        raise PusherError(f"InfluxDB's answer to {what} is not Flux's CSV "
                          f"({type(exc).__name__}): is the URL InfluxDB's?") from None


def _refused(exc: ApiException) -> bool:
    # 2.7 answers a task creation without write:tasks with 500 "failed to create task:
    # unauthorized", not 401: the message is what tells.
    return exc.status in (401, 403) or _message(exc).endswith("unauthorized")


def _message(exc: ApiException) -> str:
    """The server's `message` (2.x answers JSON), else the HTTP reason."""
    body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else exc.body
    try:
        return one_line(str(json.loads(body)["message"]))
    except (TypeError, ValueError, KeyError):
        return one_line(str(exc.reason))


def setup(client: InfluxDBClient, influx: InfluxConfig, rollups: RollupsConfig,
          file: str | None = None) -> list[str]:
    """Buckets with their retention, then one task per rollup; reports what changed."""
    hourly, daily = v2_buckets(influx, file)
    org_id = _org_id(client, influx.org)
    report = [_bucket(client, org_id, hourly, rollups.hourly_retention),
              _bucket(client, org_id, daily, rollups.daily_retention)]
    return report + _tasks(client, influx, rollups, org_id)


def setup_buckets(client: InfluxDBClient, influx: InfluxConfig) -> list[str]:
    """Without rollups: the bucket(s) points go to, kept forever; existing ones left alone."""
    org_id = _org_id(client, influx.org)
    names = dict.fromkeys((influx.bucket, influx.bucket_for("daily")))
    return [_bucket(client, org_id, name, None) for name in names]


def _org_id(client: InfluxDBClient, org: str) -> str:
    with _calling(f"read organization {org!r}", SETUP_NEEDS):
        try:
            found = client.organizations_api().find_organizations(org=org)
        except ApiException as exc:
            if exc.status != 404:
                raise
            raise PusherError(f"InfluxDB has no organization {org!r} ([influx] org)"
                              ) from None
    if not found:  # 2.x lists only what the token may read
        raise PusherError(f"the token may not read organization {org!r}; {SETUP_NEEDS}")
    org_id: str = found[0].id
    return org_id


def _rules(span: Span) -> list[BucketRetentionRules]:
    # Always one rule, 0 seconds meaning forever: in a PATCH, no rule means "no change".
    return [BucketRetentionRules(type="expire", every_seconds=span.seconds)]


def find_bucket(client: InfluxDBClient, org_id: str, name: str) -> Bucket | None:
    """The bucket named `name`, or None: 2.x answers 404 when there is none (and an
    empty list when the token may not read it)."""
    try:
        found = client.buckets_api().find_buckets(name=name, org_id=org_id).buckets or []
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return found[0] if found else None


def _bucket(client: InfluxDBClient, org_id: str, name: str, span: Span | None) -> str:
    """Create or update a bucket of retention `span`; None: create it kept forever, or
    leave it as it is."""
    target = f"bucket {name} (retention {span if span and span.seconds else 'forever'})"
    api = client.buckets_api()
    with _calling(f"read bucket {name}", SETUP_NEEDS):
        bucket = find_bucket(client, org_id, name)
    if bucket is None:
        with _calling(f"create bucket {name}", SETUP_NEEDS):
            api.create_bucket(bucket=PostBucketRequest(
                name=name, org_id=org_id, retention_rules=_rules(span or Span(0))))
        return f"created {target}"
    if span is None:
        return f"unchanged bucket {name}"
    current = sum(r.every_seconds or 0 for r in bucket.retention_rules or [])
    if current == span.seconds:
        return f"unchanged {target}"
    bucket.retention_rules = _rules(span)
    with _calling(f"change the retention of bucket {name}", SETUP_NEEDS):
        api.update_bucket(bucket)
    return f"updated {target}"


def _owned(task: Task, influx: InfluxConfig) -> bool:
    """A task this config installed: our prefix, and it writes to this config's daily
    bucket (two configs may share an org: neither touches the other's tasks)."""
    daily = f"to(bucket: {flux_string(influx.bucket_for('daily'))}"
    return bool(task.name.startswith(TASK_PREFIX) and task.flux and daily in task.flux)


def _tasks(client: InfluxDBClient, influx: InfluxConfig, rollups: RollupsConfig,
           org_id: str) -> list[str]:
    api = client.tasks_api()
    wanted = {task_name(r): flux_task(r, influx, rollups) for r in rollups.measurements.values()}
    report = []
    with _calling("read tasks", SETUP_NEEDS):
        installed = {t.name: t for t in api.find_tasks_iter(org_id=org_id) if _owned(t, influx)}
    with _calling("create or change tasks", SETUP_NEEDS):
        for name, flux in wanted.items():
            task = installed.get(name)
            if task is None:
                api.create_task(task_create_request=TaskCreateRequest(
                    flux=flux, org_id=org_id, status="active",
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
