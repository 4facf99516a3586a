"""Issue 17, done when: `pusher collect --all` with one hung source of each kind ends within
a few times the configured timeouts and writes every other source (real InfluxDB 1.x,
PostgreSQL, SQLite; loopback servers that never answer in front of the HTTP clients).
"""

import time
from contextlib import ExitStack

from cli_helpers import run_pusher
from fault_proxy import stalling_server
from test_timeouts_sql import held_sqlite

HUNG = ("prom", "ga", "pg", "lite", "slowpy")
READERS = '''
import time
from pusher.reading import Reading

def good(window):
    yield Reading("good", {"v": 1}, {"k": "a"})
    yield Reading("good", {"v": 2}, {"k": "b"})

def slow(window):
    for number in range(600):
        yield Reading("slow", {"v": number}, {"n": str(number)})
        time.sleep(0.2)
'''


def test_collect_all_with_a_hung_source_of_each_kind(tmp_path, influxdb1, influx_db,
                                                     postgres):
    (tmp_path / "readers.py").write_text(READERS)
    with ExitStack() as stack:
        prometheus = stack.enter_context(stalling_server("silent"))
        analytics = stack.enter_context(stalling_server("trickle"))
        lite = stack.enter_context(held_sqlite(tmp_path / "site.sqlite",
                                               "CREATE TABLE events (created_at TEXT)"))
        config = tmp_path / "pusher.toml"
        config.write_text(f"""
[pusher]
state_dir = "state"
[influx]
url = "{influxdb1.url}"
api = "v1"
database = "{influx_db}"
retries = 0
[sources.prom]
type = "prometheus"
url = "{prometheus.url}"
timeout = 3
queries = [{{query = "up", measurement = "up"}}]
[sources.ga]
type = "google-analytics"
property = "123456"
credentials = "anonymous"
endpoint = "{analytics.url}/"
metrics = ["sessions"]
dimensions = ["dateHour"]
timeout = 3
[sources.pg]
type = "sql"
url = "{postgres.sqlalchemy_url}"
timeout = 3
[[sources.pg.queries]]
measurement = "slow"
sql = "SELECT 1 AS n FROM pg_sleep(60) WHERE CAST(:start AS timestamptz) < :end"
[sources.lite]
type = "sql"
url = "{lite}"
timeout = 3
[[sources.lite.queries]]
measurement = "events"
sql = "SELECT count(*) AS n FROM events WHERE created_at >= :start AND created_at < :end"
[sources.slowpy]
type = "python"
callable = "readers:slow"
timeout = 3
[sources.good]
type = "python"
callable = "readers:good"
""")
        started = time.monotonic()
        done = run_pusher("collect", "--all", config=config)
        took = time.monotonic() - started
    # Five hung sources of 3 s each: a few times the timeouts, where each would hang 60 s
    # (or, for the Prometheus and GA clients, 30-60 s a request; for SQLite, 5 s a window).
    assert took < 45, done.stderr
    assert done.returncode == 1
    lines = {line.split()[1]: line for line in done.stderr.splitlines()
             if line.startswith("- ")}
    for name in HUNG:
        assert "[failed: timed out after 3s (the source's timeout)" in lines[name], lines[name]
    assert "[done]" in lines["good"]
    points = influxdb1.select('SELECT "v" FROM "good"', db=influx_db)
    assert sorted(p["v"] for p in points) == [1, 1, 2, 2]  # two windows, two points each
    assert postgres.psql("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                         "AND usename = 'pusher' AND pid <> pg_backend_pid()").strip() == "0"
