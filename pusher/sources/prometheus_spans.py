"""Which windows one Prometheus range query can evaluate together (pure: no I/O).

A query describes a window by its value at the window's end with `$__range` = the window's
length. Consecutive windows of one length are therefore the steps of one range query
(`step` = the length), evaluated exactly as if each were asked alone. A window of another
length (a 23- or 25-hour day across a DST change, the current window read up to now) is a
span of its own: the request it gets is the one a lone window gets.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pusher.reading import Window

# Prometheus refuses a range query of more than 11,000 steps per series
# (web/api/v1/api.go: "exceeded maximum resolution of 11,000 points per timeseries").
MAX_STEPS = 11_000


@dataclass(frozen=True, slots=True)
class Span:
    """Windows evaluated at `first_end`, `first_end + seconds`, ...; `$__range` = `seconds`."""

    windows: Sequence[Window]
    first_end: float  # unix seconds
    seconds: int

    @property
    def last_end(self) -> float:
        return self.first_end + (len(self.windows) - 1) * self.seconds

    def step_of(self, stamp: float) -> int:
        """Which window a sample stamped `stamp` (unix seconds) belongs to: 0, 1, ..."""
        return round((stamp - self.first_end) / self.seconds)

    def halves(self) -> tuple[Span, Span]:
        """The first and second half, for a server that refused the whole."""
        half = len(self.windows) // 2
        return (Span(self.windows[:half], self.first_end, self.seconds),
                Span(self.windows[half:], self.first_end + half * self.seconds, self.seconds))

    def alone(self) -> list[Span]:
        """Each window as a span of its own."""
        return [Span([window], self.first_end + n * self.seconds, self.seconds)
                for n, window in enumerate(self.windows)]


def plan_spans(windows: Sequence[Window], now: datetime,
               max_steps: int | None = None) -> Iterator[Span]:
    """Cut `windows` (oldest first) into spans of at most `max_steps` (MAX_STEPS) windows."""
    max_steps = max_steps or MAX_STEPS
    run: list[Window] = []
    for window in windows:
        if run and not _continues(run, window, now, max_steps):
            yield _span(run, now)
            run = []
        run.append(window)
    if run:
        yield _span(run, now)


def _continues(run: list[Window], window: Window, now: datetime, max_steps: int) -> bool:
    last = run[-1]
    return (len(run) < max_steps and window.start == last.end and window.end <= now
            and _length(window) == _length(last) and _whole_seconds(_length(window)))


def _span(run: list[Window], now: datetime) -> Span:
    # The current window is read up to now, and overwritten by the next run.
    end = min(run[0].end, now)
    seconds = max(1, int((end - run[0].start).total_seconds()))
    return Span(run, end.timestamp(), seconds)


def _length(window: Window) -> timedelta:
    return window.end - window.start


def _whole_seconds(length: timedelta) -> bool:
    return length.microseconds == 0
