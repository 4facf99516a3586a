"""Readings, granularities and the time windows they describe."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

FieldValue = str | int | float | bool


class Granularity(enum.StrEnum):
    """How long a window is; the value is the tag written with every point."""

    HOURLY = "hourly"
    DAILY = "daily"

    @property
    def step(self) -> timedelta:
        return _STEPS[self]

    @classmethod
    def parse(cls, value: str) -> Granularity:
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(g.value for g in cls)
            raise ValueError(f"unknown granularity {value!r} (choose {choices})") from None


_STEPS = {Granularity.HOURLY: timedelta(hours=1), Granularity.DAILY: timedelta(days=1)}


@dataclass(slots=True)
class Reading:
    """One measurement: fields, optional tags, optional own time and granularity."""

    measurement: str
    fields: Mapping[str, FieldValue]
    tags: Mapping[str, str] | None = None
    time: datetime | None = None
    granularity: Granularity | str | None = None


@dataclass(frozen=True, slots=True)
class Note:
    """A remark a source yields among its readings; it goes to the run summary, not InfluxDB."""

    text: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """Values a source left out on purpose because they are no value (NaN, infinities:
    Prometheus' 0/0, a NaN column): `count` of them, counted in the run summary."""

    count: int


@dataclass(frozen=True, slots=True)
class NoData:
    """A query of the source that returned nothing for the window (`query`: its name, e.g.
    the measurement); a query with nothing in every window is named in the run summary."""

    query: str


def no_value(value: object) -> bool:
    """NaN or an infinity: a float line protocol cannot carry, which a source reads as "no
    value" (`nan = "skip"`) or hands on to be refused (`nan = "refuse"`)."""
    # x - x is 0.0 for every finite float, and NaN for NaN and the infinities.
    return isinstance(value, float) and value - value != 0.0


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC, aware ones converted to it."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """The half-open interval [start, end) a reading describes, in UTC."""

    start: datetime
    end: datetime
    granularity: Granularity

    @classmethod
    def containing(
        cls, moment: datetime, granularity: Granularity, tz: tzinfo = UTC
    ) -> Window:
        """The window of `granularity` that contains `moment`; days begin at midnight in `tz`."""
        start = floor_to(moment, granularity, tz)
        return cls(start, _advance(start, granularity, tz), granularity)

    def previous(self, tz: tzinfo = UTC) -> Window:
        before = self.start - timedelta(microseconds=1)
        return Window.containing(before, self.granularity, tz)

    def next(self, tz: tzinfo = UTC) -> Window:
        return Window.containing(self.end, self.granularity, tz)

    def __str__(self) -> str:
        return f"{self.granularity.value}@{self.start.isoformat()}"


def floor_to(moment: datetime, granularity: Granularity, tz: tzinfo = UTC) -> datetime:
    """The start of the window of `granularity` that contains `moment`, in UTC."""
    moment = as_utc(moment)
    if granularity is Granularity.HOURLY:
        return moment.replace(minute=0, second=0, microsecond=0)
    local = moment.astimezone(tz)
    midnight = datetime(local.year, local.month, local.day, tzinfo=tz)
    return midnight.astimezone(UTC)


def _advance(start: datetime, granularity: Granularity, tz: tzinfo) -> datetime:
    if granularity is Granularity.HOURLY:
        return start + timedelta(hours=1)
    # A local day lasts 23 or 25 hours across a DST change: step in wall-clock time.
    local = start.astimezone(tz)
    tomorrow = (local.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=tz)
    return floor_to(tomorrow, granularity, tz)


def windows_between(
    since: datetime, until: datetime, granularity: Granularity, tz: tzinfo = UTC
) -> Iterator[Window]:
    """Every window that overlaps [since, until), oldest first."""
    window = Window.containing(since, granularity, tz)
    until = as_utc(until)
    while window.start < until:
        yield window
        window = window.next(tz)


def default_windows(
    now: datetime, granularity: Granularity, tz: tzinfo = UTC
) -> list[Window]:
    """The window before the one containing `now`, and that one: the last is final next run."""
    current = Window.containing(now, granularity, tz)
    return [current.previous(tz), current]
