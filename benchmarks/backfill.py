"""A Prometheus backfill on a real Prometheus with real history (built once per run).

The history is 50 counters at 5-minute resolution (tests/server_prometheus_history.py,
loaded with promtool). The figures compare, on that one server: the source asked window by
window (as before batching), the source asked for every window at once, and one raw
query_range of the same span fetched with plain requests (Prometheus' own evaluation plus
JSON decoding: the limit).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from benchmarks.push import ROOT
from pusher.points.lineprotocol import Encoder
from pusher.reading import Granularity, Window, windows_between
from pusher.sources.prometheus import prometheus, read_windows

sys.path.insert(0, str(ROOT / "tests"))
from server_prometheus_history import History, PrometheusHistory  # tests/, put on the path

QUERY = {"query": "increase(shop_orders_total[$__range])", "measurement": "orders"}
SETTLE_TIMEOUT = 300.0  # seconds to wait for Prometheus to compact the loaded blocks


def history(days: int, series: int = 50) -> History:
    return History(start=datetime(2024, 1, 1, tzinfo=UTC), days=days, resolution=300,
                   counters=series, gauges=0, quirks=False)


@dataclass
class Prepared:
    server: PrometheusHistory
    build_s: float  # promtool: OpenMetrics text -> blocks
    settle_s: float  # Prometheus compacting the 2-hour blocks, before anything is measured


@contextmanager
def history_server(workdir: Path, days: int, series: int = 50,
                   settle: bool = True) -> Iterator[Prepared]:
    """A Prometheus holding `days` of history; compacted first unless `settle` is False."""
    with PrometheusHistory(workdir / "prometheus-history", history(days, series)) as server:
        started = time.perf_counter()
        if settle:
            wait_for_compaction(server)
        yield Prepared(server, server.build_seconds or 0.0, time.perf_counter() - started)


def tsdb_metrics(server: PrometheusHistory) -> dict[str, float]:
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    return {name: float(value) for name, value in re.findall(
        r"^(prometheus_tsdb_(?:blocks_loaded|compactions_total)) (\S+)$", text, re.MULTILINE)}


def wait_for_compaction(server: PrometheusHistory) -> None:
    """Until Prometheus compacted the many 2-hour blocks promtool made (its first compaction
    comes about a minute after start) and the number of blocks stays put for 5 s."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last, steady = None, 0
    while time.monotonic() < deadline:
        metrics = tsdb_metrics(server)
        blocks = metrics.get("prometheus_tsdb_blocks_loaded")
        if metrics.get("prometheus_tsdb_compactions_total", 0) > 0:
            steady = steady + 1 if blocks == last else 0
            if steady >= 5:
                return
        last = blocks
        time.sleep(1)


class CountingSession(requests.Session):
    """A session that counts the requests it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.requests += 1
        return super().request(*args, **kwargs)


WAYS = ("per_window", "batched", "readings", "raw")


def backfill_figure(prepared: Prepared, repeats: int) -> dict[str, Any]:
    """Best seconds of each way over the whole history, interleaved, and their requests.

    per_window and batched: the source's readings encoded to lines; readings: the batched
    source's readings only (what the source itself does); raw: one query, decoded.
    """
    server, span = prepared.server, prepared.server.history
    windows = list(windows_between(span.start, span.end, Granularity.HOURLY))
    best = dict.fromkeys(WAYS, float("inf"))
    lines: dict[str, list[str]] = {}
    sessions = {}
    for _ in range(repeats):
        for way in WAYS:
            session = sessions[way] = CountingSession()
            started = time.perf_counter()
            if way == "raw":
                raw_query(session, server.url, windows[0].end, windows[-1].end)
            elif way == "readings":
                count = sum(len(list(readings))
                            for readings in read_windows(windows, url=server.url,
                                                         queries=[QUERY], session=session))
            else:
                lines[way] = to_lines(way, windows, server.url, session)
            best[way] = min(best[way], time.perf_counter() - started)
    if lines["batched"] != lines["per_window"] or len(lines["batched"]) != count or not count:
        raise RuntimeError("batched and per-window lines differ")
    return {f"{way}_s": seconds for way, seconds in best.items()} | {
        "windows": len(windows), "points": count,
        "per_window_requests": sessions["per_window"].requests,
        "batched_requests": sessions["batched"].requests}


def to_lines(way: str, windows: list[Window], url: str, session: requests.Session
             ) -> list[str]:
    """Line protocol of every window, read per window or batched, as a collect encodes it."""
    read = per_window if way == "per_window" else read_windows
    encode = Encoder("s").encode
    return [encode(reading, "hourly", int(window.start.timestamp()))
            for window, readings in zip(
                windows, read(windows, url=url, queries=[QUERY], session=session), strict=True)
            for reading in readings]


def per_window(windows: list[Window], url: str, queries: list[Mapping[str, Any]],
               session: requests.Session) -> list[Iterator[Any]]:
    """The source asked window by window, as the pipeline asks a source without batching."""
    return [prometheus(window, url, queries, session=session) for window in windows]


def raw_query(session: requests.Session, url: str, first_end: datetime,
              last_end: datetime) -> int:
    """One query_range of the span with plain requests, decoded by requests' .json()."""
    answer = session.get(f"{url}/api/v1/query_range", timeout=300, params={
        "query": QUERY["query"].replace("$__range", "3600s"), "step": "3600s",
        "start": f"{first_end.timestamp():.3f}", "end": f"{last_end.timestamp():.3f}"})
    result = answer.json()["data"]["result"]
    return sum(len(series["values"]) for series in result)
