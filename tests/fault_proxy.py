"""A small fault-injecting HTTP proxy on loopback, in front of a real InfluxDB."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

FORWARDED_HEADERS = ("Content-Type", "Content-Encoding", "Authorization")


class FaultProxy:
    """Answers from a script of faults first, then forwards; 413 for bodies over max_body."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.faults: list[tuple[int, dict[str, str]]] = []
        self.max_body: int | None = None
        self.seen: list[tuple[int, int]] = []  # (answered status, body size)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy.lock:
                    fault = proxy.faults.pop(0) if proxy.faults else None
                if fault is None and proxy.max_body is not None and len(body) > proxy.max_body:
                    fault = (413, {})
                if fault is not None:
                    status, headers = fault
                    content = b'{"error":"injected"}'
                else:
                    forwarded = {k: v for k in FORWARDED_HEADERS if (v := self.headers.get(k))}
                    upstream = requests.post(proxy.upstream + self.path, data=body,
                                             headers=forwarded, timeout=30)
                    status, headers, content = upstream.status_code, {}, upstream.content
                # Recorded before answering: the client may look as soon as it has the answer.
                with proxy.lock:
                    proxy.seen.append((status, len(body)))
                self._answer(status, headers, content)

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream)
    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()
