"""Only InfluxDB's own 204 acknowledges a write; every read of a server that is not InfluxDB
fails in one line; a server's answer is one line; an unreachable server is said at once."""

import re
from pathlib import Path

import pytest
from fault_proxy import fault_proxy
from ops_helpers import count, grid_source, pusher, write_config
from servers import free_port

from pusher.writers.spool import Spool

LOGIN_PAGE = (200, {"Content-Type": "text/html; charset=utf-8"},
              b"<html>\n<body>Please log in</body>\n</html>\n")
SINCE = ("--since", "2026-01-01T00:00Z", "--until", "2026-01-01T02:00Z")


def v2_config(tmp_path: Path, url: str, bucket: str, token: str, sources: str,
              extra: str = "") -> Path:
    path = tmp_path / "pusher.toml"
    path.write_text(f"""
[pusher]
state_dir = "state"
[influx]
url = "{url}"
api = "v2"
org = "acme"
bucket = "{bucket}"
token = "{token}"
retries = 0
{extra}
{sources}
""")
    return path


def rollups_section() -> str:
    return ('[rollups]\nhourly_retention = "0"\ndaily_retention = "0"\n'
            '[rollups.measurements]\ngrid = { v = "sum" }\n')


def no_traceback(*results) -> None:
    for result in results:
        assert "Traceback" not in result.stderr + result.stdout, result.stderr


@pytest.fixture
def login_page(influxdb1):
    """A URL that answers every request with a login page, as a misrouted proxy does."""
    with fault_proxy(influxdb1.url) as proxy:
        proxy.fault_for = lambda path, body: LOGIN_PAGE
        yield proxy


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_a_login_page_acknowledges_nothing_and_the_points_stay_spooled(
        tmp_path, login_page, influxdb1, influx_db, influxdb2, influx_bucket, api):
    sources = grid_source(series=2)
    config = (write_config(tmp_path, login_page.url, influx_db, sources) if api == "v1" else
              v2_config(tmp_path, login_page.url, influx_bucket, influxdb2.token, sources))
    result = pusher("collect", "grid", *SINCE, config=config)
    no_traceback(result)
    assert result.returncode == 1
    assert re.search(rf"{login_page.url}/\S*write answered HTTP 200: text/html: this is not "
                     "InfluxDB's write API", result.stderr), result.stderr
    summary = [line for line in result.stderr.splitlines() if line.startswith("- grid ")]
    assert len(summary) == 1 and "written=0" in summary[0] and "spooled=4" in summary[0]
    # The points and the run's own point wait in the spool for the real server.
    assert Spool(tmp_path / "state" / "spool").count_lines() == 5

    real = influxdb1.url if api == "v1" else influxdb2.url
    config.write_text(config.read_text().replace(login_page.url, real))
    flushed = pusher("spool", "flush", config=config)
    assert flushed.returncode == 0, flushed.stderr
    assert "written=5" in flushed.stderr
    if api == "v1":
        assert count(influxdb1, influx_db) == 4
    else:
        rows = influxdb2.flux(f'from(bucket: "{influx_bucket}") |> range(start: 0) '
                              '|> filter(fn: (r) => r._measurement == "grid") |> count()')
        assert sum(int(row["_value"]) for row in rows) == 4


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_a_redirect_to_a_login_page_acknowledges_nothing(tmp_path, influxdb1, influxdb2,
                                                         influx_bucket, api):
    with fault_proxy(influxdb1.url) as proxy:
        proxy.fault_for = lambda path, body: (302, {"Location": "/login"}, b"")
        sources = grid_source(series=1)
        config = (write_config(tmp_path, proxy.url, "db", sources) if api == "v1" else
                  v2_config(tmp_path, proxy.url, influx_bucket, influxdb2.token, sources))
        result = pusher("collect", "grid", *SINCE, config=config)
    no_traceback(result)
    assert result.returncode == 1
    assert re.search(rf"{proxy.url}/\S*write answered HTTP 302: \S+: this is not "
                     "InfluxDB's write API", result.stderr), result.stderr
    assert Spool(tmp_path / "state" / "spool").count_lines() == 3


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_every_read_of_a_server_that_is_not_influxdb_fails_in_one_line(
        tmp_path, login_page, influxdb2, api):
    sources = grid_source(series=2)
    policies = 'retention_policy = "hourly"\ndaily_retention_policy = "daily"'
    config = (write_config(tmp_path, login_page.url, "db", sources, extra=policies)
              if api == "v1" else v2_config(tmp_path, login_page.url, "b", influxdb2.token,
                                            sources, extra='daily_bucket = "d"'))
    config.write_text(config.read_text() + rollups_section())
    # No state directory: the watermark is read from "InfluxDB".
    collected = pusher("collect", "grid", config=config)
    assert re.search(r"WARNING: cannot read the watermark of grid from InfluxDB: "
                     rf"{login_page.url}/\S+ answered HTTP 200 text/html: this is not "
                     "InfluxDB's (Flux )?query API", collected.stderr), collected.stderr
    status = pusher("status", "--from-influx", config=config)
    verify = pusher("rollups", "verify", "--since", "3d", config=config)
    no_traceback(collected, status, verify)
    assert status.returncode == verify.returncode == 1
    for result in (status, verify):
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("pusher: error: ") and "InfluxDB" in line, line


def test_a_404_answer_is_one_line_in_the_summary_and_in_status(tmp_path, influxdb1):
    with fault_proxy(influxdb1.url) as proxy:
        proxy.fault_for = lambda path, body: (404, {"Content-Type": "text/plain"},
                                              b"404 page not found\n")
        config = write_config(tmp_path, proxy.url, "db", grid_source(series=1))
        result = pusher("collect", "grid", *SINCE, config=config)
    assert result.returncode == 1
    [summary] = [line for line in result.stderr.splitlines() if line.startswith("- grid ")]
    assert "answered HTTP 404: 404 page not found]" in summary
    status = pusher("status", config=config)
    assert status.returncode == 0
    [failure] = [line for line in status.stdout.splitlines() if line.startswith("last failure")]
    assert failure.endswith("answered HTTP 404: 404 page not found")
    assert "" not in status.stdout.splitlines()


def test_an_unreachable_influxdb_is_said_at_once_and_at_each_retry(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    config = write_config(tmp_path, url, "db", grid_source(series=1))
    config.write_text(config.read_text().replace("retries = 0", "retries = 2"))
    result = pusher("collect", "grid", *SINCE, config=config)
    assert result.returncode == 1
    said = re.findall(rf"InfluxDB at {url}/write unreachable \(ConnectionRefused\), "
                      r"retry (\d)/2 in [\d.]+ s", result.stderr)
    assert said == ["1", "2"], result.stderr
    assert f"InfluxDB at {url}/write unreachable (ConnectionRefused) after 3 attempts" \
        in result.stderr
