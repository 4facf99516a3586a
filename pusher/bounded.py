"""A bound on the whole of a blocking call (an HTTP request), not on each socket read.

A client's own timeout bounds each socket operation: a server that sends a byte a second
passes it for ever. `call_within` runs the call in a daemon thread and waits at most
`seconds`; when it gives up, it shuts down the sockets the call was using (tracked for
requests and urllib3 clients, `cancel` for others), so the abandoned thread ends at once
and the server sees its client go (Prometheus then stops evaluating the query).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from functools import cache, partial
from typing import Any, TypeVar

import requests

T = TypeVar("T")
_calls = threading.local()  # .used: the connections the call on this thread took


class RequestTimedOut(requests.exceptions.Timeout):
    """The call did not return within its bound; its sockets were shut down. (A requests
    Timeout, so that code handling a request's failures handles this one too.)"""

    def __init__(self, seconds: float):
        self.seconds = seconds
        super().__init__(f"no complete answer within {seconds:.3g}s")


class BoundedSession(requests.Session):
    """A requests session whose `timeout=SECONDS` bounds each request whole."""

    def __init__(self) -> None:
        super().__init__()
        track_session(self)

    def request(self, method: str | bytes, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:
        timeout = kwargs.get("timeout")
        call = partial(super().request, method, url, *args, **kwargs)
        if not isinstance(timeout, int | float):
            return call()
        return _whole(float(timeout), call)


def call_within(seconds: float, call: Callable[[], T],
                cancel: Callable[[], None] | None = None) -> T:
    """`call()`'s result or exception, or RequestTimedOut after `seconds` (then `cancel()`)."""
    used: list[Any] = []
    outcome: list[tuple[bool, Any]] = []
    done = threading.Event()

    def run() -> None:
        _calls.used = used
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the caller as it is
            outcome.append((False, exc))
        finally:
            done.set()

    # A daemon thread: one left behind never keeps the process from exiting.
    threading.Thread(target=run, name="pusher-bounded-call", daemon=True).start()
    if not done.wait(seconds):
        for connection in list(used):
            shut(getattr(connection, "sock", None))
        if cancel is not None:
            cancel()
        # Caused by a TimeoutError: messages name the cause "Timeout" (writers.cause_name).
        raise RequestTimedOut(seconds) from TimeoutError()
    ok, value = outcome[0]
    if ok:
        return value
    raise value


def request_within(session: requests.Session, method: str, url: str, seconds: float,
                   **kwargs: Any) -> requests.Response:
    """`session.request(...)`, read whole, in at most `seconds`; RequestTimedOut after."""
    track_session(session)
    # The per-read timeout too: a request given up on ends itself even if not shut down.
    return _whole(seconds, partial(session.request, method, url, timeout=seconds, **kwargs))


def _whole(seconds: float, call: Callable[[], requests.Response]) -> requests.Response:
    """A request whose per-read timeout is its whole bound: the two are due together, and
    whichever comes first, it is the same bound that passed."""
    try:
        return call_within(seconds, call)
    except RequestTimedOut:
        raise
    except requests.exceptions.Timeout:  # its own read (or connect) timeout came first
        raise RequestTimedOut(seconds) from TimeoutError()


def shut(sock: socket.socket | None) -> None:
    """Shut a socket down both ways: a thread blocked reading it returns at once."""
    if sock is not None:
        with suppress(OSError):
            # socket.socket's own method, also for an SSLSocket: its TLS state is left to
            # the thread that is reading it.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def track_session(session: requests.Session) -> None:
    """Let `call_within` shut down the connections this session's requests use."""
    for adapter in session.adapters.values():
        manager = getattr(adapter, "poolmanager", None)
        if manager is not None:
            track_pools(manager)


def track_pools(manager: Any) -> None:
    """The same for a urllib3 PoolManager (influxdb-client's)."""
    manager.pool_classes_by_scheme = tracked_pool_classes()


@cache
def tracked_pool_classes() -> dict[str, type]:
    """urllib3's pool classes whose connections say when a request starts on them."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class TrackedHTTP(HTTPConnection):
        def request(self, *args: Any, **kwargs: Any) -> None:
            _track(self)
            super().request(*args, **kwargs)

    class TrackedHTTPS(HTTPSConnection):
        def request(self, *args: Any, **kwargs: Any) -> None:
            _track(self)
            super().request(*args, **kwargs)

    class TrackedHTTPPool(HTTPConnectionPool):
        ConnectionCls = TrackedHTTP

    class TrackedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = TrackedHTTPS

    return {"http": TrackedHTTPPool, "https": TrackedHTTPSPool}


def _track(connection: object) -> None:
    used = getattr(_calls, "used", None)
    if used is not None:
        used.append(connection)
