"""`pusher validate`: one line per check, against the real InfluxDB and Prometheus."""

import json
import sqlite3
import uuid
from datetime import UTC, datetime

import pytest
import requests
import sqlalchemy
from googleapiclient.http import HttpMockSequence
from ops_helpers import pusher, write_config, write_v2_config
from servers import InfluxDB1, free_port

from pusher.checks.probe import probe_window, run_probe
from pusher.points.lineprotocol import Encoder
from pusher.reading import Granularity
from pusher.sources.google_analytics import google_analytics


def prometheus_source(url: str, extra_queries: str = "") -> str:
    return f"""
[sources.prom]
type = "prometheus"
url = "{url}"
[[sources.prom.queries]]
query = "up"
measurement = "scrape"
{extra_queries}
"""


PYTHON = '[sources.py]\ntype = "python"\ncallable = "ops_readers:grid"\n'


def test_everything_reachable_exits_0_and_each_query_says_what_it_would_write(
        tmp_path, influxdb1, influx_db, prometheus):
    prometheus.wait_for_samples("up")
    sources = prometheus_source(prometheus.url) + PYTHON
    result = pusher("validate", config=write_config(tmp_path, influxdb1.url, influx_db, sources))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ok   config: ")
    assert lines[1].startswith("ok   source prom (prometheus): Prometheus 2.")
    assert lines[2] == ("ok   source prom (prometheus) queries[0] scrape: 1 row -> scrape "
                        "(fields value; tags instance, job, metric)")
    assert lines[3] == "ok   source py (python): ops_readers:grid imports"
    assert lines[4] == "ok   source py (python): 5 rows -> grid (fields v; tags k)"
    assert lines[5] == (f"ok   influx {influxdb1.url}: InfluxDB 1.6.7~rc0, database "
                        f"'{influx_db}', retention policies default present, the credentials "
                        "may write")
    assert len(lines) == 6
    assert influxdb1.select('SHOW MEASUREMENTS', db=influx_db) == []  # nothing written


def test_a_promql_syntax_error_fails_its_query_alone_and_exit_1(tmp_path, influxdb1, influx_db,
                                                                 prometheus):
    prometheus.wait_for_samples("up")
    bad = '[[sources.prom.queries]]\nquery = "sum(rate(up[5m])"\nmeasurement = "broken"\n'
    sources = prometheus_source(prometheus.url, bad)
    result = pusher("validate", config=write_config(tmp_path, influxdb1.url, influx_db, sources))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[2].startswith("ok   source prom (prometheus) queries[0] scrape: 1 row")
    assert lines[3].startswith("FAIL source prom (prometheus) queries[1] broken: HTTP 400: "
                               "bad_data: ")
    assert "parse error" in lines[3] and len(lines) == 5
    # collect fails the same query the same way: validate proved it.
    collected = pusher("collect", "prom", "--dry-run",
                       config=write_config(tmp_path, influxdb1.url, influx_db, sources))
    assert collected.returncode == 1 and "queries[1] broken: HTTP 400: bad_data" in \
        collected.stderr


def test_nan_and_no_data_are_said_not_failed(tmp_path, influxdb1, influx_db, prometheus):
    extra = ('[[sources.prom.queries]]\nquery = "vector(0) / 0"\nmeasurement = "ratio"\n'
             '[[sources.prom.queries]]\nquery = "increase(no_such_metric_total[$__range])"\n'
             'measurement = "quiet"\n')
    prometheus.wait_for_samples("up")
    result = pusher("validate", config=write_config(tmp_path, influxdb1.url, influx_db,
                                                    prometheus_source(prometheus.url, extra)))
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[3] == ("ok   source prom (prometheus) queries[1] ratio: no data in the last 5 "
                        "minutes: nothing would be written now; 1 NaN or infinite values "
                        "skipped")
    assert lines[4] == ("ok   source prom (prometheus) queries[2] quiet: no data in the last 5 "
                        "minutes: nothing would be written now")


