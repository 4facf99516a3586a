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
