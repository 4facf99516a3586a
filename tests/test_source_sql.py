"""The sql source against a real PostgreSQL 15 and SQLite: windows, types, statistics, errors."""

import math
import random
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
import sqlalchemy
from cli_helpers import run_pusher

from pusher.errors import ConfigError, SourceError
from pusher.reading import Granularity, Window
from pusher.sources import check_options
from pusher.sources.aggregate import percentile_cont
from pusher.sources.sql import engine_for, field_value, sql

WINDOW = Window.containing(datetime(2026, 11, 27, 10, 30, tzinfo=UTC), Granularity.HOURLY)
STAGES = ("browser", "checks", "total")
PERCENTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


def in_window(rng: random.Random) -> datetime:
    return WINDOW.start + timedelta(microseconds=rng.randrange(3_600_000_000))


def boundary_rows() -> list[tuple[str, datetime]]:
    """Exactly at the start (in), a microsecond before it and exactly at the end (out)."""
    return [("edge", WINDOW.start), ("before", WINDOW.start - timedelta(microseconds=1)),
            ("after", WINDOW.end)]


@pytest.fixture(scope="module")
def pg(postgres):
    """A schema of our own with events and timings, and a writable engine to check against."""
    schema = f"sqltest_{uuid.uuid4().hex[:8]}"
    rng = random.Random(7)
    engine = sqlalchemy.create_engine(postgres.sqlalchemy_url)
    events = [(rng.choice(["login", "signup"]), in_window(rng)) for _ in range(300)]
    timings = [(rng.choice(STAGES), rng.lognormvariate(1, 1), in_window(rng).replace(tzinfo=None))
               for _ in range(700)]
    timings += [("checks", 3.0, WINDOW.start.replace(tzinfo=None))] * 5  # ties
    with engine.begin() as db:
        db.exec_driver_sql(f"CREATE SCHEMA {schema}")
        db.exec_driver_sql(f"CREATE TABLE {schema}.events (kind text, created_at timestamptz)")
        db.exec_driver_sql(f"CREATE TABLE {schema}.timings (stage text, duration float8, "
                           "created_at timestamp)")  # without time zone: read as UTC
        db.exec_driver_sql(f"INSERT INTO {schema}.events VALUES (%s, %s)",
                           [*events, *boundary_rows()])
        db.exec_driver_sql(f"INSERT INTO {schema}.timings VALUES (%s, %s, %s)", timings)
        db.exec_driver_sql(f"CREATE FUNCTION {schema}.sneak() RETURNS int LANGUAGE sql AS "
                           f"$$ INSERT INTO {schema}.events VALUES ('sneaky', now()) "
                           "RETURNING 1 $$")
    yield postgres.sqlalchemy_url, schema, engine
    engine.dispose()


@pytest.fixture
def lite(tmp_path):
    """A SQLite file with times stored as UTC text, as the source documents."""
    path = tmp_path / "site.sqlite"
    rng = random.Random(3)
    rows = [(rng.choice(["login", "signup"]), in_window(rng)) for _ in range(200)]
    rows += boundary_rows()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE events (kind TEXT, created_at TEXT, size REAL)")
        db.executemany("INSERT INTO events VALUES (?, ?, ?)",
                       [(k, t.strftime("%Y-%m-%d %H:%M:%S.%f"), 1.5) for k, t in rows])
    db.close()
    return f"sqlite:///{path}", rows


def counts_of(readings):
    return {r.tags["kind"]: r.fields["count"] for r in readings}


EVENTS_SQL = ("SELECT kind, count(*) AS count FROM {t} "
              "WHERE created_at >= :start AND created_at < :end GROUP BY kind")


def test_postgres_event_counts_match_postgres_itself(pg):
    url, schema, engine = pg
    query = {"sql": EVENTS_SQL.format(t=f"{schema}.events"), "measurement": "events",
             "tags": ["kind"]}
    readings = list(sql(WINDOW, url, [query]))
    with engine.connect() as db:
        expected = dict(db.exec_driver_sql(
            f"SELECT kind, count(*) FROM {schema}.events WHERE created_at >= %s "
            "AND created_at < %s GROUP BY kind", (WINDOW.start, WINDOW.end)).all())
    assert counts_of(readings) == expected
    assert expected["edge"] == 1 and "before" not in expected and "after" not in expected
    assert all(type(r.fields["count"]) is int and r.time is None for r in readings)