def test_each_failure_is_one_line_and_exit_1(tmp_path, influxdb1):
    dead = f"http://127.0.0.1:{free_port()}"
    sources = prometheus_source(dead) + PYTHON
    result = pusher("validate", config=write_config(tmp_path, influxdb1.url, "no_such_db",
                                                    sources))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1] == "FAIL source prom (prometheus): cannot reach Prometheus: ConnectionError"
    assert lines[2].startswith("ok   source py")
    assert lines[4] == (f"FAIL influx {influxdb1.url}: database not found: no_such_db: "
                        "run `pusher setup`")


def test_a_missing_retention_policy_is_named(tmp_path, influxdb1, influx_db):
    config = write_config(tmp_path, influxdb1.url, influx_db, PYTHON,
                          extra='retention_policy = "hourly"')
    result = pusher("validate", config=config)
    assert result.returncode == 1
    assert ("has no retention policy 'hourly' (has autogen): run `pusher setup`"
            in result.stdout)


def test_an_unknown_source_type_is_a_config_problem_exit_2(tmp_path, influxdb1, influx_db):
    sources = '[sources.x]\ntype = "nope"\n'
    result = pusher("validate", config=write_config(tmp_path, influxdb1.url, influx_db, sources))
    assert result.returncode == 2
    assert "FAIL source x (nope): " in result.stdout
    assert "unknown source type 'nope'" in result.stdout


def test_a_plugin_declares_its_own_probes(tmp_path, influxdb1, influx_db):
    sources = '[sources.parts]\ntype = "python"\ncallable = "ops_readers:parts"\n' \
              'broken = "beta"\n'
    result = pusher("validate", config=write_config(tmp_path, influxdb1.url, influx_db, sources))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[2] == "ok   source parts (python) part alpha: 1 row -> alpha (fields v; tags part)"
    assert lines[3] == "FAIL source parts (python) part beta: RuntimeError: beta is broken"


# --- InfluxDB 1.x with authentication: the credentials may write (a zero-point write) -------

class AuthInfluxDB1(InfluxDB1):
    """InfluxDB 1.x with auth-enabled: an admin, and users with fewer privileges."""

    def _prepare(self) -> None:
        super()._prepare()
        text = self.config_path.read_text()
        self.config_path.write_text(text.replace("auth-enabled = false", "auth-enabled = true"))

    def admin(self, q: str) -> None:
        answer = requests.post(f"{self.url}/query", data={"q": q}, auth=("admin", "admin-pw"),
                               timeout=30)
        assert answer.ok and "error" not in answer.text, answer.text


@pytest.fixture(scope="module")
def auth_influxdb1(tmp_path_factory):
    with AuthInfluxDB1(tmp_path_factory.mktemp("auth-influxdb1")) as server:
        # The first user may be created without credentials: it is the admin.
        requests.post(f"{server.url}/query", timeout=30, data={
            "q": "CREATE USER admin WITH PASSWORD 'admin-pw' WITH ALL PRIVILEGES"})
        server.admin("CREATE DATABASE site")
        server.admin("CREATE USER reader WITH PASSWORD 'reader-pw'")
        server.admin('GRANT READ ON "site" TO reader')
        server.admin("CREATE USER pusher WITH PASSWORD 'pusher-pw'")
        server.admin('GRANT ALL ON "site" TO pusher')
        yield server


def auth_validate(tmp_path, server, user):
    extra = f'username = "{user}"\npassword = "{user}-pw"'
    return pusher("validate", config=write_config(tmp_path, server.url, "site", PYTHON,
                                                  extra=extra))


def test_v1_credentials_that_may_write_pass(tmp_path, auth_influxdb1):
    result = auth_validate(tmp_path, auth_influxdb1, "pusher")
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1].endswith(", the credentials may write")
    assert "pusher-pw" not in result.stdout + result.stderr


