"""Issue 17 over HTTP: a server that accepts and never answers, or trickles a byte a second,
in front of the Prometheus, Google Analytics and InfluxDB clients (tests/fault_proxy.py).

A client's own timeout bounds each socket read, which a trickle passes for ever: each
request is bounded whole. The time bounds are the issue's (a run that would hang 30 s or
more ends within 15 s with a 3 s timeout), not speed figures.
"""

import time
from datetime import UTC, datetime

import pytest
from cli_helpers import run_pusher
from fault_proxy import stalling_server

from pusher.config import InfluxConfig
from pusher.writers import Unreachable
from pusher.writers.influx_v1 import InfluxV1Writer
from pusher.writers.influx_v2 import InfluxV2Writer

INFLUX = """
[pusher]
state_dir = "state"
[influx]
url = "{influx}"
api = "v1"
timeout = 2
retries = 0
"""
PROMETHEUS = """
[sources.prom]
type = "prometheus"
url = "{url}"
timeout = 3
[[sources.prom.queries]]
query = "up"
measurement = "up"
[[sources.prom.queries]]
query = "sum(up)"
measurement = "ups"
"""
GOOGLE_ANALYTICS = """
[sources.ga]
type = "google-analytics"
granularity = "daily"
property = "123456"
credentials = "anonymous"
endpoint = "{url}/"
metrics = ["sessions"]
dimensions = ["date"]
timeout = 3
"""


def collect(tmp_path, text, *args):
    config = tmp_path / "pusher.toml"
    config.write_text(text)
    started = time.monotonic()
    done = run_pusher("collect", *args, config=config)
    return done, time.monotonic() - started


def summary(done, name):
    return next(line for line in done.stderr.splitlines() if line.startswith(f"- {name} "))


@pytest.mark.parametrize("mode", ["silent", "trickle"])
def test_a_prometheus_that_never_answers_ends_the_run_at_its_timeout(tmp_path, mode):
    """The issue's second case: 30 s per window per query whatever the timeout; six windows
    took 180 s. Now the first request ends at the source's 3 s, and the rest are not asked."""
    with stalling_server(mode) as server:
        text = INFLUX.format(influx="http://127.0.0.1:1") + PROMETHEUS.format(url=server.url)
        done, took = collect(tmp_path, text, "prom", "--dry-run", "--since", "6h")
        assert took < 15, done.stderr
        assert server.accepted == 1  # one request for the span, the second query not asked
        limit = time.monotonic() + 10
        while server.gone < server.accepted and time.monotonic() < limit:
            time.sleep(0.05)  # the server notices the client going away on its next byte
    assert done.returncode == 1
    assert "[failed: timed out after 3s (the source's timeout): stopped at window 1 of 7; " \
        "collect the rest with `pusher backfill prom --since " in summary(done, "prom")
    assert "queries[0] up: no answer from Prometheus: timed out after 3s" in done.stderr
    assert server.gone == server.accepted


@pytest.mark.parametrize("mode", ["silent", "trickle"])
def test_query_timeout_bounds_each_prometheus_request(tmp_path, mode):
    """query_timeout (1 s here) under a larger source timeout: each query fails on its own
    and the scheduled run stops at its first timed-out window."""
    with stalling_server(mode) as server:
        text = INFLUX.format(influx="http://127.0.0.1:1") + PROMETHEUS.format(
            url=server.url).replace("timeout = 3", "timeout = 60\nquery_timeout = 1")
        done, took = collect(tmp_path, text, "prom", "--dry-run")
    assert took < 15, done.stderr
    assert done.returncode == 1
    assert "queries[0] up: no answer from Prometheus: timed out after 1s (query_timeout); " \
        "queries[1] ups: no answer from Prometheus: timed out after 1s (query_timeout)" \
        in done.stderr
    assert "[failed: a query timed out: stopped at window 1 of 2; the next run resumes " \
        "from the watermark" in summary(done, "prom")


@pytest.mark.parametrize("mode", ["silent", "trickle"])
def test_a_google_analytics_api_that_never_answers_ends_at_the_timeout(tmp_path, mode):
    with stalling_server(mode) as server:
        text = INFLUX.format(influx="http://127.0.0.1:1") + GOOGLE_ANALYTICS.format(
            url=server.url)
        done, took = collect(tmp_path, text, "ga", "--dry-run", "--since", "3d")
        assert took < 15, done.stderr
        limit = time.monotonic() + 10
        while server.gone < server.accepted and time.monotonic() < limit:
            time.sleep(0.05)
        assert server.gone == server.accepted == 1
    assert done.returncode == 1
    assert "no answer from Google Analytics: timed out after 3s (the source's timeout)" \
        in done.stderr
    assert "[failed: timed out after 3s" in summary(done, "ga")


def writers(url):
    v1 = InfluxConfig(url=url, api="v1", timeout=1.0)
    v2 = InfluxConfig(url=url, api="v2", org="o", token="t", timeout=1.0)
    return [InfluxV1Writer(v1), InfluxV2Writer(v2)]


@pytest.mark.parametrize("mode", ["silent", "trickle"])
@pytest.mark.parametrize("api", ["v1", "v2"])
def test_influx_timeout_bounds_a_write_whole(mode, api):
    """[influx] timeout bounds each write request: a trickle no longer passes it."""
    with stalling_server(mode) as server:
        writer = dict(zip(["v1", "v2"], writers(server.url), strict=True))[api]
        started = time.monotonic()
        with pytest.raises(Unreachable) as caught:
            writer.post(b"m f=1 1\n")
        assert time.monotonic() - started < 10
        writer.close()
    assert str(caught.value).startswith("Timeout posting to http://127.0.0.1:")


