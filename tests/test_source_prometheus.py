"""The prometheus source against a real Prometheus (scraping itself)."""

import subprocess
import sys
from datetime import UTC, datetime

import pytest
import requests
from cli_helpers import run_pusher

from pusher.errors import SourceError
from pusher.reading import Granularity, Window
from pusher.sources.prometheus import prometheus


@pytest.fixture(scope="module")
def prom(prometheus):
    prometheus.wait_for_samples("up")
    return prometheus


def current_window() -> Window:
    return Window.containing(datetime.now(UTC), Granularity.HOURLY)


def write_config(tmp_path, prom, influx_url="http://127.0.0.1:1", extra=""):
    path = tmp_path / "pusher.toml"
    path.write_text(f"""
[pusher]
state_dir = "state"
[influx]
url = "{influx_url}"
api = "v1"
database = "db"
[sources.prometheus]
type = "prometheus"
url = "{prom.url}"
[[sources.prometheus.queries]]
query = 'sum by (job) (up)'
measurement = "scrape"
field = "up"
[[sources.prometheus.queries]]
query = 'prometheus_build_info'
measurement = "build"
{extra}
""")
    return path


def test_labels_become_tags_and_value_a_field(prom):
    queries = [{"query": "sum by (job) (up)", "measurement": "scrape", "field": "up",
                "tags": {"env": "test"}}]
    readings = list(prometheus(current_window(), url=prom.url, queries=queries))
    assert len(readings) == 1
    assert readings[0].measurement == "scrape"
    assert readings[0].tags == {"env": "test", "job": "prometheus"}
    assert readings[0].fields == {"up": 1.0}
    assert readings[0].time is None  # stamped with the window start by the pipeline


def test_metric_name_becomes_a_tag(prom):
    queries = [{"query": "prometheus_build_info", "measurement": "build"}]
    [reading] = prometheus(current_window(), url=prom.url, queries=queries)
    assert reading.tags["metric"] == "prometheus_build_info"
    assert reading.fields == {"value": 1.0}


def test_range_placeholder_is_the_window_length(prom):
    window = current_window()
    # In an hour's first second no scrape has landed yet: count_over_time() would be empty.
    prom.wait_for_samples_since("up", window.start)
    queries = [{"query": "count_over_time(up[$__range]) >= 0", "measurement": "m"}]
    readings = list(prometheus(window, url=prom.url, queries=queries))
    assert readings and readings[0].fields["value"] >= 1


def test_bad_query_fails_alone(prom, decoder):
    queries = [
        {"query": "sum(", "measurement": "broken"},
        {"query": "sum by (job) (up)", "measurement": "scrape"},
    ]
    results = []
    with pytest.raises(SourceError, match=r"queries\[0\] broken: HTTP 400: bad_data"):
        for reading in prometheus(current_window(), url=prom.url, queries=queries):
            results.append(reading)
    assert [r.measurement for r in results] == ["scrape"]


@pytest.mark.parametrize("server", ["influxdb1", "influxdb2"])
def test_a_server_that_is_not_prometheus_is_one_clear_error(server, request, decoder):
    # InfluxDB 1.x answers an unknown path with text, 2.x with JSON of another shape.
    url = request.getfixturevalue(server).url
    queries = [{"query": "up", "measurement": "m"}]
    with pytest.raises(SourceError, match=r"^queries\[0\] m: HTTP 404: not a Prometheus API "
                                          r"answer$"):
        list(prometheus(current_window(), url=url, queries=queries))


def test_without_msgspec_answers_are_decoded_with_json(prom):
    # The `fast` extra is optional: with msgspec missing, the source imports and reads alike.
    script = f"""
import sys
sys.modules["msgspec"] = None  # what an install without the extra looks like to import
from pusher.sources import prometheus_api
from pusher.sources.prometheus import prometheus
from pusher.reading import Granularity, Window
from datetime import UTC, datetime
assert prometheus_api.msgspec is None
window = Window.containing(datetime.now(UTC), Granularity.HOURLY)
queries = [{{"query": "prometheus_build_info", "measurement": "build"}}]
[reading] = prometheus(window, url="{prom.url}", queries=queries)
print(reading.tags["version"], reading.fields["value"])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    [reading] = prometheus(current_window(), url=prom.url,
                           queries=[{"query": "prometheus_build_info", "measurement": "b"}])
    assert done.stdout.split() == [reading.tags["version"], "1.0"]


def test_unreachable_prometheus_is_one_clear_error():
    queries = [{"query": "up", "measurement": "m"}]
    with pytest.raises(SourceError, match="cannot reach Prometheus: ConnectionError"):
        list(prometheus(current_window(), url="http://127.0.0.1:1", queries=queries))


def test_dry_run_prints_only_valid_line_protocol(prom, tmp_path, influxdb1, influx_db):
    before = current_window()  # read before the run: its current hour, or the one after
    result = run_pusher("collect", "prometheus", "--dry-run", config=write_config(tmp_path, prom))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    after = current_window()
    # Two windows, two queries of one series each; Prometheus started seconds ago, so the
    # previous hour has no samples unless the test runs right after an hour began.
    assert len(lines) in (2, 4)
    stamps = {int(line.rsplit(" ", 1)[1]) for line in lines}
    current = datetime.fromtimestamp(max(stamps), UTC)  # the run's current hour
    assert before.start <= current <= after.start, (before, stamps, after)
    assert stamps <= {int(current.timestamp()), int(current.timestamp()) - 3600}
    assert {line.split(",", 1)[0] for line in lines} == {"scrape", "build"}
    assert all(",granularity=hourly" in line for line in lines)
    # InfluxDB accepts every line as it is.
    response = requests.post(f"{influxdb1.url}/write", params={"db": influx_db, "precision": "s"},
                             data=result.stdout.encode(), timeout=10)
    assert response.status_code == 204, response.text
    n = len(lines)
    assert f"- prometheus windows=2 readings={n} printed={n} refused=0 [done]" in result.stderr
    assert not (tmp_path / "state").exists()  # a dry run leaves no trace


def test_collect_writes_into_influxdb(prom, tmp_path, influxdb1, influx_db):
    config = write_config(tmp_path, prom, influxdb1.url).read_text().replace(
        'database = "db"', f'database = "{influx_db}"')
    (tmp_path / "pusher.toml").write_text(config)
    result = run_pusher("collect", "--all", config=tmp_path / "pusher.toml")
    assert result.returncode == 0, result.stderr
    rows = influxdb1.select('SELECT up FROM "scrape" GROUP BY *', db=influx_db)
    assert len(rows) >= 1 and {r["granularity"] for r in rows} == {"hourly"}
    assert all(r["time"] % 3600 == 0 for r in rows)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[[sources.prometheus.queries]]\nmeasurement = 'x'",
         "sources.prometheus.queries[2].query: is required"),
        ("[[sources.prometheus.queries]]\nquery = 'up'\nmeasurement = 'x'\nfeild = 'y'",
         "sources.prometheus.queries[2].feild: unknown key"),
    ],
)
def test_bad_query_config_is_exit_2_naming_the_key(prom, tmp_path, extra, message):
    result = run_pusher("collect", "prometheus", "--dry-run",
                        config=write_config(tmp_path, prom, extra=extra))
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