def test_v1_credentials_that_may_only_read_are_told(tmp_path, auth_influxdb1):
    result = auth_validate(tmp_path, auth_influxdb1, "reader")
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == (
        f"FAIL influx {auth_influxdb1.url}: the credentials may not write to database 'site': "
        'HTTP 403: "reader" user is not authorized to write to database "site"')


# --- InfluxDB 2.x: the token's least privilege, on the real server -------------------------

DAILY = ('[sources.daily]\ntype = "python"\ncallable = "ops_readers:grid"\n'
         'granularity = "daily"\n')


def influx_line(result) -> str:
    (line,) = [x for x in result.stdout.splitlines() if x[5:].startswith("influx ")]
    return line


def v2_validate(tmp_path, influxdb2, bucket, token, sources=PYTHON, extra=""):
    return pusher("validate", config=write_v2_config(tmp_path, influxdb2.url, bucket, token,
                                                     sources, extra))


def test_v2_a_least_privilege_token_passes(tmp_path, influxdb2, influx_bucket):
    token = influxdb2.create_token([("write", "buckets", influx_bucket),
                                    ("read", "buckets", influx_bucket)])
    result = v2_validate(tmp_path, influxdb2, influx_bucket, token)
    assert result.returncode == 0, result.stdout + result.stderr
    assert influx_line(result) == (
        f"ok   influx {influxdb2.url}: InfluxDB v2.7.12, org 'acme': the token may "
        f"write bucket '{influx_bucket}', read bucket '{influx_bucket}'")
    assert token not in result.stdout + result.stderr


def test_v2_a_write_only_token_is_told_what_it_loses_not_that_the_bucket_is_missing(
        tmp_path, influxdb2, influx_bucket):
    token = influxdb2.create_token([("write", "buckets", influx_bucket)])
    result = v2_validate(tmp_path, influxdb2, influx_bucket, token)
    assert result.returncode == 1
    assert influx_line(result) == (
        f"FAIL influx {influxdb2.url}: the token may not read bucket '{influx_bucket}': "
        "watermarks cannot be read back, so a run without its state directory (a CronJob "
        "without a volume) does not catch up and `pusher status --from-influx` shows nothing")


def test_v2_daily_sources_need_the_daily_bucket_too(tmp_path, influxdb2, influx_bucket):
    daily = influx_bucket + "_daily"
    influxdb2.create_bucket(daily)
    token = influxdb2.create_token([("write", "buckets", influx_bucket),
                                    ("read", "buckets", influx_bucket),
                                    ("read", "buckets", daily)])
    result = v2_validate(tmp_path, influxdb2, influx_bucket, token, PYTHON + DAILY,
                         extra=f'daily_bucket = "{daily}"')
    assert result.returncode == 1
    assert influx_line(result).endswith(
        f": the token may not write bucket '{daily}': the points of daily and their run "
        "records cannot be written")


def test_v2_a_missing_bucket_says_run_setup(tmp_path, influxdb2, influx_bucket):
    result = v2_validate(tmp_path, influxdb2, influx_bucket, influxdb2.token, PYTHON + DAILY,
                         extra='daily_bucket = "no_such_bucket"')
    assert result.returncode == 1
    assert influx_line(result).endswith(
        ": no bucket 'no_such_bucket' in org 'acme': run `pusher setup`")


def test_v2_a_bad_token_and_a_wrong_org_are_one_line_each(tmp_path, influxdb2, influx_bucket):
    bad = v2_validate(tmp_path, influxdb2, influx_bucket, "not-a-token")
    assert influx_line(bad).endswith(": HTTP 401: credentials refused (the token is not valid "
                                     "here)")
    config = write_v2_config(tmp_path, influxdb2.url, influx_bucket, influxdb2.token, PYTHON)
    config.write_text(config.read_text().replace('org = "acme"', 'org = "acme-typo"'))
    result = pusher("validate", config=config)
    assert result.returncode == 1
    assert influx_line(result).endswith(
        ': organization name "acme-typo" not found ([influx] org)')


