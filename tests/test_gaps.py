"""Sources tell the truth about gaps (issue 12 §4): NaN is no value, and "no data" is said.

Real Prometheus (0/0 evaluated by PromQL itself), real PostgreSQL and SQLite, real InfluxDB.
"""

import re
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from ops_helpers import pusher, write_config
from servers import Prometheus

# PromQL's own NaN and infinity: what `rate(x) / rate(y)` gives over an hour without traffic.
NAN_QUERIES = """
[[sources.prom.queries]]
query = 'sum by (job) (up)'
measurement = "scrape"
field = "up"
[[sources.prom.queries]]
query = 'vector(0) / 0'
measurement = "ratio"
[[sources.prom.queries]]
query = 'vector(1) / 0'
measurement = "speed"
"""


def prom_source(url: str, queries: str, extra: str = "") -> str:
    return f'[sources.prom]\ntype = "prometheus"\nurl = "{url}"\n{extra}\n{queries}'


def summary(result, source: str) -> str:
    (line,) = [x for x in result.stderr.splitlines() if x.startswith(f"- {source} ")]
    return line


def windows_of(line: str) -> int:
    return int(re.search(r" windows=(\d+) ", line).group(1))


@pytest.fixture(scope="module")
def prom(prometheus):
    prometheus.wait_for_samples("up")
    return prometheus


def test_prometheus_nan_and_infinities_are_skipped_counted_and_exit_0(
        tmp_path, prom, influxdb1, influx_db):
    config = write_config(tmp_path, influxdb1.url, influx_db, prom_source(prom.url, NAN_QUERIES))
    result = pusher("collect", "prom", "--since", "2h", config=config)
    assert result.returncode == 0, result.stderr
    line = summary(result, "prom")
    windows = windows_of(line)
    # One NaN and one +Inf sample per window, each left out and counted.
    assert f" skipped_nan={2 * windows} " in line and "[done]" in line and " refused=0 " in line
    assert "WARNING" not in result.stderr
    assert influxdb1.select('SELECT * FROM "ratio"', db=influx_db) == []
    assert influxdb1.select('SELECT up FROM "scrape"', db=influx_db)  # the others still go
    assert not (tmp_path / "state" / "dead-letter.jsonl").exists()


def test_prometheus_nan_refuse_keeps_refusing_them(tmp_path, prom, influxdb1, influx_db):
    sources = prom_source(prom.url, NAN_QUERIES, extra='nan = "refuse"')
    result = pusher("collect", "prom", config=write_config(tmp_path, influxdb1.url, influx_db,
                                                           sources))
    assert result.returncode == 1
    line = summary(result, "prom")
    assert f" refused={2 * windows_of(line)} " in line and "[partial]" in line
    assert "skipped_nan" not in line
    dead = (tmp_path / "state" / "dead-letter.jsonl").read_text()
    assert "field 'value' is nan" in dead and "field 'value' is inf" in dead


def test_a_bad_nan_rule_is_a_config_error(tmp_path, prom, influxdb1, influx_db):
    sources = prom_source(prom.url, NAN_QUERIES, extra='nan = "drop"')
    result = pusher("collect", "prom", config=write_config(tmp_path, influxdb1.url, influx_db,
                                                           sources))
    assert result.returncode == 2
    assert "sources.prom.nan: must be \"skip\"" in result.stderr


def test_a_query_that_returns_nothing_right_after_prometheus_started_is_named(
        tmp_path, influxdb1, influx_db):
    queries = """
[[sources.prom.queries]]
query = 'sum by (job) (up)'
measurement = "scrape"
[[sources.prom.queries]]
query = 'sum(increase(http_requests_total[$__range]))'
measurement = "http_requests"
"""
    with Prometheus(tmp_path / "fresh") as fresh:  # the demo's case: nothing scraped yet
        fresh.wait_for_samples("up")
        config = write_config(tmp_path, influxdb1.url, influx_db,
                              prom_source(fresh.url, queries))
        result = pusher("collect", "prom", config=config)
    assert result.returncode == 0, result.stderr
    line = summary(result, "prom")
    assert " (no data: http_requests) " in line, line
    assert "scrape" not in line  # a query with data is not named


# --- SQL -----------------------------------------------------------------------------------

