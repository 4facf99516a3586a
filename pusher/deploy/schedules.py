"""A source's `schedule` as a 5-field cron expression, for CronJobs and Airflow."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pusher.errors import ConfigError
from pusher.reading import Granularity
from pusher.schedules import TIMEOUT_GRACE, parse_schedule

# Presets that run once per window: a delay shifts them so the window has settled.
_PRESETS = {"@hourly": ("{delay} * * * *", 3600), "@daily": ("{delay} 0 * * *", 86400),
            "@midnight": ("{delay} 0 * * *", 86400)}


@dataclass(frozen=True)
class CronSchedule:
    """A cron expression, and the period in seconds when the schedule is regular."""

    cron: str
    period: int | None


def to_cron(schedule: str | None, granularity: Granularity, delay: int = 0) -> CronSchedule:
    """The cron form of what `pusher run` accepts ("@hourly", "every 15m", cron, ...).

    A missing schedule runs once per window of the source's granularity. `delay` minutes
    shift the presets only (a CronJob runs at :05 so the last window has settled; Airflow
    at :00 since it names the interval itself); cron expressions pass through unchanged.
    """
    if schedule is not None and not isinstance(schedule, str):
        raise ValueError(f"must be a string, not {schedule!r}")
    if not 0 <= delay < 60:
        raise ValueError(f"delay must be 0-59 minutes, not {delay}")
    parsed = parse_schedule(schedule, granularity)  # the scheduler's own rules and errors
    text = parsed.text
    if text in _PRESETS:
        cron, period = _PRESETS[text]
        return CronSchedule(cron.format(delay=delay), period)
    if parsed.every is not None:
        return _every(int(parsed.every), text, delay)
    assert parsed.cron is not None
    return CronSchedule(" ".join(parsed.cron.split()), None)


def _every(seconds: int, text: str, delay: int) -> CronSchedule:
    # Cron steps restart every hour/day, so only divisors of those give an even period.
    minutes, hours = seconds // 60, seconds // 3600
    if seconds % 60 == 0 and 3600 % seconds == 0:
        return CronSchedule("* * * * *" if minutes == 1 else f"*/{minutes} * * * *", seconds)
    if seconds == 86400:
        return CronSchedule(f"{delay} 0 * * *", seconds)
    if seconds % 3600 == 0 and 86400 % seconds == 0:
        step = "*" if hours == 1 else f"*/{hours}"
        return CronSchedule(f"{delay} {step} * * *", seconds)
    raise ValueError(f"{text!r} cannot be a cron schedule: use minutes that divide 60, "
                     "hours that divide 24, or 1d")


@dataclass(frozen=True)
class SourceJob:
    name: str
    schedule: str | None
    granularity: Granularity
    timeout: float | None = None  # seconds: the source's own `timeout`, if it sets one


def enabled_sources(data: Mapping[str, Any], file: str) -> Iterator[SourceJob]:
    """The enabled sources of a raw (unsubstituted) config table, with their schedules."""
    for name, spec in data.get("sources", {}).items():
        if not isinstance(spec, dict):
            raise ConfigError("must be a table", file=file, key=f"sources.{name}")
        if spec.get("enabled", True) is False:
            continue
        key = f"sources.{name}"
        try:
            granularity = Granularity.parse(spec.get("granularity", "hourly"))
        except (ValueError, TypeError) as exc:
            raise ConfigError(str(exc), file=file, key=f"{key}.granularity") from None
        schedule = spec.get("schedule")
        try:
            to_cron(schedule, granularity)
        except ValueError as exc:
            raise ConfigError(str(exc), file=file, key=f"{key}.schedule") from None
        timeout = spec.get("timeout")
        if timeout is not None and not _seconds(timeout):
            raise ConfigError("must be a positive number of seconds", file=file,
                              key=f"{key}.timeout")
        yield SourceJob(name, schedule, granularity, timeout)


def timeout_grace(data: Mapping[str, Any], file: str) -> float:
    """`[pusher] timeout_grace` of a raw config table: seconds, at least 0 (default 60)."""
    base = data.get("pusher", {})
    grace = base.get("timeout_grace", TIMEOUT_GRACE) if isinstance(base, dict) \
        else TIMEOUT_GRACE
    if not _seconds(grace, zero=True):
        raise ConfigError("must be a number of seconds, at least 0", file=file,
                          key="pusher.timeout_grace")
    return float(grace)


def _seconds(value: object, zero: bool = False) -> bool:
    return (type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]
            and (value >= 0 if zero else value > 0))  # type: ignore[operator]