def test_timings_statistics_match_postgres_percentile_cont(pg):
    url, schema, engine = pg
    stats = ["count", "sum", "mean", "min", "max", *PERCENTILES]
    query = {"sql": f"SELECT stage, duration FROM {schema}.timings "
                    "WHERE created_at >= :start AND created_at < :end",
             "measurement": "timings",
             "aggregate": {"column": "duration", "group_by": ["stage"], "stats": stats}}
    ours = {r.tags["stage"]: r.fields for r in sql(WINDOW, url, [query])}
    percentiles = ", ".join(f"percentile_cont({p}) WITHIN GROUP (ORDER BY duration)"
                            for p in PERCENTILES.values())
    with engine.connect() as db:
        rows = db.exec_driver_sql(
            f"SELECT stage, count(*), sum(duration), avg(duration), min(duration), "
            f"max(duration), {percentiles} FROM {schema}.timings WHERE created_at >= %s "
            "AND created_at < %s GROUP BY stage",
            (WINDOW.start.replace(tzinfo=None), WINDOW.end.replace(tzinfo=None))).all()
    assert set(ours) == set(STAGES)
    for stage, count, total, mean, low, high, *cuts in rows:
        mine = ours[stage]
        assert mine["count"] == count and type(mine["count"]) is int
        assert math.isclose(mine["sum"], total, rel_tol=1e-12)
        assert math.isclose(mine["mean"], mean, rel_tol=1e-12)
        assert (mine["min"], mine["max"]) == (low, high)
        # The same interpolation, in the same order: equal to the last bit.
        assert [mine[p] for p in PERCENTILES] == cuts


@pytest.mark.parametrize("size", [1, 2, 3, 10, 101])
def test_percentile_cont_small_groups_match_postgres(pg, size):
    _, _, engine = pg
    values = [random.Random(size).uniform(0, 10) for _ in range(size)]
    fractions = [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0]
    with engine.connect() as db:
        expected = db.exec_driver_sql(
            "SELECT " + ", ".join(f"percentile_cont({f}) WITHIN GROUP (ORDER BY v)"
                                  for f in fractions) + " FROM unnest(%s::float8[]) AS v",
            (values,)).one()
    assert [percentile_cont(sorted(values), f) for f in fractions] == list(expected)


def test_postgres_numeric_types_nulls_and_time_column(pg):
    url, _, _ = pg
    query = {"sql": "SELECT 'a' AS kind, sum(x) AS total, avg(x) AS mean, NULL::int AS gone, "
                    "12.50::numeric(5,2) AS price, :start AS hour "
                    "FROM (VALUES (1::bigint), (2::bigint)) AS t(x) "
                    "UNION ALL SELECT 'b', NULL, NULL, NULL, NULL, :end",
             "measurement": "m", "tags": ["kind"], "time": "hour"}
    readings = list(sql(WINDOW, url, [query]))
    assert len(readings) == 1  # the row whose fields are all NULL is skipped
    assert readings[0].fields == {"total": 3, "mean": 1.5, "price": 12.5}
    assert type(readings[0].fields["total"]) is int
    assert readings[0].time == WINDOW.start


def test_postgres_is_read_only(pg):
    url, schema, engine = pg
    # A plain INSERT cannot even be streamed (a server-side cursor takes SELECTs only); a
    # function that writes can, and the read-only transaction stops it.
    with pytest.raises(SourceError, match="evil"):
        list(sql(WINDOW, url, [{"sql": f"INSERT INTO {schema}.events VALUES ('sneaky', now())",
                                "measurement": "evil"}]))
    with pytest.raises(SourceError, match="cannot execute INSERT in a read-only transaction"):
        list(sql(WINDOW, url, [{"sql": f"SELECT {schema}.sneak() AS n", "measurement": "evil"}]))
    with engine.connect() as db:
        assert db.exec_driver_sql(
            f"SELECT count(*) FROM {schema}.events WHERE kind = 'sneaky'").scalar() == 0


def test_sqlite_counts_with_window_boundaries(lite):
    url, rows = lite
    readings = list(sql(WINDOW, url, [{"sql": EVENTS_SQL.format(t="events"),
                                       "measurement": "events", "tags": ["kind"]}]))
    expected = {}
    for kind, moment in rows:
        if WINDOW.start <= moment < WINDOW.end:
            expected[kind] = expected.get(kind, 0) + 1
    assert counts_of(readings) == expected
    assert expected["edge"] == 1


def test_sqlite_is_read_only_and_never_created(lite, tmp_path):
    url, _ = lite
    with pytest.raises(SourceError, match="readonly database"):
        list(sql(WINDOW, url, [{"sql": "INSERT INTO events VALUES ('x', '', 1)",
                                "measurement": "evil"}]))
    missing = tmp_path / "missing.sqlite"
    with pytest.raises(SourceError, match=r"cannot connect to sqlite:///.*evil"):
        list(sql(WINDOW, f"sqlite:///{missing}", [{"sql": "SELECT 1 AS n",
                                                   "measurement": "evil"}]))
    assert not missing.exists()


def test_a_failing_query_is_named_and_the_others_still_run(lite):
    url, _ = lite
    queries = [{"sql": "SELECT nope FROM nowhere", "measurement": "broken"},
               {"sql": EVENTS_SQL.format(t="events"), "measurement": "events", "tags": ["kind"]},
               {"sql": "SELECT 1 AS n", "measurement": "typo", "tags": ["knd"]}]
    readings, error = [], None
    try:
        for reading in sql(WINDOW, url, queries):
            readings.append(reading)
    except SourceError as exc:
        error = str(exc)
    assert {r.measurement for r in readings} == {"events"}
    assert error is not None
    assert "queries[0] broken: OperationalError: no such table: nowhere" in error
    assert "queries[2] typo: column 'knd' is not in the result (columns: n)" in error