def sql_source(name: str, url: str, sql: str = "SELECT 1 AS count") -> str:
    return (f'[sources.{name}]\ntype = "sql"\nurl = "{url}"\n'
            f'[[sources.{name}.queries]]\nsql = "{sql}"\nmeasurement = "m"\n')


def test_sql_sources_are_reached_then_each_query_runs(tmp_path, influxdb1, influx_db, postgres):
    bad = postgres.sqlalchemy_url.replace(f":{postgres.password}@", ":Wr0ng-Secret@")
    sources = (sql_source("pg", postgres.sqlalchemy_url) + sql_source("pg_bad", bad)
               + sql_source("lite", f"sqlite:///{tmp_path}/missing.sqlite"))
    result = pusher("validate", config=write_config(tmp_path, influxdb1.url, influx_db, sources))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1].startswith("ok   source pg (sql): postgresql+psycopg2://")
    assert lines[1].endswith(" answers SELECT 1")
    assert lines[2] == "ok   source pg (sql) queries[0] m: 1 row -> m (fields count)"
    assert lines[3].startswith("FAIL source pg_bad (sql): cannot query ")
    assert "password authentication failed" in lines[3]
    assert lines[4].startswith("FAIL source lite (sql): cannot query sqlite:///")
    assert "Wr0ng-Secret" not in result.stdout + result.stderr


@pytest.fixture
def site(tmp_path, postgres):
    """A PostgreSQL table and a SQLite file with a signups table, rows now and a year ago."""
    schema = f"validate_{uuid.uuid4().hex[:8]}"
    engine = sqlalchemy.create_engine(postgres.sqlalchemy_url)
    with engine.begin() as db:
        db.exec_driver_sql(f"CREATE SCHEMA {schema}")
        db.exec_driver_sql(f"CREATE TABLE {schema}.signups (plan text, created_at timestamptz)")
        db.exec_driver_sql(f"INSERT INTO {schema}.signups VALUES ('pro', now()), "
                           "('free', now()), ('free', now() - interval '1 year')")
        db.exec_driver_sql(f"CREATE FUNCTION {schema}.sneak() RETURNS int LANGUAGE sql AS "
                           f"$$ INSERT INTO {schema}.signups VALUES ('sneaky', now()) "
                           "RETURNING 1 $$")
    engine.dispose()
    with sqlite3.connect(tmp_path / "site.sqlite") as lite:
        lite.execute("CREATE TABLE signups (plan TEXT, created_at TEXT)")
        # A minute ago: SQLite's times are whole seconds, and a row of this very second
        # is not before the probe's :end when validate starts within the same second.
        lite.execute("INSERT INTO signups VALUES ('pro', datetime('now', '-1 minute')), "
                     "('free', datetime('now', '-1 year'))")
    lite.close()
    return schema


SIGNUPS = ("SELECT plan, count(*) AS count FROM {table} WHERE created_at >= :start AND "
           "created_at < :end GROUP BY plan")


def test_sql_a_query_on_a_missing_table_fails_with_the_databases_reason(
        tmp_path, influxdb1, influx_db, postgres, site):
    sources = (sql_source("pg", postgres.sqlalchemy_url, SIGNUPS.format(table=f"{site}.signups"))
               + 'tags = ["plan"]\n[[sources.pg.queries]]\n'
               f'sql = "{SIGNUPS.format(table=f"{site}.signup")}"\nmeasurement = "typo"\n'
               + sql_source("lite", "sqlite:///site.sqlite", SIGNUPS.format(table="signups"))
               + 'tags = ["plan"]\n[[sources.lite.queries]]\n'
               f'sql = "{SIGNUPS.format(table="signup")}"\nmeasurement = "typo"\n')
    result = pusher("validate", config=write_config(tmp_path, influxdb1.url, influx_db, sources))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    # The window is the last few minutes, with the real :start and :end: the rows of a
    # year ago are not counted.
    assert lines[2] == ("ok   source pg (sql) queries[0] m: 2 rows -> m (fields count; "
                        "tags plan)")
    assert lines[3] == (f'FAIL source pg (sql) queries[1] typo: UndefinedTable: relation '
                        f'"{site}.signup" does not exist')
    assert lines[5] == "ok   source lite (sql) queries[0] m: 1 row -> m (fields count; tags plan)"
    assert lines[6] == ("FAIL source lite (sql) queries[1] typo: OperationalError: no such "
                        "table: signup")


