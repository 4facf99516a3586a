"""InfluxDB 1.x side of the rollups: setup (database, policies, CQs), backfill, reading back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import requests

from pusher.bounded import BoundedSession
from pusher.config import InfluxConfig
from pusher.config.rollups import Rollup, RollupsConfig, Span
from pusher.errors import PusherError
from pusher.points.quoting import influxql_ident, influxql_string
from pusher.rollups.render import (
    TASK_PREFIX,
    continuous_query,
    select_into,
    task_name,
    v1_policies,
)
from pusher.rollups.verify import Point
from pusher.writers import cause_name, one_line, with_setup_hint

_GO_DURATION = re.compile(r"(\d+)(h|m|s)")


class InfluxQL:
    """POST /query to an InfluxDB 1.x; every error in an answer becomes a PusherError."""

    def __init__(self, influx: InfluxConfig, session: requests.Session | None = None):
        self.url = influx.url.rstrip("/") + "/query"
        self.timeout = influx.timeout
        self.session = session or BoundedSession()
        self.session.verify = influx.verify_ssl
        if influx.username or influx.password:
            self.session.auth = (influx.username, influx.password)

    def run(self, query: str, db: str | None = None) -> list[dict[str, Any]]:
        """The series of the one statement `query`; POST serves reads and writes alike."""
        data = {"q": query, "epoch": "s"} | ({"db": db} if db else {})
        try:
            response = self.session.post(self.url, data=data, timeout=self.timeout)
        except requests.RequestException as exc:
            raise PusherError(f"InfluxDB at {self.url} unreachable ({cause_name(exc)})"
                              ) from None
        body = _body(response, self.url)
        errors = [body["error"]] if "error" in body else []
        errors += [r["error"] for r in body.get("results", []) if "error" in r]
        if errors or not response.ok:
            reason = "; ".join(map(str, errors)) or f"HTTP {response.status_code}"
            raise PusherError(with_setup_hint(f"InfluxDB refused {query[:80]!r}: "
                                              f"{one_line(reason)}"))
        series: list[dict[str, Any]] = body["results"][0].get("series", [])
        return series

    def close(self) -> None:
        self.session.close()

    def rows(self, query: str, db: str | None = None) -> Iterator[dict[str, Any]]:
        """Each row as a dict, with the series' tags under the key '@tags'."""
        for series in self.run(query, db):
            for values in series.get("values", []):
                row = dict(zip(series["columns"], values, strict=True))
                row["@tags"] = series.get("tags", {})
                row["@name"] = series.get("name")
                yield row


def _body(response: requests.Response, url: str) -> dict[str, Any]:
    """InfluxQL's JSON answer, checked for its shape: anything else is not InfluxDB."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error" in body:
        return body
    results = body.get("results") if isinstance(body, dict) else None
    if not (isinstance(results, list) and results
            and all(isinstance(r, dict) for r in results)):
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        raise PusherError(f"{url} answered HTTP {response.status_code} {kind}: this is not "
                          "InfluxDB's query API")
    return body


def go_seconds(text: str) -> int:
    """SHOW RETENTION POLICIES durations ("2160h0m0s") as seconds; "0s" is forever."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in _GO_DURATION.findall(text))


def setup(client: InfluxQL, influx: InfluxConfig, rollups: RollupsConfig,
          file: str | None = None) -> list[str]:
    """Database, retention policies and CQs; what was created, updated or left alone."""
    hourly, daily = v1_policies(influx, file)
    db = influx.database
    report = [_database(client, db)]
    policies = {row["name"]: row for row in
                client.rows(f"SHOW RETENTION POLICIES ON {influxql_ident(db)}")}
    for name, span in ((hourly, rollups.hourly_retention), (daily, rollups.daily_retention)):
        report.append(_policy(client, db, name, span, policies.get(name)))
    report += _continuous_queries(client, influx, rollups)
    return report


def setup_targets(client: InfluxQL, influx: InfluxConfig) -> list[str]:
    """Without rollups: the database, and the retention policies [influx] names (kept
    forever, as the database's default one is); an existing policy is left as it is."""
    db = influx.database
    report = [_database(client, db)]
    named = dict.fromkeys(p for p in (influx.retention_policy,
                                      influx.daily_retention_policy) if p)
    if named:
        policies = {row["name"]: row for row in
                    client.rows(f"SHOW RETENTION POLICIES ON {influxql_ident(db)}")}
        report += [_policy(client, db, name, None, policies.get(name)) for name in named]
    return report