@pytest.fixture
def pg_table(postgres):
    """A metrics table with NaN and infinities in some columns, in this hour and last."""
    table = f"gaps_{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    engine = sqlalchemy.create_engine(postgres.sqlalchemy_url)
    with engine.begin() as db:
        db.exec_driver_sql(f"CREATE TABLE {table} (shop text, ratio float8, visits int, "
                           "duration float8, at timestamptz)")
        db.exec_driver_sql(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s)", [
            ("a", float("nan"), 10, 1.5, now),
            ("b", 0.5, 20, float("inf"), now),
            ("c", float("nan"), 30, float("-inf"), now),
            ("d", 0.25, 40, 2.5, now)])
    yield postgres.sqlalchemy_url, table
    engine.dispose()


def sql_source(url: str, sql: str, measurement: str, extra: str = "") -> str:
    return (f'[sources.db]\ntype = "sql"\nurl = "{url}"\n{extra}\n[[sources.db.queries]]\n'
            f'sql = "{sql}"\nmeasurement = "{measurement}"\n')


def test_sql_a_nan_in_one_column_drops_only_that_field(tmp_path, pg_table, influxdb1,
                                                       influx_db):
    url, table = pg_table
    query = (f"SELECT shop, ratio, visits, duration FROM {table} "
             "WHERE at >= :start AND at < :end")
    sources = sql_source(url, query, "shops") + 'tags = ["shop"]\n'
    result = pusher("collect", "db", config=write_config(tmp_path, influxdb1.url, influx_db,
                                                         sources))
    assert result.returncode == 0, result.stderr
    line = summary(result, "db")
    assert " written=4 refused=0 skipped_nan=4 [done]" in line, line
    rows = {r["shop"]: r for r in influxdb1.select('SELECT * FROM "shops" GROUP BY shop',
                                                   db=influx_db)}
    assert {s: (r["ratio"], r["visits"], r["duration"]) for s, r in rows.items()} == {
        "a": (None, 10, 1.5), "b": (0.5, 20, None), "c": (None, 30, None),
        "d": (0.25, 40, 2.5)}


def test_sql_nan_refuse_refuses_the_rows_as_before(tmp_path, pg_table, influxdb1, influx_db):
    url, table = pg_table
    query = f"SELECT shop, ratio, visits FROM {table} WHERE at >= :start AND at < :end"
    sources = sql_source(url, query, "shops", extra='nan = "refuse"') + 'tags = ["shop"]\n'
    result = pusher("collect", "db", config=write_config(tmp_path, influxdb1.url, influx_db,
                                                         sources))
    assert result.returncode == 1
    assert " written=2 refused=2 [partial]" in summary(result, "db")


def test_sql_statistics_leave_nan_and_infinities_out_and_count_them(tmp_path, pg_table,
                                                                    influxdb1, influx_db):
    url, table = pg_table
    sources = (sql_source(url, f"SELECT duration FROM {table} WHERE at >= :start AND "
                               "at < :end", "timings")
               + 'aggregate = { column = "duration", stats = ["count", "max"] }\n')
    result = pusher("collect", "db", config=write_config(tmp_path, influxdb1.url, influx_db,
                                                         sources))
    assert result.returncode == 0, result.stderr
    assert " skipped_nan=2 [done]" in summary(result, "db")
    [row] = influxdb1.select('SELECT "count", "max" FROM "timings"', db=influx_db)
    assert (row["count"], row["max"]) == (2, 2.5)


def test_sql_a_table_without_rows_in_the_window_is_named(tmp_path, influxdb1, influx_db):
    path = tmp_path / "site.sqlite"
    old = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S")
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE signups (plan TEXT, created_at TEXT)")
        db.execute("INSERT INTO signups VALUES ('pro', ?)", (old,))
        db.execute("CREATE TABLE visits (created_at TEXT)")
        db.execute("INSERT INTO visits VALUES (datetime('now'))")
    db.close()
    sources = (sql_source("sqlite:///site.sqlite", "SELECT plan, 1 AS n FROM signups WHERE "
                          "created_at >= :start AND created_at < :end", "signups")
               + 'tags = ["plan"]\n[[sources.db.queries]]\nsql = "SELECT count(*) AS n FROM '
               'visits WHERE created_at >= :start AND created_at < :end"\n'
               'measurement = "visits"\n')
    result = pusher("collect", "db", config=write_config(tmp_path, influxdb1.url, influx_db,
                                                         sources))
    assert result.returncode == 0, result.stderr
    line = summary(result, "db")
    assert " (no data: signups) " in line and "visits" not in line, line
