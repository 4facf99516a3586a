"""What a dashboard or alert query must answer, computed in plain Python from the raw points.

The queries come from pusher/dashboards/flux.py in a handful of shapes (a series per field or
tag, a ratio of window sums, a total, pusher_runs per source, the health table, three alert
rules); this reads the shape back from the text and evaluates it over the points, so a test
can compare InfluxDB's answer with an independent one. Windows: 1 h (UTC) or 1 d (local
days), the two periods the value tests use.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

Value = float | int | str
Row = tuple[str, datetime | None, float | None]  # (series or source, time, value)
NOT_TAGS = {"result", "table", "_start", "_stop", "_time", "_value", "_field", "_measurement"}


@dataclass(frozen=True)
class Point:
    measurement: str
    field: str
    value: Value
    time: datetime
    tags: dict[str, str] = field(hash=False)

    def series(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return self.measurement, self.field, tuple(sorted(self.tags.items()))


def typed(text: str) -> Value:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def points_of(rows: Iterable[dict[str, str]]) -> list[Point]:
    """Points from the rows of a raw `from |> range` read (CSV without annotations)."""
    return [Point(r["_measurement"], r["_field"], typed(r["_value"]),
                  datetime.fromisoformat(r["_time"].replace("Z", "+00:00")),
                  {k: v for k, v in r.items() if k not in NOT_TAGS and v != ""})
            for r in rows]


AGGREGATE: dict[str, Callable[[list[float]], float]] = {
    "sum": math.fsum, "max": max, "min": min, "last": lambda v: v[-1],
    "mean": lambda v: math.fsum(v) / len(v),
}


@dataclass
class Panel:
    """One query's shape, read from its text."""

    text: str
    granularity: str  # the dashboard's pick: hourly or daily

    def measurement(self) -> str:
        return re.findall(r'r\._measurement == "([^"]+)"', self.text)[0]

    def reads_daily(self) -> bool:
        if 'from(bucket: if "${granularity}"' in self.text:
            return self.granularity == "daily"
        return 'from(bucket: "${daily_bucket}")' in self.text and \
            'from(bucket: "${bucket}")' not in self.text

    def keeps(self, point: Point) -> bool:
        """The select() filters: measurement, granularity, fields and tag values."""
        if point.measurement != self.measurement():
            return False
        if "pusher_runs" not in self.text:
            wanted = "daily" if self.reads_daily() else "hourly"
            if point.tags.get("granularity") != wanted:
                return False
        for line in self.text.splitlines():
            if "filter(fn: (r) =>" not in line or "_measurement" in line or \
                    "granularity" in line:
                continue
            tests = re.findall(r'r\.(\w+) == "([^"]+)"', line)
            if tests and not any(getattr_tag(point, k) == v for k, v in tests):
                return False
        return True

    def label(self, point: Point) -> str:
        by = re.search(r"series: ([^,}]+)", self.text)
        assert by, self.text
        return label_of(by[1].strip(), point)


def getattr_tag(point: Point, key: str) -> str | None:
    return point.field if key == "_field" else point.tags.get(key)


def label_of(expression: str, point: Point) -> str:
    if expression.startswith('"'):
        return expression.strip('"')
    value = getattr_tag(point, expression.removeprefix("r."))
    assert value is not None, (expression, point)
    return value


