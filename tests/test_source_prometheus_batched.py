"""Many windows per Prometheus request, against a real Prometheus holding real history.

The history (tests/server_prometheus_history.py) is 12 days of 20 series from 2024-03-25,
across the change to summer time in Europe/Berlin on 2024-03-31.
"""

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from cli_helpers import run_pusher
from server_prometheus_history import PrometheusHistory

from pusher.points.lineprotocol import Encoder
from pusher.reading import Granularity, windows_between
from pusher.runs.pipeline import Run, collect
from pusher.sources import prometheus_spans
from pusher.sources.prometheus import prometheus
from pusher.writers.sinks import StdoutSink

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2024, 3, 25, tzinfo=UTC)
QUERIES = [
    {"query": "sum by (shop) (increase(shop_orders_total[$__range]))",
     "measurement": "orders", "field": "count"},
    {"query": "increase(shop_orders_total[$__range])", "measurement": "orders_by_status",
     "tags": {"env": "test"}},
    {"query": "queue_depth", "measurement": "queues", "name_tag": "family"},
    {"query": "max_over_time(queue_depth[$__range])", "measurement": "queues_max"},
]


class CountingSession(requests.Session):
    """A real session that remembers the query parameters of every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[dict[str, str]] = []

    def request(self, method, url, *args, **kwargs):
        self.asked.append(dict(kwargs.get("params") or {}))
        return super().request(method, url, *args, **kwargs)


def per_window(window, **options):
    """The prometheus source without read_windows: the pipeline asks it window by window."""
    yield from prometheus(window, **options)


def run_lines(source, windows, prom, queries=QUERIES, now=None):
    """Line protocol a collect of `windows` prints, its errors and the requests it sent."""
    session, out = CountingSession(), io.StringIO()
    options = {"url": prom.url, "queries": queries, "session": session}
    if now is not None:
        options["clock"] = lambda: now
    run = Run("prom", source, options, windows[0].granularity.value, Encoder("s"),
              StdoutSink(out))
    record = collect(run, windows)
    return out.getvalue(), record.errors, session.asked


@pytest.fixture(scope="module")
def asked_alone(prometheus_history):
    """What the per-window path prints for a set of windows (asked once per module)."""
    seen = {}

    def lines(windows):
        key = (windows[0], windows[-1])
        if key not in seen:
            seen[key] = run_lines(per_window, windows, prometheus_history)
        return seen[key]

    return lines


@pytest.mark.parametrize(("granularity", "tz", "spans"), [
    # 14 days of hours (a day before the history, a day after): one span.
    (Granularity.HOURLY, UTC, 1),
    # Berlin days: 2024-03-31 lasts 23 hours, so it is a span of its own between two.
    (Granularity.DAILY, BERLIN, 3),
])
def test_batched_lines_are_byte_identical_to_per_window(prometheus_history, asked_alone,
                                                        decoder, granularity, tz, spans):
    windows = list(windows_between(START - timedelta(days=1), START + timedelta(days=13),
                                   granularity, tz))
    batched, batched_errors, batched_asked = run_lines(prometheus, windows, prometheus_history)
    alone, alone_errors, alone_asked = asked_alone(windows)
    assert batched == alone
    assert batched_errors == alone_errors == []
    assert len(batched_asked) == spans * len(QUERIES)
    assert len(alone_asked) == len(windows) * len(QUERIES)
    lines = batched.splitlines()
    # Every query answered; every window that meets the history has points, stamped with its
    # start.
    assert {line.split(",", 1)[0] for line in lines} == {q["measurement"] for q in QUERIES}
    stamps = {int(line.rsplit(" ", 1)[1]) for line in lines}
    end = START + timedelta(days=12)
    assert stamps == {int(w.start.timestamp()) for w in windows
                      if w.end >= START and w.start < end}


def test_the_current_window_is_asked_alone_up_to_now(prometheus_history):
    now = datetime(2024, 3, 30, 10, 20, 30, 500_000, tzinfo=UTC)
    windows = list(windows_between(now - timedelta(hours=30), now, Granularity.HOURLY))
    batched, _, asked = run_lines(prometheus, windows, prometheus_history, now=now)
    alone, _, _ = run_lines(per_window, windows, prometheus_history, now=now)
    assert batched == alone and batched
    # Each query once for the 30 complete hours, then once for 10:00 up to now, at now.
    spanned, current = asked[:len(QUERIES)], asked[len(QUERIES):]
    assert {a["step"] for a in spanned} == {"3600s"} and len(current) == len(QUERIES)
    assert all(a["step"] == "1230s" and a["start"] == a["end"] == f"{now.timestamp():.3f}"
               for a in current)
    assert current[0]["query"] == "sum by (shop) (increase(shop_orders_total[1230s]))"


def test_a_long_backfill_asks_once_per_11000_windows(prometheus_history):
    # Two years of hours ending with the history: 17,520 windows, 2 requests per query.
    end = START + timedelta(days=12)
    windows = list(windows_between(end - timedelta(days=730), end, Granularity.HOURLY))
    queries = QUERIES[:1]
    long_run, errors, asked = run_lines(prometheus, windows, prometheus_history, queries)
    assert errors == []
    assert [int(a["end"].split(".")[0]) - int(a["start"].split(".")[0]) for a in asked] == [
        10_999 * 3600, 6_519 * 3600]
    # The history's windows come out as when they are asked on their own.
    recent = [w for w in windows if w.start >= START]
    short_run, _, _ = run_lines(prometheus, recent, prometheus_history, queries)
    assert long_run == short_run and short_run


def test_a_refused_resolution_is_split_in_halves(prometheus_history, monkeypatch):
    # Prometheus refuses more than 11,000 steps: with our limit raised above it, it answers
    # 400 "exceeded maximum resolution" and the source asks for each half instead.
    monkeypatch.setattr(prometheus_spans, "MAX_STEPS", 20_000)
    end = START + timedelta(days=12)
    windows = list(windows_between(end - timedelta(days=730), end, Granularity.HOURLY))
    lines, errors, asked = run_lines(prometheus, windows, prometheus_history, QUERIES[:1])
    assert errors == []
    steps = [round((float(a["end"]) - float(a["start"])) / 3600) + 1 for a in asked]
    assert steps == [17_520, 8_760, 8_760]
    recent = [w for w in windows if w.start >= START]
    assert lines == run_lines(prometheus, recent, prometheus_history, QUERIES[:1])[0]


@pytest.fixture(scope="module")
def small_max_samples(prometheus_history, tmp_path_factory):
    """The same history on a Prometheus that loads at most 1,000 samples per query."""
    with PrometheusHistory(tmp_path_factory.mktemp("max-samples"), prometheus_history.history,
                           extra_flags=("--query.max-samples=1000",),
                           blocks_from=prometheus_history.data_dir) as server:
        yield server


def test_too_many_samples_is_split_until_it_fits(small_max_samples):
    # 288 hours of 10 counters: this server refuses 288 and 144 steps ("query processing
    # would load too many samples into memory"), and answers 72.
    windows = list(windows_between(START, START + timedelta(days=12), Granularity.HOURLY))
    queries = [QUERIES[1]]
    batched, errors, asked = run_lines(prometheus, windows, small_max_samples, queries)
    assert errors == []
    steps = [round((float(a["end"]) - float(a["start"])) / 3600) + 1 for a in asked]
    assert steps == [288, 144, 72, 72, 144, 72, 72]
    alone, _, _ = run_lines(per_window, windows, small_max_samples, queries)
    assert batched == alone and batched


def test_a_step_that_fails_fails_only_its_windows(prometheus_history):
    # Dropping `source` makes the two conflict series collide only on 2024-03-30 (day 5):
    # Prometheus fails the whole range query (422), so the source asks each window alone.
    queries = [{"query": 'label_replace(conflict, "source", "", "source", ".*")',
                "measurement": "conflict"}, QUERIES[0]]
    windows = list(windows_between(START + timedelta(days=4), START + timedelta(days=7),
                                   Granularity.HOURLY))
    batched, batched_errors, asked = run_lines(prometheus, windows, prometheus_history,
                                               queries)
    alone, alone_errors, _ = run_lines(per_window, windows, prometheus_history, queries)
    assert batched == alone and batched_errors == alone_errors
    assert len(batched_errors) == 24
    assert all("queries[0] conflict: HTTP 422: execution: vector cannot contain metrics "
               "with the same labelset" in error for error in batched_errors)
    # The sum query of the failing windows still came out.
    day5 = int((START + timedelta(days=5)).timestamp())
    assert "orders,granularity=hourly,shop=s0 count=" in batched
    assert any(line.endswith(f" {day5}") for line in batched.splitlines())
    assert len(asked) == 1 + 1 + len(windows)  # sum once; conflict refused, then alone


def query_range_requests(prom) -> float:
    """Prometheus' own count of the /api/v1/query_range requests it answered."""
    metrics = requests.get(f"{prom.url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("prometheus_http_requests_total{")
               and 'handler="/api/v1/query_range"' in line)


def write_config(tmp_path, prom, queries=QUERIES):
    tables = "".join(
        f"[[sources.prom.queries]]\nquery = '{q['query']}'\nmeasurement = \"{q['measurement']}\"\n"
        + "".join(f'{key} = "{q[key]}"\n' for key in ("field", "name_tag") if key in q)
        + "".join(f'tags = {{ {k} = "{v}" }}\n' for k, v in q.get("tags", {}).items())
        for q in queries)
    path = tmp_path / "pusher.toml"
    path.write_text(f"""
[pusher]
state_dir = "{tmp_path / 'state'}"
[influx]
url = "http://127.0.0.1:1"
api = "v1"
database = "db"
[sources.prom]
type = "prometheus"
url = "{prom.url}"
granularity = "hourly"
{tables}""")
    return path


@pytest.mark.parametrize("command", [
    ("backfill", "prom", "--chunk", "24"),
    ("collect", "prom"),
])
def test_commands_print_the_per_window_lines_with_one_request_per_query(
        prometheus_history, asked_alone, tmp_path, command):
    since, until = START - timedelta(days=1), START + timedelta(days=13)
    windows = list(windows_between(since, until, Granularity.HOURLY))
    before = query_range_requests(prometheus_history)
    result = run_pusher(*command, "--since", since.isoformat(), "--until", until.isoformat(),
                        "--dry-run", config=write_config(tmp_path, prometheus_history))
    assert result.returncode == 0, result.stderr
    assert query_range_requests(prometheus_history) - before == len(QUERIES)
    alone, _, _ = asked_alone(windows)
    assert result.stdout == alone
    assert f"- prom windows={len(windows)} readings={len(alone.splitlines())} " in result.stderr
