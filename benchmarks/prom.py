"""The prometheus source on a large query_range answer served from loopback, and its decoding."""

from __future__ import annotations

import gc
import json
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from benchmarks.workload import START
from pusher.points.lineprotocol import Encoder
from pusher.reading import Granularity, Window
from pusher.sources import prometheus_api
from pusher.sources.prometheus import read_windows

SERIES = 1000


def hours(count: int) -> list[Window]:
    """`count` consecutive hourly windows from the benchmark's START."""
    return [Window(START + timedelta(hours=n), START + timedelta(hours=n + 1), Granularity.HOURLY)
            for n in range(count)]


def query_range_body(samples: int, series: int = SERIES) -> bytes:
    """A `query_range` answer of `samples` samples over `series` series, one per hour each,
    at the ends of the windows of hours(samples // series), as Prometheus writes it."""
    steps, first_end = max(1, samples // series), (START + timedelta(hours=1)).timestamp()
    result = [{"metric": {"__name__": "http_requests_total", "job": "api",
                          "instance": f"10.0.{n // 250}.{n % 250}:9100", "code": "200"},
               "values": [[first_end + 3600 * i, f"{n * 1.5 + i:.1f}"] for i in range(steps)]}
              for n in range(series)]
    return json.dumps({"status": "success",
                       "data": {"resultType": "matrix", "result": result}}).encode()


@contextmanager
def serving(body: bytes) -> Iterator[str]:
    """A loopback HTTP server answering every GET with `body`; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def best_of(repeats: int, work: Callable[[], object]) -> float:
    """The fewest seconds `work` took in `repeats` tries."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def decode_all(body: bytes) -> int:
    """Decode every series' samples of an answer, as the source does; returns the count."""
    return sum(len(samples) for _, samples in prometheus_api.series_of(200, body))


def decode_figure(samples: int, repeats: int) -> dict[str, float]:
    """Seconds to decode one answer: json.loads, pusher's decoder with and without msgspec,
    and orjson where it is installed (it is not a dependency: measured to choose)."""
    body = query_range_body(samples)
    if decode_all(body) != samples:
        raise RuntimeError("pusher's decoder lost samples")
    took = {"json_s": best_of(repeats, lambda: json.loads(body)),
            "pusher_s": best_of(repeats, lambda: decode_all(body)),
            "body_mb": len(body) / 1e6}
    saved = prometheus_api.msgspec
    prometheus_api.msgspec = None  # type: ignore[assignment]  # the fallback, no `fast` extra
    try:
        if decode_all(body) != samples:
            raise RuntimeError("the json fallback lost samples")
        took["fallback_s"] = best_of(repeats, lambda: decode_all(body))
    finally:
        prometheus_api.msgspec = saved
    try:
        import orjson
    except ImportError:
        return took
    took["orjson_s"] = best_of(repeats, lambda: orjson.loads(body))
    return took


def span_memory(series: int, steps: int) -> dict[str, float]:
    """Peak bytes Python allocated (tracemalloc) while the source read `steps` windows of
    `series` series from one answer, per sample; the body itself is counted once."""
    body = query_range_body(series * steps, series)
    windows = hours(steps)
    queries: list[Mapping[str, Any]] = [{"query": "x", "measurement": "m"}]
    later = windows[-1].end + timedelta(days=1)  # every window complete: one span
    count = 0
    with serving(body) as url:
        gc.collect()
        tracemalloc.start()
        try:
            for readings in read_windows(windows, url=url, queries=queries, clock=lambda: later):
                count += len(list(readings))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    if count != series * steps:
        raise RuntimeError(f"the source gave {count} of {series * steps} readings")
    return {"peak_mb": peak / 1e6, "bytes_per_sample": peak / count, "body_mb": len(body) / 1e6}


def prometheus_figure(samples: int, repeats: int) -> dict[str, float]:
    """Best seconds of json.loads(body) and of the source turning the answer into lines."""
    body = query_range_body(samples)
    windows = hours(max(1, samples // SERIES))
    queries: list[Mapping[str, Any]] = [{"query": "http_requests_total",
                                         "measurement": "http_requests",
                                         "field": "count"}]
    best_json = best_source = float("inf")
    with serving(body) as url:
        for _ in range(repeats):
            started = time.perf_counter()
            json.loads(body)
            best_json = min(best_json, time.perf_counter() - started)
            encode = Encoder("s").encode
            started = time.perf_counter()
            lines = [encode(reading, "hourly", 0)
                     for readings in read_windows(windows, url=url, queries=queries)
                     for reading in readings]
            best_source = min(best_source, time.perf_counter() - started)
            if len(lines) != samples:
                raise RuntimeError(f"prometheus source gave {len(lines)} of {samples} points")
    return {"json_s": best_json, "source_s": best_source, "body_mb": len(body) / 1e6}