def test_sql_queries_run_read_only_and_write_nothing(tmp_path, influxdb1, influx_db, postgres,
                                                    site):
    sources = sql_source("pg", postgres.sqlalchemy_url, f"SELECT {site}.sneak() AS count")
    result = pusher("validate", config=write_config(tmp_path, influxdb1.url, influx_db, sources))
    assert result.returncode == 1
    assert result.stdout.splitlines()[2] == (
        "FAIL source pg (sql) queries[0] m: ReadOnlySqlTransaction: cannot execute INSERT in "
        "a read-only transaction")
    engine = sqlalchemy.create_engine(postgres.sqlalchemy_url)
    with engine.connect() as db:
        plans = db.exec_driver_sql(f"SELECT plan FROM {site}.signups").scalars().all()
    engine.dispose()
    assert "sneaky" not in plans


# --- Google Analytics: a one-row report (google-api-python-client's HttpMockSequence) --------

class RecordingSequence(HttpMockSequence):
    """HttpMockSequence that keeps each request's body."""

    def __init__(self, iterable):
        super().__init__(iterable)
        self.bodies = []

    def request(self, uri, method="GET", body=None, headers=None, redirections=1,
                connection_type=None):
        self.bodies.append(json.loads(body) if body else None)
        return super().request(uri, method, body, headers, redirections, connection_type)


def test_google_analytics_is_proved_with_a_one_row_report():
    answer = {"dimensionHeaders": [{"name": "date"}, {"name": "country"}],
              "metricHeaders": [{"name": "sessions", "type": "TYPE_INTEGER"}],
              "rows": [{"dimensionValues": [{"value": "20261127"}, {"value": "FR"}],
                        "metricValues": [{"value": "42"}]}],
              "rowCount": 31, "metadata": {"timeZone": "Europe/Paris"}}
    http = RecordingSequence([({"status": "200"}, json.dumps(answer))])
    options = {"property": "123", "metrics": ["sessions"], "dimensions": ["date", "country"],
               "credentials": "anonymous", "endpoint": "https://ga.example.test/", "http": http}
    probes = google_analytics.probes(options)
    assert [label for label, _ in probes] == ["report"]
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    result = run_probe("report", probes[0][1], probe_window(now, Granularity.DAILY), Encoder())
    assert result.ok and result.describe() == (
        "1 row -> analytics (fields sessions; tags country)")
    [body] = http.bodies  # one request, though the report has 31 rows
    assert body["limit"] == 1
    assert body["dateRanges"] == [{"startDate": "2026-11-26", "endDate": "2026-11-28"}]


def test_google_analytics_unreachable_is_one_line(tmp_path, influxdb1, influx_db):
    # Anonymous credentials need an endpoint (an emulator); nothing listens there.
    sources = ('[sources.ga]\ntype = "google-analytics"\ngranularity = "daily"\n'
               'property = "123"\ncredentials = "anonymous"\nendpoint = "http://127.0.0.1:1"\n'
               'metrics = ["sessions"]\ndimensions = ["date"]\n')
    result = pusher("validate", config=write_config(tmp_path, influxdb1.url, influx_db, sources))
    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    assert lines[1] == ("ok   source ga (google-analytics): credentials 'anonymous' loaded, "
                        "client for properties/123 built")
    assert lines[2].startswith("FAIL source ga (google-analytics) report: cannot reach Google "
                               "Analytics: ConnectionRefusedError")