def window_of(moment: datetime, every: int, zone: ZoneInfo) -> datetime:
    if every >= 86400:
        assert every == 86400, "the model knows 1 h and 1 d windows"
        local = moment.astimezone(zone)
        return datetime(local.year, local.month, local.day, tzinfo=zone).astimezone(UTC)
    return datetime.fromtimestamp(int(moment.timestamp()) // every * every, UTC)


def windowed_rows(panel: Panel, points: list[Point], period: int, zone: ZoneInfo,
                  key: Callable[[Point], object]) -> dict[tuple[object, datetime], list[Point]]:
    every = max(period, 86400) if panel.reads_daily() else period
    groups: dict[tuple[object, datetime], list[Point]] = defaultdict(list)
    for point in sorted((p for p in points if panel.keeps(p)), key=lambda p: p.time):
        groups[(key(point), window_of(point.time, every, zone))].append(point)
    return groups


def series_rows(panel: Panel, points: list[Point], period: int, zone: ZoneInfo) -> list[Row]:
    fn = re.search(r"aggregateWindow\(every: every, fn: (\w+)", panel.text)
    assert fn, panel.text
    runs = "pusher_runs" in panel.text  # grouped by source before the windows
    groups = windowed_rows(panel, points, period, zone,
                           (lambda p: p.tags["source"]) if runs else Point.series)
    return [(panel.label(members[0]), start, AGGREGATE[fn[1]]([float(p.value) for p in members]))
            for (_, start), members in groups.items()]


def ratio_rows(panel: Panel, points: list[Point], period: int, zone: ZoneInfo) -> list[Row]:
    parts = re.search(r"_value: (?:([\d.]+) \* )?float\(v: r\.(\w+)\) / float\(v: r\.(\w+)\)",
                      panel.text)
    assert parts, panel.text
    scale, numerator, denominator = float(parts[1] or 1.0), parts[2], parts[3]
    groups = windowed_rows(panel, points, period, zone, lambda p: tuple(sorted(p.tags.items())))
    rows: list[Row] = []
    for (_, start), members in groups.items():
        sums = defaultdict(float)
        for point in members:
            sums[point.field] += float(point.value)
        if sums[denominator] > 0:
            rows.append((panel.label(members[0]), start,
                         scale * sums[numerator] / sums[denominator]))
    return rows


def total_rows(panel: Panel, points: list[Point]) -> list[Row]:
    kept = [float(p.value) for p in points if panel.keeps(p)]
    label = re.search(r'series: "([^"]+)"', panel.text)
    assert label and kept, panel.text
    return [(label[1], None, math.fsum(kept))]


def expected_rows(panel: Panel, points: list[Point], period: int, zone: ZoneInfo) -> list[Row]:
    """A timeseries or stat query's rows: (series, window start or None for totals, value)."""
    if 'pivot(rowKey: ["_time"]' in panel.text:
        return ratio_rows(panel, points, period, zone)
    if "|> group()\n    |> sum()" in panel.text:
        return total_rows(panel, points)
    return series_rows(panel, points, period, zone)


# --- pusher_runs: the health table and the alert rules -------------------------------------

STATUS_CODE = {"done": 0.0, "partial": 1.0, "failed": 2.0}


@dataclass
class Runs:
    """The last value of each pusher_runs field per source, and its last successful run."""

    last: dict[str, dict[str, Point]] = field(default_factory=dict)
    last_success: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def of(cls, points: Iterable[Point], since: datetime) -> Runs:
        runs = cls()
        for point in sorted(points, key=lambda p: p.time):
            if point.measurement != "pusher_runs" or point.time < since:
                continue
            source = point.tags["source"]
            runs.last.setdefault(source, {})[point.field] = point
            if point.field == "ok" and point.value == 1:
                runs.last_success[source] = point.time
        return runs

    def table(self, now: datetime) -> dict[str, dict[str, float | None]]:
        """One row per source, as the health table's map() writes it."""
        found = {}
        for source, fields in self.last.items():
            success = self.last_success.get(source)
            age = (now - success).total_seconds() if success else None
            interval = float(fields["interval"].value)
            found[source] = {
                "status": STATUS_CODE[str(fields["status"].value)], "age": age,
                "stale": age / interval if age is not None else None,
                "watermark": float(fields["watermark"].value) * 1000.0
                if "watermark" in fields else None,
                **{name: float(fields[name].value) if name in fields else None
                   for name in ("lag", "written", "refused", "spooled")}}
        return found

    def failing(self) -> list[Row]:
        return [(source, fields["status"].time,
                 1.0 if fields["status"].value == "failed" else 0.0)
                for source, fields in self.last.items()]

    def stale(self, now: datetime) -> dict[str, float]:
        found = {}
        for source, fields in self.last.items():
            interval = float(fields["interval"].value)
            if interval > 0:
                success = self.last_success.get(source)
                found[source] = (now - success).total_seconds() / interval if success \
                    else 1000000.0
        return found


def refused_rows(points: Iterable[Point], since: datetime) -> dict[str, float]:
    found: dict[str, float] = defaultdict(float)
    for point in points:
        if point.measurement == "pusher_runs" and point.field == "refused" and \
                point.time >= since:
            found[point.tags["source"]] += float(point.value)
    return dict(found)


def close(a: float | None, b: float | None, tolerance: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)
