"""Issue 17 on real databases: a SQL query pusher gave up on is cancelled on the server.

PostgreSQL 15 with pg_sleep (and pg_stat_activity to see what still runs), SQLite held by
an exclusive transaction in rollback-journal mode, and a SQLite query that never ends.
The time bounds are the issue's (a run that would hang 30 s or more ends within 15 s with
a 3 s timeout), not speed figures.
"""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_helpers import run_pusher

from pusher.deadline import Deadline, TimedOut, within
from pusher.reading import Granularity, Window
from pusher.sources.sql import sql

WINDOW = Window.containing(datetime(2026, 11, 27, 10, 30, tzinfo=UTC), Granularity.HOURLY)
SLEEPY = "SELECT 1 AS n FROM pg_sleep(30) WHERE CAST(:start AS timestamptz) < :end"
QUICK = "SELECT 7 AS n WHERE CAST(:start AS timestamptz) < :end"
# Queries of the tests' role still running on the server, but this very one. (A streamed
# query shows as its cursor's FETCH, not as its SQL.)
STILL_RUNNING = ("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                 "AND usename = 'pusher' AND pid <> pg_backend_pid()")
ENDLESS_SQLITE = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                  "SELECT count(*) AS n FROM n WHERE :start < :end")


def write_config(tmp_path, url, queries, timeout=3, extra=""):
    path = tmp_path / "pusher.toml"
    tables = "".join(f"""
[[sources.db.queries]]
measurement = "{measurement}"
sql = "{query}"
{options}
""" for measurement, query, options in queries)
    path.write_text(f"""
[pusher]
state_dir = "state"
[influx]
url = "http://127.0.0.1:1"
api = "v1"
[sources.db]
type = "sql"
url = "{url}"
timeout = {timeout}
{extra}
{tables}
""")
    return path


def running(postgres) -> int:
    return int(postgres.psql(STILL_RUNNING).strip())


def collect_bounded(config, *args):
    """`pusher collect db --dry-run ARGS`, which must end within 15 s (the issue's bound)."""
    started = time.monotonic()
    done = run_pusher("collect", "db", "--dry-run", *args, config=config)
    assert time.monotonic() - started < 15, done.stderr
    return done


def test_a_hung_postgres_query_ends_at_the_timeout_and_is_cancelled_on_the_server(
        tmp_path, postgres):
    """The issue's first case: four windows of a 30 s query took 120 s; now about 3 s."""
    config = write_config(tmp_path, postgres.sqlalchemy_url, [("slow", SLEEPY, "")])
    done = collect_bounded(config, "--since", "4h")
    assert done.returncode == 1
    summary = [line for line in done.stderr.splitlines() if line.startswith("- db ")]
    assert "[failed: timed out after 3s (the source's timeout): stopped at window 1 of" \
        in summary[0]
    assert "QueryCanceled" in done.stderr  # the server cancelled it
    assert running(postgres) == 0


def test_a_timed_out_query_fails_its_window_and_the_other_queries_still_run(postgres):
    """query_timeout on one query: it is cancelled, the window's other query is read."""
    queries = [{"measurement": "slow", "sql": SLEEPY, "query_timeout": 1},
               {"measurement": "quick", "sql": QUICK}]
    readings = []
    with within(Deadline(60)), pytest.raises(TimedOut) as caught:
        readings.extend(sql(WINDOW, url=postgres.sqlalchemy_url, queries=queries))
    assert [(r.measurement, r.fields) for r in readings] == [("quick", {"n": 7})]
    # The server's statement_timeout and pusher's cancel request are due at the same time:
    # either may cancel it first.
    assert re.match(r"queries\[0\] slow: QueryCanceled: canceling statement due to "
                    r"(statement timeout|user request): timed out after 1s \(query_timeout\)",
                    str(caught.value)), caught.value
    assert running(postgres) == 0


