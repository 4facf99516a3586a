"""Recompute daily values from hourly points in Python and compare them with InfluxDB's."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from pusher.config.rollups import Rollup
from pusher.reading import Granularity, floor_to

Tags = tuple[tuple[str, str], ...]
Key = tuple[int, Tags, str]  # (local day start as epoch seconds, tags, field)
REL_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Point:
    time: int  # epoch seconds
    tags: Tags  # sorted, without granularity
    field: str
    value: float | int


@dataclass
class Finding:
    measurement: str
    key: Key
    expected: float | int
    actual: float | int | None  # None: the daily point is missing
    date: str = ""  # the local day, for people

    def __str__(self) -> str:
        _, tags, name = self.key
        where = ",".join([self.measurement, *(f"{k}={v}" for k, v in tags)])
        date = self.date
        if self.actual is None:
            return f"missing  {date} {where} {name}: hourly points give {self.expected}"
        return f"differs  {date} {where} {name}: daily {self.actual}, hourly give {self.expected}"


@dataclass
class Report:
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    without_hourly: int = 0  # daily values whose hourly points are gone (expired?)

    @property
    def ok(self) -> bool:
        return not self.findings


def _aggregate(function: str, values: list[tuple[int, float | int]]) -> float | int:
    numbers = [v for _, v in sorted(values, key=lambda tv: tv[0])]
    if function == "sum":
        return sum(numbers)
    if function == "mean":
        return math.fsum(numbers) / len(numbers)
    if function == "last":
        return numbers[-1]
    if function == "first":
        return numbers[0]
    return max(numbers) if function == "max" else min(numbers)


def recompute(points: Iterable[Point], rollup: Rollup, tz: tzinfo) -> dict[Key, float | int]:
    """The daily value each (local day, series, field) should have."""
    groups: dict[Key, list[tuple[int, float | int]]] = {}
    for point in points:
        moment = datetime.fromtimestamp(point.time, UTC)
        day = int(floor_to(moment, Granularity.DAILY, tz).timestamp())
        groups.setdefault((day, point.tags, point.field), []).append((point.time, point.value))
    return {key: _aggregate(rollup.fields[key[2]], values) for key, values in groups.items()}


def daily_values(points: Iterable[Point]) -> dict[Key, float | int]:
    return {(p.time, p.tags, p.field): p.value for p in points}


def compare(rollup: Rollup, expected: dict[Key, float | int], actual: dict[Key, float | int],
            report: Report, tz: tzinfo) -> None:
    """Add what is missing or different to `report`."""
    for key, value in sorted(expected.items()):
        report.checked += 1
        got = actual.get(key)
        if got is None or not _close(value, got):
            date = datetime.fromtimestamp(key[0], tz).date().isoformat()
            report.findings.append(Finding(rollup.measurement, key, value, got, date))
    report.without_hourly += len(actual.keys() - expected.keys())


def _close(a: float | int, b: float | int) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOLERANCE, abs_tol=REL_TOLERANCE)


def complete_days(since: datetime, until: datetime, now: datetime, tz: tzinfo
                  ) -> tuple[datetime, datetime]:
    """[since, until) widened to local midnights, cut before today: today is not over."""
    start = floor_to(since, Granularity.DAILY, tz)
    end = min(floor_to(until, Granularity.DAILY, tz), floor_to(now, Granularity.DAILY, tz))
    return start, end


def summary(report: Report, limit: int = 50) -> Iterator[str]:
    """The lines `pusher rollups verify` prints."""
    for finding in report.findings[:limit]:
        yield str(finding)
    if len(report.findings) > limit:
        yield f"... and {len(report.findings) - limit} more"
    missing = sum(1 for f in report.findings if f.actual is None)
    yield (f"{'FAILED' if report.findings else 'ok'}: {report.checked} daily value(s) checked, "
           f"{missing} missing, {len(report.findings) - missing} differ"
           + (f", {report.without_hourly} without hourly points (expired?)"
              if report.without_hourly else ""))