def test_a_stalled_influxdb_leaves_the_points_in_the_spool(tmp_path):
    """A run against an InfluxDB that trickles ends within the bound; its points wait in
    the spool (the watermark lookup and the write both gave up after [influx] timeout)."""
    (tmp_path / "readers.py").write_text(
        "from pusher.reading import Reading\n"
        "def two(window):\n"
        "    yield Reading('m', {'v': 1}, {'k': 'a'})\n"
        "    yield Reading('m', {'v': 2}, {'k': 'b'})\n")
    with stalling_server("trickle") as server:
        text = INFLUX.format(influx=server.url) + """
[sources.py]
type = "python"
callable = "readers:two"
"""
        done, took = collect(tmp_path, text, "py")
    assert took < 30, done.stderr
    assert done.returncode == 1
    assert "spooled=4" in summary(done, "py"), done.stderr
    assert "cannot read the watermark of py from InfluxDB: InfluxDB at " in done.stderr
    assert "/query unreachable (Timeout)" in done.stderr
    assert "/write unreachable (Timeout)" in summary(done, "py")


def test_prometheus_is_given_the_bound_as_its_own_evaluation_timeout(prometheus):
    """The server stops evaluating a query pusher stopped waiting for (Prometheus' HTTP API
    `timeout` parameter), here 7 s of query_timeout under a run of 60 s."""
    from fault_proxy import fault_proxy

    from pusher.deadline import Deadline, within
    from pusher.reading import Granularity, Window
    from pusher.sources.prometheus import prometheus as source

    asked = []
    prometheus.wait_for_samples("up")
    with fault_proxy(prometheus.url) as proxy:
        proxy.fault_for = lambda path, body: asked.append(path)  # records, forwards
        window = Window.containing(datetime.now(UTC), Granularity.HOURLY)
        with within(Deadline(60)):
            readings = list(source(window, url=proxy.url, query_timeout=7,
                                   queries=[{"query": "up", "measurement": "up"}]))
    assert readings
    assert len(asked) == 1 and "timeout=7.000" in asked[0]


def test_a_google_analytics_retry_that_would_outlast_the_run_is_not_made():
    from googleapiclient.http import HttpMockSequence
    from test_source_google_analytics import error, run_source

    from pusher.deadline import Deadline, TimedOut, within

    slept = []
    http = HttpMockSequence([error(429, "RESOURCE_EXHAUSTED", "Exhausted property tokens")])
    with within(Deadline(1.5)), pytest.raises(TimedOut) as caught:  # the first wait: 2 s
        run_source(http, sleep=slept.append)
    assert slept == [] and "no retry: the run has " in str(caught.value)
    assert str(caught.value).startswith("Google Analytics quota exhausted for "
                                        "properties/123456 (HTTP 429")


def test_the_documented_query_timeout_defaults():
    import inspect

    from pusher.sources.google_analytics import google_analytics
    from pusher.sources.prometheus import prometheus as source
    from pusher.sources.sql import sql

    def default(function):
        return inspect.signature(function).parameters["query_timeout"].default

    # docs/operations.md, Timeouts: Prometheus 30 s, GA 60 s, SQL the run's time left.
    assert (default(source), default(google_analytics), default(sql)) == (30.0, 60.0, None)


def test_validate_gives_a_source_check_and_each_probe_a_bound(tmp_path, monkeypatch):
    """`pusher validate` fails a check or a probe that gets no answer in time (30 s each;
    1 s here) in one line: a Prometheus that trickles, a callable that never ends."""
    from pusher.checks import validate
    from pusher.config import load_config

    assert validate.CHECK_TIMEOUT == 30.0  # docs/operations.md, Timeouts
    monkeypatch.setattr(validate, "CHECK_TIMEOUT", 1.0)
    (tmp_path / "readers.py").write_text(
        "import time\nfrom pusher.reading import Reading\n"
        "def slow(window):\n"
        "    for number in range(200):\n"
        "        yield Reading('slow', {'v': number}, {'n': str(number)})\n"
        "        time.sleep(0.5)\n")
    with stalling_server("trickle") as server:
        config = tmp_path / "pusher.toml"
        config.write_text(INFLUX.format(influx="http://127.0.0.1:1") + PROMETHEUS.format(
            url=server.url).replace("timeout = 3", "query_timeout = 60")
            + '[sources.slowpy]\ntype = "python"\ncallable = "readers:slow"\n')
        loaded, now = load_config(config), datetime.now(UTC)
        started = time.monotonic()
        checks = list(validate.check_source(loaded, "prom", now))
        checks += list(validate.check_source(loaded, "slowpy", now))
        assert time.monotonic() - started < 20
    assert [(check.subject, check.ok) for check in checks] == [
        ("source prom (prometheus)", False), ("source slowpy (python)", True),
        ("source slowpy (python)", False)]
    assert "timed out after 1s" in checks[0].message
    assert "timed out after 1s" in checks[2].message


def test_a_request_whose_own_read_timeout_comes_first_has_timed_out_all_the_same():
    """A request's whole bound and its per-read timeout are due together; when the read
    timeout fires first (a loaded machine), it is the same bound that passed: the same
    error, not 'cannot reach'."""
    from functools import partial

    import requests

    from pusher.bounded import RequestTimedOut, _whole

    with stalling_server("silent") as server, pytest.raises(RequestTimedOut) as caught:
        _whole(30, partial(requests.Session().get, server.url, timeout=0.5))
    assert caught.value.seconds == 30