def test_a_killed_pusher_leaves_no_query_running(tmp_path, postgres):
    """statement_timeout is the server's: even a run killed with SIGKILL mid-query leaves
    nothing behind once the timeout has passed (without it, pg_sleep would go on for 30 s)."""
    config = write_config(tmp_path, postgres.sqlalchemy_url, [("slow", SLEEPY, "")])
    child = subprocess.Popen([sys.executable, "-m", "pusher", "--config", str(config),
                              "collect", "db", "--dry-run"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        limit = time.monotonic() + 20
        while running(postgres) == 0:
            assert child.poll() is None and time.monotonic() < limit, "the query never ran"
            time.sleep(0.05)
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    killed = time.monotonic()
    while running(postgres) and time.monotonic() - killed < 15:
        time.sleep(0.1)
    assert running(postgres) == 0


@contextmanager
def held_sqlite(path: Path, schema: str) -> Iterator[str]:
    """A SQLite file (rollback journal) with `schema`, held by a writer's exclusive lock;
    gives its URL."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode = DELETE")
        db.execute(schema)
    db.close()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("INSERT INTO events (created_at) VALUES ('2026-11-27 10:00:00')")
    try:
        yield f"sqlite:///{path}"
    finally:
        writer.execute("ROLLBACK")
        writer.close()


@pytest.fixture
def locked_sqlite(tmp_path):
    with held_sqlite(tmp_path / "site.sqlite",
                     "CREATE TABLE events (kind TEXT, created_at TEXT)") as url:
        yield url


def test_a_locked_sqlite_file_fails_once_at_the_timeout_not_each_window(tmp_path,
                                                                        locked_sqlite):
    """The issue's third case: 5 s per window, then `database is locked` each time."""
    query = "SELECT count(*) AS n FROM events WHERE created_at >= :start AND created_at < :end"
    config = write_config(tmp_path, locked_sqlite, [("events", query, "")])
    done = collect_bounded(config, "--since", "6h")
    assert done.returncode == 1
    assert "database is locked: timed out after 3s (the source's timeout)" in done.stderr
    assert done.stderr.count("failed: hourly@") == 1  # one window waited, not six


def test_a_sqlite_query_that_never_ends_is_interrupted(tmp_path):
    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).close()
    queries = [{"measurement": "endless", "sql": ENDLESS_SQLITE, "query_timeout": 1},
               {"measurement": "quick", "sql": "SELECT 7 AS n WHERE :start < :end"}]
    readings = []
    started = time.monotonic()
    with within(Deadline(60)), pytest.raises(TimedOut) as caught:
        readings.extend(sql(WINDOW, url=f"sqlite:///{path}", queries=queries))
    assert time.monotonic() - started < 15
    assert "queries[0] endless: OperationalError: interrupted: timed out after 1s" \
        in str(caught.value)
    assert [(r.measurement, r.fields) for r in readings] == [("quick", {"n": 7})]


def test_the_connection_of_a_cancelled_query_is_not_reused(postgres):
    """A late cancel request must not reach the next query: that connection is dropped,
    while one whose queries went well stays in the pool."""
    url = f"{postgres.sqlalchemy_url}?application_name=pusher_reuse_test"
    count = ("SELECT count(*) FROM pg_stat_activity "
             "WHERE application_name = 'pusher_reuse_test'")
    with within(Deadline(60)):
        list(sql(WINDOW, url=url, queries=[{"measurement": "quick", "sql": QUICK}]))
    assert postgres.psql(count).strip() == "1"  # pooled for the next window
    with within(Deadline(60)), pytest.raises(TimedOut):
        list(sql(WINDOW, url=url, queries=[{"measurement": "slow", "sql": SLEEPY,
                                            "query_timeout": 1}]))
    # Closed by pusher; the server ends the backend a moment later (a reused one never ends).
    limit = time.monotonic() + 10
    while postgres.psql(count).strip() != "0" and time.monotonic() < limit:
        time.sleep(0.1)
    assert postgres.psql(count).strip() == "0"
    assert running(postgres) == 0


def test_query_timeout_must_be_a_positive_number(tmp_path):
    config = write_config(tmp_path, "sqlite:///x.sqlite", [("q", QUICK, "query_timeout = 0")])
    done = run_pusher("collect", "db", "--dry-run", config=config)
    assert done.returncode == 2
    assert "sources.db.queries[0].query_timeout: must be greater than 0" in done.stderr
    config = write_config(tmp_path, "sqlite:///x.sqlite", [("q", QUICK, "")],
                          extra='query_timeout = "soon"')
    done = run_pusher("collect", "db", "--dry-run", config=config)
    assert done.returncode == 2
    assert "sources.db.query_timeout: must be a number of seconds" in done.stderr


def test_no_deadline_means_no_limit(tmp_path):
    """Library use without a run: queries are not limited (math.inf is no timer)."""
    path = tmp_path / "x.sqlite"
    sqlite3.connect(path).close()
    window = Window(WINDOW.start, WINDOW.start + timedelta(hours=1), Granularity.HOURLY)
    readings = list(sql(window, url=f"sqlite:///{path}",
                        queries=[{"measurement": "q", "sql": "SELECT 1 AS n WHERE :start < :end"}]))
    assert [r.fields for r in readings] == [{"n": 1}]


def test_a_postgres_that_never_answers_the_connect_ends_at_the_timeout(tmp_path):
    """libpq waits for ever on a server that accepts and never answers; connect_timeout
    (the run's time left) ends the run at its timeout, once, not once a window."""
    from fault_proxy import stalling_server

    with stalling_server("silent") as server:
        port = server.url.rsplit(":", 1)[1]
        url = f"postgresql+psycopg2://pusher:secret@127.0.0.1:{port}/pusher"
        config = write_config(tmp_path, url, [("slow", QUICK, "")])
        done = collect_bounded(config, "--since", "4h")
    assert done.returncode == 1
    assert "cannot connect to postgresql+psycopg2://pusher:***@127.0.0.1:" in done.stderr
    assert "timeout expired" in done.stderr
    summary = next(line for line in done.stderr.splitlines() if line.startswith("- db "))
    assert "stopped at window 1 of 5" in summary
    assert "secret" not in done.stderr
