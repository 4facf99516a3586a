"""The synthetic workload every figure uses, and the two baseline encoders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pusher.reading import Reading, Window

MEASUREMENT = "bench"
SERIES = 1000
START = datetime(2026, 1, 1, tzinfo=UTC)
REGIONS = ("eu-west", "us-east", "ap-south")


def readings(count: int, series: int = SERIES, start: datetime = START) -> Iterator[Reading]:
    """`count` distinct points over `series` series a second apart, built as a source would."""
    moment = start
    for i in range(count):
        number = i % series
        if number == 0:
            # One time object per second shared by its series, as rows of one query share it.
            moment = start + timedelta(seconds=i // series)
        # A fresh tags dict per reading, like a source that builds it from a row.
        yield Reading(MEASUREMENT, {"value": i * 0.5, "count": i},
                      {"host": f"host-{number}", "region": REGIONS[number % 3]}, time=moment)


def source(window: Window, count: int = 1000, series: int = SERIES) -> Iterator[Reading]:
    """The benchmark's `python` source: `count` readings, stamped from the window's start."""
    return readings(count, series, window.start)


# The reference encoder: one escaped f-string per point, no validation at all.
_NAME = str.maketrans({",": "\\,", " ": "\\ "})
_KEY = str.maketrans({",": "\\,", " ": "\\ ", "=": "\\="})
_STRING = str.maketrans({"\\": "\\\\", '"': '\\"'})


def _value(value: Any) -> str:
    kind = type(value)
    if kind is float:
        return repr(value)
    if kind is int:
        return f"{value}i"
    if kind is bool:
        return "true" if value else "false"
    return '"' + str(value).translate(_STRING) + '"'


def reference_encode(reading: Reading, granularity: str, stamp: int) -> str:
    """The minimal encoder a hand-written script would use: escape, join, no checks."""
    tags = "".join([f",{k.translate(_KEY)}={v.translate(_KEY)}"
                    for k, v in (reading.tags or {}).items()])
    fields = ",".join([f"{k.translate(_KEY)}={_value(v)}" for k, v in reading.fields.items()])
    gran = reading.granularity or granularity
    if reading.time is not None:
        stamp = int(reading.time.timestamp())
    return f"{reading.measurement.translate(_NAME)},granularity={gran}{tags} {fields} {stamp}"


def point_encoder() -> Any:
    """influxdb_client's Point, the way its documentation builds one per record."""
    from influxdb_client import Point, WritePrecision

    def encode(reading: Reading, granularity: str, stamp: int) -> str:
        point = Point(reading.measurement).tag("granularity", granularity)
        for tag, text in (reading.tags or {}).items():
            point = point.tag(tag, text)
        for key, value in reading.fields.items():
            point = point.field(key, value)
        moment = stamp if reading.time is None else int(reading.time.timestamp())
        line: str = point.time(moment, WritePrecision.S).to_line_protocol()
        return line

    return encode
