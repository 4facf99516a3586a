"""The time one source may spend in one run, and the bound each of its requests gets.

A run of a source (a `collect`, one chunk of a `backfill`, one child of `pusher run`, one
Airflow task) has a `Deadline`: its `timeout` in seconds from the start. The runner makes
it the current deadline while the source is read (`within`); a source asks
`bound(query_timeout)` before each query or request and gets the seconds that request may
take: its own limit, never more than the run's time left. A python source (or a plugin) that
waits on something reads `time_left()` the same way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pusher.errors import SourceError


class TimedOut(SourceError):
    """A query, a request or a whole source run took longer than it may."""


class Deadline:
    """`seconds` from now on `clock` (monotonic seconds); None: no bound."""

    __slots__ = ("clock", "ends", "seconds")

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic):
        self.seconds, self.clock = seconds, clock
        self.ends = math.inf if seconds is None else clock() + seconds

    def left(self) -> float:
        """Seconds left (math.inf without a bound; 0.0 once it has passed)."""
        return max(0.0, self.ends - self.clock())

    def expired(self) -> bool:
        return self.clock() >= self.ends

    def error(self) -> TimedOut:
        """The run's own time is up: "timed out after N s"."""
        seconds = seconds_text(self.seconds or 0)
        return TimedOut(f"timed out after {seconds}s (the source's timeout)")


NO_DEADLINE = Deadline(None)
_current: ContextVar[Deadline] = ContextVar("pusher_deadline", default=NO_DEADLINE)


@contextmanager
def within(deadline: Deadline | None) -> Iterator[None]:
    """Make `deadline` the current one while the block runs (None: leave it as it is)."""
    if deadline is None:
        yield
        return
    token = _current.set(deadline)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> Deadline:
    return _current.get()


def time_left() -> float:
    """Seconds the current source run has left (math.inf when it has no bound)."""
    return _current.get().left()


def bound(wanted: float | None) -> float:
    """Seconds the next query or request may take: `wanted`, never more than the run's
    time left; raises TimedOut when none is left."""
    deadline = _current.get()
    left = deadline.left()
    if left <= 0:
        raise deadline.error()
    return left if wanted is None else min(wanted, left)


def timed_out(seconds: float, what: str = "") -> TimedOut:
    """The error of a query or request that took longer than its `seconds`."""
    deadline = _current.get()
    if deadline.left() <= 0:
        return TimedOut(f"{what}{deadline.error()}")
    return TimedOut(f"{what}timed out after {seconds_text(seconds)}s (query_timeout)")


def seconds_text(seconds: float) -> str:
    """3.0 as "3", 2.5 as "2.5", 0.04 as "0.04": a number of seconds as a config writes it."""
    return f"{seconds:.2f}".rstrip("0").rstrip(".")
