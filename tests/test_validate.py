"""`pusher validate`: one line per check, against the real InfluxDB and Prometheus."""

from ops_helpers import pusher, write_config, write_v2_config
from servers import free_port


def prometheus_source(url: str) -> str:
    return f"""
[sources.prom]
type = "prometheus"
url = "{url}"
[[sources.prom.queries]]
query = "up"
measurement = "scrape"
"""


PYTHON = '[sources.py]\ntype = "python"\ncallable = "ops_readers:grid"\n'


def test_everything_reachable_exits_0(tmp_path, influxdb1, influx_db, prometheus):
    sources = prometheus_source(prometheus.url) + PYTHON
    result = pusher("validate", config=write_config(tmp_path, influxdb1.url, influx_db, sources))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ok   config: ")
    assert lines[1].startswith("ok   source prom (prometheus): Prometheus 2.")
    assert lines[2] == "ok   source py (python): ops_readers:grid imports"
    assert lines[3].startswith(f"ok   influx {influxdb1.url}: InfluxDB 1.6")
    assert len(lines) == 4


def test_each_failure_is_one_line_and_exit_1(tmp_path, influxdb1):
    dead = f"http://127.0.0.1:{free_port()}"
    sources = prometheus_source(dead) + PYTHON
    result = pusher("validate", config=write_config(tmp_path, influxdb1.url, "no_such_db",
                                                    sources))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1] == "FAIL source prom (prometheus): cannot reach Prometheus: ConnectionError"
    assert lines[2].startswith("ok   source py")
    assert lines[3].startswith(f"FAIL influx {influxdb1.url}: ")
    assert "database not found: no_such_db" in lines[3]


def test_a_missing_retention_policy_is_named(tmp_path, influxdb1, influx_db):
    config = write_config(tmp_path, influxdb1.url, influx_db, PYTHON,
                          extra='retention_policy = "hourly"')
    result = pusher("validate", config=config)
    assert result.returncode == 1
    assert "has no retention policy 'hourly' (has autogen)" in result.stdout


def test_an_unknown_source_type_is_a_config_problem_exit_2(tmp_path, influxdb1, influx_db):
    sources = '[sources.x]\ntype = "nope"\n'
    result = pusher("validate", config=write_config(tmp_path, influxdb1.url, influx_db, sources))
    assert result.returncode == 2
    assert "FAIL source x (nope): " in result.stdout
    assert "unknown source type 'nope'" in result.stdout


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


def sql_source(name: str, url: str) -> str:
    return (f'[sources.{name}]\ntype = "sql"\nurl = "{url}"\n'
            f'[[sources.{name}.queries]]\nsql = "SELECT 1 AS count"\nmeasurement = "m"\n')


def test_sql_sources_are_reached_with_select_1(tmp_path, influxdb1, influx_db, postgres):
    bad = postgres.sqlalchemy_url.replace(f":{postgres.password}@", ":Wr0ng-Secret@")
    sources = (sql_source("pg", postgres.sqlalchemy_url) + sql_source("pg_bad", bad)
               + sql_source("lite", f"sqlite:///{tmp_path}/missing.sqlite"))
    result = pusher("validate", config=write_config(tmp_path, influxdb1.url, influx_db, sources))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1].startswith("ok   source pg (sql): postgresql+psycopg2://")
    assert lines[1].endswith(" answers SELECT 1")
    assert lines[2].startswith("FAIL source pg_bad (sql): cannot query ")
    assert "password authentication failed" in lines[2]
    assert lines[3].startswith("FAIL source lite (sql): cannot query sqlite:///")
    assert "Wr0ng-Secret" not in result.stdout + result.stderr


def test_google_analytics_builds_its_client_without_calling_the_api(tmp_path, influxdb1,
                                                                     influx_db):
    # Anonymous credentials need an endpoint (an emulator); nothing listens there, and
    # validate does not call the API, so the line is still ok.
    sources = ('[sources.ga]\ntype = "google-analytics"\ngranularity = "daily"\n'
               'property = "123"\ncredentials = "anonymous"\nendpoint = "http://127.0.0.1:1"\n'
               'metrics = ["sessions"]\ndimensions = ["date"]\n')
    result = pusher("validate", config=write_config(tmp_path, influxdb1.url, influx_db, sources))
    assert result.returncode == 0, result.stdout
    line = result.stdout.splitlines()[1]
    assert line.startswith("ok   source ga (google-analytics): credentials ")
    assert line.endswith("client for properties/123 built (the API itself is not called)")
