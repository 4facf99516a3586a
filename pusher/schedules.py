"""Schedules: "@hourly", "@daily", "every 15m", or a cron expression, in the config's timezone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from pusher.reading import Granularity, as_utc

_EVERY = re.compile(r"^every\s+(\d+)\s*(s|sec|m|min|h|d)$")
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
            "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}
MIN_TIMEOUT = 600.0  # seconds: the least a run may last when its source sets no timeout
# Seconds a scheduler waits past a run's timeout before killing it ([pusher] timeout_grace).
TIMEOUT_GRACE = 60.0
DEFAULTS = {Granularity.HOURLY: "@hourly", Granularity.DAILY: "@daily"}


@dataclass(frozen=True)
class Schedule:
    """When a source is due: a fixed period, or the fire times of a cron expression."""

    text: str
    every: float | None = None  # seconds, for "every N<unit>"
    cron: str | None = None

    def next_after(self, moment: datetime, tz: tzinfo) -> datetime:
        """The first due time strictly after `moment` (UTC)."""
        moment = as_utc(moment)
        if self.every is not None:
            # Periods are aligned on the epoch, so restarts do not shift the grid.
            seconds = moment.timestamp()
            due = (seconds // self.every + 1) * self.every
            return datetime.fromtimestamp(due, moment.tzinfo)
        assert self.cron is not None
        local = moment.astimezone(tz).replace(microsecond=0)
        from cronsim import CronSim

        fire = next(CronSim(self.cron, local))
        return as_utc(fire)

    def interval(self, tz: tzinfo, around: datetime) -> float:
        """The period in seconds (for a cron expression: between the next two fire times)."""
        if self.every is not None:
            return self.every
        first = self.next_after(around, tz)
        return (self.next_after(first, tz) - first).total_seconds()

    def run_timeout(self, timeout: float | None, tz: tzinfo, around: datetime) -> float:
        """Seconds a run may last: the source's `timeout`, else its period, at least MIN_TIMEOUT.

        A source on "every 1m" that needs 70 s once is skipped a turn, not killed.
        """
        return timeout or max(MIN_TIMEOUT, self.interval(tz, around))


def parse_schedule(text: str | None, granularity: Granularity = Granularity.HOURLY) -> Schedule:
    """Parse a schedule; None means the granularity's default. ValueError says what is wrong."""
    text = (text or DEFAULTS[granularity]).strip()
    if match := _EVERY.match(text):
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        if seconds <= 0:
            raise ValueError(f"{text!r}: the period must be positive")
        return Schedule(text, every=float(seconds))
    if text in _ALIASES:  # valid by construction: no need to load cronsim to check it
        return Schedule(text, cron=_ALIASES[text])
    expression = text
    if expression.startswith("@"):
        raise ValueError(f"{text!r}: unknown alias (use {', '.join(_ALIASES)})")
    # Imported here: cronsim pulls in calendar and locale, which `pusher --help` can skip.
    from cronsim import CronSim, CronSimError

    try:
        CronSim(expression, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise ValueError(f"{text!r} is not a schedule: {exc} (use \"@hourly\", \"@daily\", "
                         "\"every 15m\" or a 5-field cron expression)") from None
    return Schedule(text, cron=expression)


def jittered(due: datetime, jitter: float, random: float) -> datetime:
    """`due` delayed by up to `jitter` seconds; `random` is in [0, 1)."""
    return due + timedelta(seconds=jitter * random)
