"""Writers post one batch of line protocol; delivery.py adds retries, splitting and refusal.

A writer is any object with `post(body, granularity) -> None` and `close()`; the granularity
picks the destination (bucket or retention policy) of the batch. `post` raises
ServerAnswer for an HTTP error answer and OSError-like errors (ConnectionError) when the
server cannot be reached.
"""

from __future__ import annotations

from typing import Protocol

from pusher.config import InfluxConfig
from pusher.errors import ConfigError


class Writer(Protocol):
    def post(self, body: bytes, granularity: str = "hourly") -> None: ...

    def close(self) -> None: ...


class ServerAnswer(Exception):
    """InfluxDB answered a write with an error status."""

    def __init__(self, status: int, message: str, retry_after: str | None = None):
        self.status = status
        self.message = message
        self.retry_after = retry_after
        super().__init__(f"HTTP {status}: {message}")


class Unreachable(Exception):
    """The write did not get an HTTP answer (refused, reset, timed out)."""


def make_writer(influx: InfluxConfig, path: object = None) -> Writer:
    """The writer for `[influx] api`; imports the client library only when it is used."""
    if influx.api == "v2" and not influx.org:
        raise ConfigError('is required with api = "v2"', file=str(path) if path else None,
                          key="influx.org")
    if influx.api == "v1":
        from pusher.writers.influx_v1 import InfluxV1Writer

        return InfluxV1Writer(influx)
    from pusher.writers.influx_v2 import InfluxV2Writer

    return InfluxV2Writer(influx)