def _database(client: InfluxQL, db: str) -> str:
    databases = {row["name"] for row in client.rows("SHOW DATABASES")}
    if db not in databases:
        client.run(f"CREATE DATABASE {influxql_ident(db)}")
    return f"{'unchanged' if db in databases else 'created'} database {db}"


def _policy(client: InfluxQL, db: str, name: str, span: Span | None,
            row: dict[str, Any] | None) -> str:
    """Create or update a retention policy of `span`; None: create it kept forever, or
    leave it as it is."""
    duration = "INF" if span is None or span.seconds == 0 else str(span)
    target = f"retention policy {name} (duration {duration})"
    on = f"{influxql_ident(name)} ON {influxql_ident(db)}"
    if row is None:
        client.run(f"CREATE RETENTION POLICY {on} DURATION {duration} REPLICATION 1")
        return f"created {target}"
    if span is None:
        return f"unchanged retention policy {name}"
    if go_seconds(row["duration"]) == span.seconds:
        return f"unchanged {target}"
    client.run(f"ALTER RETENTION POLICY {on} DURATION {duration}")
    return f"updated {target}"


def _continuous_queries(client: InfluxQL, influx: InfluxConfig, rollups: RollupsConfig
                        ) -> list[str]:
    db = influx.database
    installed = {}
    for series in client.run("SHOW CONTINUOUS QUERIES"):
        if series.get("name") == db:
            installed = {name: query for name, query in series.get("values", [])}
    report = []
    wanted = {task_name(r): continuous_query(r, influx, rollups)
              for r in rollups.measurements.values()}
    on = f"ON {influxql_ident(db)}"
    for name, query in wanted.items():
        if name in installed and _same(installed[name], query):
            report.append(f"unchanged continuous query {name}")
            continue
        if name in installed:
            # No ALTER for continuous queries: replace the whole query.
            client.run(f"DROP CONTINUOUS QUERY {influxql_ident(name)} {on}")
        client.run(query)
        report.append(f"{'updated' if name in installed else 'created'} continuous query {name}")
    for name in installed:
        # Our prefix, no longer configured: a rollup removed from the config.
        if name.startswith(TASK_PREFIX) and name not in wanted:
            client.run(f"DROP CONTINUOUS QUERY {influxql_ident(name)} {on}")
            report.append(f"removed continuous query {name}")
    return report


def _same(installed: str, rendered: str) -> bool:
    # We render InfluxDB's own canonical form; quotes are ignored for older/newer printers.
    return installed == rendered or installed.replace('"', "") == rendered.replace('"', "")


def backfill(client: InfluxQL, influx: InfluxConfig, rollups: RollupsConfig,
             since: datetime, until: datetime) -> list[str]:
    """SELECT ... INTO for every rollup over [since, until): local midnights."""
    report = []
    for rollup in rollups.measurements.values():
        series = client.run(select_into(rollup, influx, rollups, since, until),
                            db=influx.database)
        written = sum(v[1] for s in series for v in s.get("values", []))
        report.append(f"backfilled {rollup.measurement}: {written} daily point(s)")
    return report


def read_points(client: InfluxQL, influx: InfluxConfig, rollup: Rollup, daily: bool,
                since: datetime, until: datetime) -> Iterator[Point]:
    """Hourly points (granularity=hourly) or rolled-up daily ones (daily RP, no tag)."""
    hourly_rp, daily_rp = v1_policies(influx)
    policy, tag = (daily_rp, "") if daily else (hourly_rp, "hourly")
    columns = ", ".join(influxql_ident(f) for f in rollup.fields)
    query = (f"SELECT {columns} FROM {influxql_ident(influx.database)}.{influxql_ident(policy)}."
             f"{influxql_ident(rollup.measurement)} WHERE granularity = {influxql_string(tag)} "
             f"AND time >= {int(since.timestamp())}s AND time < {int(until.timestamp())}s "
             "GROUP BY *")
    for row in client.rows(query, influx.database):
        tags = tuple(sorted((k, v) for k, v in row["@tags"].items()
                            if v and k != "granularity"))
        for name in rollup.fields:
            if row.get(name) is not None:
                yield Point(int(row["time"]), tags, name, row[name])
