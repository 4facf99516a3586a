"""The prometheus source on a large query_range answer, served from a local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from benchmarks.workload import START
from pusher.lineprotocol import Encoder
from pusher.reading import Granularity, Window
from pusher.sources.prometheus import prometheus


def query_range_body(samples: int, series: int = 1000) -> bytes:
    """A `query_range` answer of `samples` samples over `series` series, as Prometheus writes it."""
    per_series, start = max(1, samples // series), START.timestamp()
    result = [{"metric": {"__name__": "http_requests_total", "job": "api",
                          "instance": f"10.0.{n // 250}.{n % 250}:9100", "code": "200"},
               "values": [[start + 60 * i, f"{n * 1.5 + i:.1f}"] for i in range(per_series)]}
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


def prometheus_figure(samples: int, repeats: int) -> dict[str, float]:
    """Best seconds of json.loads(body) and of the source turning the answer into lines."""
    body = query_range_body(samples)
    window = Window(START, START + timedelta(hours=1), Granularity.HOURLY)
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
            lines = [encode(r, "hourly", 0) for r in prometheus(window, url, queries)]
            best_source = min(best_source, time.perf_counter() - started)
            if len(lines) != samples:
                raise RuntimeError(f"prometheus source gave {len(lines)} of {samples} points")
    return {"json_s": best_json, "source_s": best_source, "body_mb": len(body) / 1e6}
