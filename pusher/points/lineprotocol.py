"""Reading -> InfluxDB line protocol. Pure, no I/O, and the hot path: keep it lean."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from pusher.errors import RefusedReading
from pusher.excerpt import excerpt
from pusher.reading import Reading

GRANULARITY_TAG = "granularity"
PRECISIONS = {
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
    "us": timedelta(microseconds=1),
    "ns": None,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
# InfluxDB 1.x refuses longer strings; 2.x accepts them, but a refused point is worse.
MAX_STRING_BYTES = 64 * 1024 - 1
# Reserved by InfluxDB (1.x refuses "time"; 2.x reserves the underscore names).
_RESERVED_KEYS = frozenset({"time", "_measurement", "_field"})
_SERIES_CACHE_LIMIT = 200_000
# The first MASK_BITS field keys of an encoder get a bit each in Encoder.fields_mask.
MASK_BITS = 62
MASK_OTHER = 1 << MASK_BITS

# Backslashes are literal in names (only "\," "\ " "\=" are escapes), so names need no
# backslash escaping; but a trailing backslash would escape the separator after it, and in
# some positions a backslash before an escapable character is refused (_BACKSLASH_ESCAPE).
_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ "})
_KEY_ESCAPES = str.maketrans({",": "\\,", " ": "\\ ", "=": "\\="})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})
# In a measurement or a field key InfluxDB reads a backslash before "," " " "=" or '"' as an
# escape whatever precedes it (its parser skips the character after any backslash; its
# unescape drops the backslash before those four, pkg/escape in InfluxDB 1.x and 2.x). Such a
# name is lost, cut or refused by the server (measured on 1.6.7 and 2.7.12:
# tests/test_roundtrip.py), so pusher refuses it first. Tag keys and values keep it exactly.
_BACKSLASH_ESCAPE = re.compile(r'\\[, ="]')
# Names InfluxQL reads as its own symbols in a SELECT or WHERE: a field of one of these names
# reads back as the measurement name, the series key or nothing (measured on 1.6.7).
INFLUXQL_SYMBOLS = frozenset({"_name", "_tagKey", "_tagValue", "_seriesKey", "_fieldKey"})
# Flux gives every row these columns: a tag of the name makes InfluxDB 2.7 fail each query
# of the bucket (_time, _value: "interface conversion") or makes two columns of one name
# (_start, _stop); measured on 2.7.12. Tags named `result` and `table` work in Flux.
FLUX_ROW_COLUMNS = frozenset({"_time", "_value", "_start", "_stop"})
# InfluxQL's system sources (influxql.IsSystemName): InfluxDB stores a measurement of one of
# these names, but SELECT refuses to read it and a regex FROM skips it (measured on 1.6.7).
INFLUXQL_SYSTEM_SOURCES = frozenset(
    {"_fieldKeys", "_measurements", "_name", "_series", "_tagKey", "_tagKeys", "_tags"})


def to_timestamp(moment: datetime, precision: str) -> int:
    """Integer timestamp of `moment` in `precision` units, exact (no float rounding)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    unit = PRECISIONS[precision]
    if unit is None:
        return (delta // timedelta(microseconds=1)) * 1000
    return delta // unit


NAME_POSITIONS = ("measurement", "tag key", "tag value", "field key")


def name_problem(position: str, name: object) -> str | None:
    """Why line protocol cannot carry `name` as a `position` (one of NAME_POSITIONS), in
    the words the encoder refuses a reading with; None when it can.

    The one rule for names: the encoder refuses a reading for exactly these reasons, and a
    config is checked against them for the names it declares (pusher/sources/names.py).
    An empty tag value is refused here; a reading's empty tag value is no tag at all.
    Raises ValueError for a position that is not one of NAME_POSITIONS (it would check
    nothing a source meant to have checked).
    """
    if position not in NAME_POSITIONS:
        raise ValueError(f"position {position!r} is not one of {', '.join(NAME_POSITIONS)}")
    return _problem(position, name, position)


def _problem(position: str, name: object, kind: str) -> str | None:
    # `kind` is what the message calls the name: its position, or e.g. "granularity".
    if type(name) is not str:
        return f"{kind} {name!r} is not a string"
    if not name:
        return f"{kind} is empty"
    if "\n" in name or "\r" in name:
        return f"{kind} {name!r} contains a line break"
    if name[-1] == "\\":
        return f"{kind} {name!r} ends with a backslash"
    if not name.isascii() and (problem := _unencodable(kind, name)):
        return problem
    if position == "tag value":
        return None
    if position != "measurement":
        if name in _RESERVED_KEYS:
            return f"{kind} {name!r} is reserved by InfluxDB"
        if name in INFLUXQL_SYMBOLS:
            return (f"{kind} {name!r} is a symbol of InfluxQL: a SELECT of it gives InfluxDB's "
                    "own value (the measurement or series name), not yours")
        if position == "tag key":
            if name in FLUX_ROW_COLUMNS:
                return (f"{kind} {name!r} is a column of every Flux row: InfluxDB 2.x would "
                        "store it, then fail every query of the bucket or lose the tag to "
                        "range()")
            return _GRANULARITY_SET if name == GRANULARITY_TAG else None
    if "\\" in name and (pair := _BACKSLASH_ESCAPE.search(name)):
        return (f"{kind} {name!r} has a backslash before {pair.group()[1]!r}: InfluxDB reads "
                "the two as an escape, so the name would not be stored as written")
    if name[0] == "\t":
        # InfluxDB skips blanks before a line and before the first field, and a tab cannot
        # be escaped: it would be lost.
        return f"{kind} {name!r} starts with a tab"
    if position == "measurement":
        if name[0] == "#":
            return f"{kind} {name!r} starts with '#' (a comment line)"
        if name in INFLUXQL_SYSTEM_SOURCES:
            return (f"{kind} {name!r} is an InfluxQL system source: InfluxDB would store it, "
                    "but SELECT cannot read it back")
    return None


_GRANULARITY_SET = ("tag key 'granularity' is set by pusher (from the source's granularity; "
                    "a reading sets its own with Reading(granularity=...))")


def _unencodable(kind: str, text: str) -> str | None:
    """Text that UTF-8 cannot encode (a lone surrogate, e.g. from surrogateescape)."""
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return (f"{kind} holds {text[exc.start]!r} at character {exc.start}, "
                "a lone surrogate that UTF-8 cannot encode")
    return None


def escape_measurement(name: str) -> str:
    """Escaped measurement name, or RefusedReading if line protocol cannot carry it."""
    problem = _problem("measurement", name, "measurement")
    if problem is not None:
        raise RefusedReading(problem)
    return name.translate(_MEASUREMENT_ESCAPES) if ("," in name or " " in name) else name


def escape_key(position: str, name: str, kind: str | None = None) -> str:
    """Escaped tag key, tag value or field key (`position`), or RefusedReading if line
    protocol cannot carry it there; `kind` names it in the reason (default: `position`)."""
    problem = _problem(position, name, kind or position)
    if problem is not None:
        raise RefusedReading(problem)
    if "," in name or " " in name or "=" in name:
        return name.translate(_KEY_ESCAPES)
    return name


def format_field_value(key: str, value: object) -> str:
    """One field value in line protocol syntax; refuses what InfluxDB cannot store."""
    kind = type(value)
    if kind is float:
        if math.isfinite(value):  # type: ignore[arg-type]
            return repr(value)
        raise RefusedReading(f"field {key!r} is {value!r}, which InfluxDB cannot store")
    if kind is int:
        if _INT_MIN <= value <= _INT_MAX:  # type: ignore[operator]
            return f"{value}i"
        raise RefusedReading(f"field {key!r} = {value} is outside the int64 range")
    if kind is bool:
        return "true" if value else "false"
    if kind is str:
        return _format_string(key, value)  # type: ignore[arg-type]
    # Subclasses (IntEnum, numpy.float64, str enums) are written as their base type.
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return format_field_value(key, base(value))
    raise RefusedReading(
        f"field {key!r} has a value of type {kind.__name__}; use str, int, float or bool"
    )


def _format_string(key: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise RefusedReading(f"field {key!r} contains a line break")
    if not value.isascii() and (problem := _unencodable(f"field {key!r}", value)):
        raise RefusedReading(problem)  # isascii is O(1): ASCII text pays nothing here
    if len(value) > MAX_STRING_BYTES // 4 and len(value.encode()) > MAX_STRING_BYTES:
        raise RefusedReading(f"field {key!r} is longer than {MAX_STRING_BYTES} bytes "
                             f"({len(value):,} characters)")
    if "\\" in value or '"' in value:
        value = value.translate(_STRING_ESCAPES)
    return f'"{value}"'


class Encoder:
    """Encodes readings, caching the escaped series key shared by most readings of a source."""

    __slots__ = ("_field_keys", "_last", "_moment", "_moment_stamp", "_series", "_stamp",
                 "_stamp_for", "_tags", "_tags_copy", "fields_mask", "precision", "series",
                 "stamp")

    def __init__(self, precision: str = "s"):
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r} (choose s, ms, us or ns)")
        self.precision = precision
        self._series: dict[tuple[object, ...], str] = {}
        # field key -> its escaped form and "=", and its bit in fields_mask
        self._field_keys: dict[str, tuple[str, int]] = {}
        self._stamp_for: int | None = None
        self._stamp = ""
        self._moment: datetime | None = None
        self._moment_stamp = ""
        # The last reading's tags object, a copy of it (see encode) and its series key.
        self._tags: object = None
        self._tags_copy: dict[str, str] | None = None
        self._last: tuple[str, object, str] = ("", None, "")
        # The series key and timestamp of the last line: where InfluxDB stores its fields;
        # and which field keys it has (MASK_OTHER set: one beyond the first MASK_BITS).
        self.series = self.stamp = ""
        self.fields_mask = 0

    def encode(self, reading: Reading, granularity: str, default_time: int) -> str:
        """One line for `reading`, stamped `default_time` unless it carries its own time."""
        # Everything a typical reading needs is inlined here: this runs once per point and
        # a function call costs as much as formatting a float (see benchmarks/RESULTS.md).
        gran = reading.granularity or granularity
        measurement, tags = reading.measurement, reading.tags
        if tags is self._tags and tags == self._tags_copy and measurement == self._last[0] \
                and gran == self._last[1]:
            # Readings of one Prometheus series share their tags dict: skip the key build.
            # (Equal content, measurement and granularity: the same series, by definition.)
            series = self._last[2]
        else:
            if tags and type(tags) is not dict and not isinstance(tags, Mapping):
                raise RefusedReading(f"tags {excerpt(repr(tags))} are not a mapping")
            # Keys then values: unambiguous (same length, same number of tags) and, unlike
            # items(), it builds no pair per tag.
            cache_key = (measurement, gran, *tags, *tags.values()) if tags else (
                measurement, gran)
            try:
                found = self._series.get(cache_key)
            except TypeError:  # an unhashable name or value: refused by _series_key
                found = self._series_key(measurement, tags, gran)
            series = self._new_series(cache_key, measurement, tags, gran) if found is None \
                else found
            if tags is self._tags and tags:
                # A dict used a second time is copied, to be compared with next time; sources
                # that build one dict per reading never pay for the copy.
                self._tags_copy, self._last = dict(tags), (measurement, gran, series)
            self._tags = tags
        fields = reading.fields
        if not fields:
            raise RefusedReading("no fields")
        if type(fields) is not dict and not isinstance(fields, Mapping):
            raise RefusedReading(f"fields {excerpt(repr(fields))} are not a mapping")
        keys = self._field_keys
        parts = []
        mask = 0  # which field keys: one bit per key this encoder has seen
        for key, value in fields.items():
            entry = keys.get(key)
            if entry is None:
                entry = self._new_field_key(key)
            prefix, bit = entry
            mask |= bit
            kind = type(value)
            # x - x is 0.0 for every finite float and nan for nan and the infinities.
            if kind is float and value - value == 0.0:  # type: ignore[operator]
                parts.append(prefix + repr(value))
            elif kind is int and _INT_MIN <= value <= _INT_MAX:  # type: ignore[operator]
                parts.append(f"{prefix}{value}i")
            else:
                parts.append(prefix + format_field_value(key, value))
        moment = reading.time
        if moment is None:
            if default_time != self._stamp_for:
                self._stamp_for, self._stamp = default_time, str(default_time)
            stamp = self._stamp
        else:
            # Readings of one row or one query usually share their time object.
            if moment is not self._moment:
                if not isinstance(moment, datetime):
                    raise RefusedReading(f"time {excerpt(repr(moment))} is not a datetime")
                stamp = str(to_timestamp(moment, self.precision))
                self._moment, self._moment_stamp = moment, stamp
            stamp = self._moment_stamp
        self.series, self.stamp, self.fields_mask = series, stamp, mask
        return f"{series} {','.join(parts)} {stamp}"

    def _new_field_key(self, key: str) -> tuple[str, int]:
        """The escaped key with its "=", and its bit in `fields_mask`."""
        keys = self._field_keys
        bit = 1 << len(keys) if len(keys) < MASK_BITS else MASK_OTHER
        entry = (escape_key("field key", key) + "=", bit)
        if len(keys) < _SERIES_CACHE_LIMIT:
            keys[key] = entry
        return entry

    def _new_series(self, cache_key: tuple[object, ...], measurement: str,
                    tags: Mapping[str, str] | None, gran: object) -> str:
        series = self._series_key(measurement, tags, gran)
        if len(self._series) >= _SERIES_CACHE_LIMIT:
            self._series.clear()
        self._series[cache_key] = series
        return series

    @staticmethod
    def _series_key(measurement: str, tags: Mapping[str, str] | None, gran: object) -> str:
        if not isinstance(gran, str):
            raise RefusedReading(f"granularity {excerpt(repr(gran))} is not a string")
        pairs = [(GRANULARITY_TAG, GRANULARITY_TAG,
                  escape_key("tag value", str(gran), "granularity"))]
        for key, value in (tags or {}).items():
            if key == GRANULARITY_TAG:  # refused even with an empty value
                raise RefusedReading(_GRANULARITY_SET)
            if value is None or value == "":
                continue  # InfluxDB has no empty tag values: the tag is simply absent
            if type(value) is not str:
                raise RefusedReading(f"tag {key!r} has a non-string value {value!r}")
            pairs.append((key, escape_key("tag key", key), escape_key("tag value", value)))
        pairs.sort()  # by the raw key, as InfluxDB orders a series key
        escaped = escape_measurement(measurement)
        return ",".join([escaped, *(f"{k}={v}" for _, k, v in pairs)])


def split_lines(body: bytes) -> list[str]:
    """Lines of newline-terminated line protocol; str.splitlines would also cut at \x1c,
    \x85, U+2028 and other characters that a string field may hold."""
    text = body.decode("utf-8")
    if not text:
        return []
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


def encode(reading: Reading, granularity: str = "hourly", default_time: int = 0,
           precision: str = "s") -> str:
    """Convenience one-shot encoding (the pipeline keeps one Encoder per source)."""
    return Encoder(precision).encode(reading, granularity, default_time)

