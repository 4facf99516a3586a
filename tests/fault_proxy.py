"""A small fault-injecting HTTP proxy on loopback, in front of a real InfluxDB.

Faults: a scripted answer (`faults`, first come first served), a per-request choice
(`fault_for`), a connection reset (status RESET), a slow answer (`delay` seconds before
forwarding), a rewrite of the real server's answer (`rewrite`), and 413 over `max_body`.
"""

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

FORWARDED_HEADERS = ("Content-Type", "Content-Encoding", "Authorization", "Accept")
RESET = 0  # a fault status: close the connection with a TCP reset, no answer
# (status, headers) or (status, headers, body); body defaults to {"error":"injected"}.
Fault = tuple
Answer = tuple[int, dict[str, str], bytes]


class FaultProxy:
    """Answers from a script of faults first, then forwards; 413 for bodies over max_body."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.fault_for: Callable[[str, bytes], Fault | None] | None = None
        self.rewrite: Callable[[Answer], Answer] | None = None
        self.delay = 0.0
        self.max_body: int | None = None
        self.seen: list[tuple[int, int]] = []  # (answered status, body size)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def choose(self, method: str, path: str, body: bytes) -> Fault | None:
        with self.lock:
            if self.faults:
                return self.faults.pop(0)
        if self.fault_for is not None:
            fault = self.fault_for(path, body)
            if fault is not None:
                return fault
        if method == "POST" and self.max_body is not None and len(body) > self.max_body:
            return (413, {})
        return None

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if self.delay:
            time.sleep(self.delay)  # a slow server, not a test's wait
        upstream = requests.request(method, self.upstream + path, data=body or None,
                                    headers=headers, timeout=30)
        answer = (upstream.status_code,
                  {"Content-Type": upstream.headers.get("Content-Type", "application/json")},
                  upstream.content)
        return self.rewrite(answer) if self.rewrite else answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._serve("POST")

            def do_GET(self) -> None:
                self._serve("GET")

            def _serve(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fault = proxy.choose(method, self.path, body)
                if fault is not None and fault[0] == RESET:
                    with proxy.lock:
                        proxy.seen.append((RESET, len(body)))
                    self._reset()
                    return
                if fault is not None:
                    status, headers = fault[0], {"Content-Type": "application/json"} | fault[1]
                    content = fault[2] if len(fault) > 2 else b'{"error":"injected"}'
                else:
                    forwarded = {k: v for k in FORWARDED_HEADERS if (v := self.headers.get(k))}
                    status, headers, content = proxy.forward(method, self.path, forwarded, body)
                # Recorded before answering: the client may look as soon as it has the answer.
                with proxy.lock:
                    proxy.seen.append((status, len(body)))
                self._answer(status, headers, content)

            def _reset(self) -> None:
                # SO_LINGER 0: close() sends a TCP reset, as a crashed server or a proxy does.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.close_connection = True
                with suppress(OSError):
                    self.connection.close()

            def finish(self) -> None:
                with suppress(OSError):
                    super().finish()

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream)

    def stop() -> None:
        proxy.server.shutdown()
        proxy.server.server_close()

    with serving(proxy.server.serve_forever, stop):
        yield proxy


@contextmanager
def serving(serve: Callable[[], None], stop: Callable[[], None]) -> Iterator[None]:
    """`serve` in a thread while the block runs; then `stop`, and the thread is waited for."""
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop()
        thread.join()


class StallingServer:
    """A real TCP server on loopback that never answers in time.

    `mode` "silent": accepts, reads the request, and never answers. "trickle": answers a
    status line and then an endless header one byte every `interval` seconds, so every
    socket read of the client gets a byte well within any read timeout. Each connection
    ends when the client goes away (counted in `gone`), or after `limit` seconds.
    """

    def __init__(self, mode: str, interval: float = 1.0, limit: float = 120.0):
        assert mode in ("silent", "trickle")
        self.mode, self.interval, self.limit = mode, interval, limit
        self.accepted = 0
        self.gone = 0  # connections the client closed or shut down while stalled
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def serve(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self._stall, args=(connection,), daemon=True).start()

    def _stall(self, connection: socket.socket) -> None:
        started = time.monotonic()
        connection.settimeout(self.interval)
        with connection:
            if self.mode == "trickle":
                with suppress(OSError):
                    connection.sendall(b"HTTP/1.1 200 OK\r\nX-Trickle: ")
            while not self.stopping.is_set() and time.monotonic() - started < self.limit:
                try:
                    if self.mode == "trickle":
                        connection.sendall(b"a")
                        # A closed client shows as an empty read (the wait is the trickle's pace).
                        if self._closed(connection):
                            break
                    elif self._closed(connection):
                        break
                except OSError:
                    break
            else:
                return
            with self.lock:
                self.gone += 1

    @staticmethod
    def _closed(connection: socket.socket) -> bool:
        try:
            return connection.recv(65536) == b""
        except TimeoutError:
            return False


@contextmanager
def stalling_server(mode: str, interval: float = 1.0, limit: float = 120.0
                    ) -> Iterator[StallingServer]:
    server = StallingServer(mode, interval, limit)

    def stop() -> None:
        server.stopping.set()
        server.listener.close()

    with serving(server.serve, stop):
        yield server