def test_connection_errors_hide_the_password(postgres):
    url = postgres.sqlalchemy_url.replace(f":{postgres.password}@", ":s3cret-pw@")
    with pytest.raises(SourceError) as caught:
        list(sql(WINDOW, url, [{"sql": "SELECT 1 AS n", "measurement": "objects"}]))
    message = str(caught.value)
    assert "s3cret-pw" not in message
    assert "cannot connect to postgresql+psycopg2://pusher:***@127.0.0.1" in message
    assert "password authentication failed" in message and "objects" in message


def test_engines_are_cached_per_url(lite):
    url, _ = lite
    assert engine_for(url) is engine_for(url)


def test_field_values_by_type():
    assert field_value(Decimal("42"), explicit=False) == 42
    assert type(field_value(Decimal("4.20"), explicit=False)) is float
    assert field_value(timedelta(seconds=1.5), explicit=False) == 1.5
    assert field_value("text", explicit=False) is None  # only numbers by default
    assert field_value("text", explicit=True) == "text"
    assert field_value(datetime(2026, 1, 1, tzinfo=UTC), explicit=True) == \
        "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(("options", "key", "problem"), [
    ({"url": "nope", "queries": []}, "sources.s.url", "must be an SQLAlchemy URL"),
    ({"url": "sqlite://", "queries": []}, "sources.s.queries", "non-empty list"),
    ({"url": "sqlite://", "queries": [{"sql": "SELECT 1"}]}, "sources.s.queries[0].measurement",
     "is required"),
    ({"url": "sqlite://", "queries": [{"sql": "x", "measurement": "m", "tag": ["a"]}]},
     "sources.s.queries[0].tag", "unknown key"),
    ({"url": "sqlite://", "queries": [{"sql": "x", "measurement": "m", "fields": []}]},
     "sources.s.queries[0].fields", "must not be empty"),
    ({"url": "sqlite://", "queries": [{"sql": "x", "measurement": "m", "tags": ["a"],
                                       "aggregate": {"column": "d"}}]},
     "sources.s.queries[0].tags", "cannot be used with aggregate"),
    ({"url": "sqlite://", "queries": [{"sql": "x", "measurement": "m",
                                       "aggregate": {"column": "d", "stats": ["p999"]}}]},
     "sources.s.queries[0].aggregate.stats", "unknown statistic 'p999'"),
])
def test_bad_options_fail_at_config_time(options, key, problem):
    with pytest.raises(ConfigError) as caught:
        check_options(sql, options, file="pusher.toml", key="sources.s")
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_unparsable_url_is_not_echoed():
    with pytest.raises(ConfigError) as caught:
        check_options(sql, {"url": "postgresql://u:pw@host:notaport/db", "queries": [
            {"sql": "SELECT 1", "measurement": "m"}]}, file="f", key="sources.s")
    assert "pw" not in str(caught.value)


def test_collect_dry_run_prints_lines_influxdb_accepts(tmp_path, pg, influxdb1, influx_db):
    url, schema, _ = pg
    config = tmp_path / "pusher.toml"
    config.write_text(f"""
[pusher]
state_dir = "state"
[influx]
url = "http://127.0.0.1:1"
api = "v1"
database = "db"
[sources.website]
type = "sql"
url = "{url}"
[[sources.website.queries]]
sql = "{EVENTS_SQL.format(t=schema + '.events')}"
measurement = "events"
tags = ["kind"]
[[sources.website.queries]]
sql = '''SELECT stage, duration FROM {schema}.timings
         WHERE created_at >= :start AND created_at < :end'''
measurement = "timings"
aggregate = {{ column = "duration", group_by = ["stage"] }}
""")
    done = run_pusher("collect", "website", "--dry-run", "--since", WINDOW.start.isoformat(),
                      "--until", WINDOW.end.isoformat(), config=config)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3 + len(STAGES)  # login, signup, edge; before/after are outside
    stamp = str(int(WINDOW.start.timestamp()))
    assert all(line.endswith(" " + stamp) and ",granularity=hourly," in line for line in lines)
    assert "- website windows=1 readings=6 printed=6 refused=0 [done]" in done.stderr
    # InfluxDB is the oracle of valid line protocol: it stores every line.
    answer = requests.post(f"{influxdb1.url}/write", params={"db": influx_db, "precision": "s"},
                           data="\n".join(lines), timeout=30)
    assert answer.status_code == 204, answer.text
    stored = influxdb1.select('SELECT count("count") FROM "timings"', db=influx_db)
    assert stored[0]["count"] == len(STAGES)
