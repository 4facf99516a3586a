"""Writers post one batch of line protocol; delivery.py adds retries, splitting and refusal.

The package is everything between an encoded line and InfluxDB's answer: the sinks
(pusher/writers/sinks.py), the spool and the dead-letter file (pusher/writers/spool.py,
pusher/writers/deadletter.py), a spooled batch's way to InfluxDB (pusher/writers/batches.py) and the
writers. May import pusher.config, pusher.points, pusher.state and below; never
pusher.sources (an independence contract) or the runs.

A writer is any object with `post(body, granularity) -> None` and `close()`; the granularity
picks the destination (bucket or retention policy) of the batch. `post` returns only on
InfluxDB's own acknowledgement (HTTP 204, on 1.x and 2.x alike), raises ServerAnswer for
any other answer and Unreachable when no answer came (refused, reset, timed out).
"""

from __future__ import annotations

import re
from typing import Protocol

from pusher.config import InfluxConfig
from pusher.errors import ConfigError

ANSWER_LIMIT = 300  # characters of a server's answer kept in messages and state files


class Writer(Protocol):
    def post(self, body: bytes, granularity: str = "hourly") -> None: ...

    def close(self) -> None: ...


class ServerAnswer(Exception):
    """The server answered a write with something other than InfluxDB's acknowledgement."""

    def __init__(self, status: int, message: str, retry_after: str | None = None,
                 url: str = "InfluxDB", not_influx: bool = False):
        self.status = status
        self.detail = message  # whole, for finding the lines it names
        self.message = one_line(message)
        self.retry_after = retry_after
        self.url = url
        self.not_influx = not_influx  # a 2xx/3xx that is not 204: a proxy, a login page
        super().__init__(f"HTTP {status}: {self.message}")


class Unreachable(Exception):
    """The write did not get an HTTP answer (refused, reset, timed out)."""

    def __init__(self, cause: str, url: str = "InfluxDB"):
        self.cause = cause
        self.url = url
        super().__init__(f"{cause} posting to {url}")


def one_line(text: str, limit: int = ANSWER_LIMIT) -> str:
    """A server's answer as one bounded line (`404 page not found\\n` -> `404 page not found`)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else f"{flat[:limit]}... ({len(flat)} characters)"


SETUP_HINT = "run `pusher setup`"
# How InfluxDB says the place a point goes is missing: 1.x `database not found: "x"`,
# 2.x `bucket "x" not found` (seen on 1.6.7 and 2.7.12).
_MISSING = re.compile(r"database not found|\bbucket \S+ not found|retention policy not found")


def with_setup_hint(message: str) -> str:
    """`message`, and what to do when it says the database, bucket or policy is missing."""
    if _MISSING.search(message) and SETUP_HINT not in message:
        return f"{message}: {SETUP_HINT}"
    return message


def cause_name(exc: BaseException) -> str:
    """The innermost OS-level reason of a failed request: ConnectionRefused, Timeout, ..."""
    stack, seen = [exc], set()
    while stack:
        error = stack.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, OSError) and type(error).__module__ in ("builtins", "socket"):
            name = type(error).__name__
            return "NameResolution" if name == "gaierror" else name.removesuffix("Error")
        links = (error.__cause__, error.__context__, getattr(error, "reason", None), *error.args)
        stack.extend(link for link in links if isinstance(link, BaseException))
    return type(exc).__name__.removesuffix("Error")


def make_writer(influx: InfluxConfig, path: object = None) -> Writer:
    """The writer for `[influx] api`."""
    if influx.api == "v2" and not influx.org:
        raise ConfigError('is required with api = "v2"', file=str(path) if path else None,
                          key="influx.org")
    if influx.api == "v1":
        from pusher.writers.influx_v1 import InfluxV1Writer

        return InfluxV1Writer(influx)
    from pusher.writers.influx_v2 import InfluxV2Writer

    return InfluxV2Writer(influx)
