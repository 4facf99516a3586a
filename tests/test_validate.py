"""`pusher validate`: one line per check, against the real InfluxDB and Prometheus."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ops_helpers import pusher, write_config
from servers import free_port

from pusher.config import InfluxConfig
from pusher.validate import check_influx


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


class _V2(BaseHTTPRequestHandler):
    seen: list = []
    token = "good"

    def do_GET(self):
        self.seen.append((self.path, self.headers.get("Authorization")))
        if self.path == "/health":
            self._json(200, {"status": "pass", "version": "v2.7.4"})
        elif self.headers.get("Authorization") != f"Token {self.token}":
            self._json(401, {"code": "unauthorized", "message": "unauthorized access"})
        elif "name=pusher_daily" in self.path:
            self._json(200, {"buckets": []})
        else:
            self._json(200, {"buckets": [{"name": "pusher"}]})

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def v2_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _V2)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _V2.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_v2_checks_health_then_each_bucket_with_the_token(v2_server):
    influx = InfluxConfig(url=v2_server, api="v2", org="acme", token="good")
    assert check_influx(influx) == "InfluxDB v2.7.4, buckets pusher present"
    assert _V2.seen == [("/health", None),
                        ("/api/v2/buckets?name=pusher&org=acme", "Token good")]


def test_v2_bad_token_and_missing_bucket_are_failures(v2_server):
    with pytest.raises(RuntimeError, match="HTTP 401: credentials refused"):
        check_influx(InfluxConfig(url=v2_server, api="v2", org="acme", token="bad"))
    daily = InfluxConfig(url=v2_server, api="v2", org="acme", token="good",
                         daily_bucket="pusher_daily")
    with pytest.raises(RuntimeError, match="no bucket 'pusher_daily' in org 'acme'"):
        check_influx(daily)


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
