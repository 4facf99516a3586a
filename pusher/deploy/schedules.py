"""A source's `schedule` as a 5-field cron expression, for CronJobs and Airflow."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pusher.errors import ConfigError
from pusher.reading import Granularity

_EVERY = re.compile(r"^every\s+(\d+)\s*(m|min|mins|minutes?|h|hours?|d|days?)$")
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?]+$")
_DEFAULTS = {Granularity.HOURLY: "@hourly", Granularity.DAILY: "@daily"}


@dataclass(frozen=True)
class CronSchedule:
    """A cron expression, and the period in seconds when the schedule is regular."""

    cron: str
    period: int | None


def to_cron(schedule: str | None, granularity: Granularity, delay: int = 0) -> CronSchedule:
    """Map "@hourly" | "@daily" | "every 15m" | cron; `delay` minutes lets a window settle.

    A missing schedule runs once per window of the source's granularity. The delay
    only shifts the presets (a CronJob runs at :05, Airflow at :00 since it names
    the interval itself); cron expressions pass through unchanged.
    """
    if schedule is not None and not isinstance(schedule, str):
        raise ValueError(f"must be a string, not {schedule!r}")
    text = " ".join((schedule or _DEFAULTS[granularity]).split())
    if not 0 <= delay < 60:
        raise ValueError(f"delay must be 0-59 minutes, not {delay}")
    if text == "@hourly":
        return CronSchedule(f"{delay} * * * *", 3600)
    if text in ("@daily", "@midnight"):
        return CronSchedule(f"{delay} 0 * * *", 86400)
    if match := _EVERY.match(text):
        return _every(int(match.group(1)), match.group(2)[0], delay)
    fields = text.split(" ")
    if len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields):
        return CronSchedule(text, None)
    raise ValueError(f"{schedule!r} is not a schedule: use \"@hourly\", \"@daily\", "
                     "\"every 15m\" (or 2h, 1d) or a 5-field cron expression")


def _every(count: int, unit: str, delay: int) -> CronSchedule:
    # Cron steps restart at each hour/day, so only divisors give an even period.
    if unit == "m" and count > 0 and 60 % count == 0:
        cron = "* * * * *" if count == 1 else f"*/{count} * * * *"
        return CronSchedule(cron, count * 60)
    if unit == "h" and count > 0 and 24 % count == 0:
        hours = "*" if count == 1 else f"*/{count}"
        return CronSchedule(f"{delay} {hours} * * *", count * 3600)
    if unit == "d" and count == 1:
        return CronSchedule(f"{delay} 0 * * *", 86400)
    raise ValueError(f"every {count}{unit} cannot be a cron schedule: use minutes that "
                     "divide 60, hours that divide 24, or 1d")


@dataclass(frozen=True)
class SourceJob:
    name: str
    schedule: str | None
    granularity: Granularity


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
        yield SourceJob(name, schedule, granularity)
