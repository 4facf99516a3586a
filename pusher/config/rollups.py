"""The `[rollups]` table: which hourly measurements become daily points, and how."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pusher.errors import ConfigError
from pusher.points.lineprotocol import name_problem
from pusher.values import unknown_key

# The aggregations that InfluxQL and Flux both have, with the same meaning.
AGGREGATIONS = ("sum", "last", "first", "max", "min", "mean")
KEYS = ("timezone", "hourly_retention", "daily_retention", "lookback", "every", "offset",
        "measurements")
_SPAN = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_FOREVER = ("0", "inf", "forever")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


@dataclass(frozen=True)
class Span:
    """A whole number of seconds, written the way InfluxQL and Flux both read it."""

    seconds: int

    def __str__(self) -> str:
        if self.seconds == 0:
            return "0s"
        # The largest unit that divides evenly: the form SHOW CONTINUOUS QUERIES prints.
        for unit, size in _UNITS.items():
            if self.seconds % size == 0:
                return f"{self.seconds // size}{unit}"
        raise AssertionError("unreachable: 1s divides every whole span")

    @property
    def delta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    @property
    def days(self) -> int:
        return self.seconds // 86400


@dataclass(frozen=True)
class Rollup:
    """One measurement rolled up: each field with its aggregation."""

    measurement: str
    fields: Mapping[str, str]

    def by_function(self) -> dict[str, list[str]]:
        """Fields grouped by aggregation, in config order."""
        groups: dict[str, list[str]] = {}
        for name, function in self.fields.items():
            groups.setdefault(function, []).append(name)
        return groups


@dataclass(frozen=True)
class RollupsConfig:
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    hourly_retention: Span = Span(90 * 86400)
    daily_retention: Span = Span(0)  # 0: forever
    lookback: Span = Span(3 * 86400)
    every: Span = Span(3600)
    offset: Span = Span(300)
    measurements: Mapping[str, Rollup] = field(default_factory=dict)


def parse_rollups(table: Any, default_tz: ZoneInfo, file: str) -> RollupsConfig:
    """Check `[rollups]`; every problem is a ConfigError naming `rollups.<key>`."""
    if not isinstance(table, dict):
        raise ConfigError("must be a table", file=file, key="rollups")
    _check_keys(table, KEYS, file, "rollups")
    spans = {
        key: parse_span(table[key], file, f"rollups.{key}", forever=key.endswith("retention"))
        for key in KEYS[1:6] if key in table
    }
    for key in ("hourly_retention", "daily_retention"):
        if key in spans and 0 < spans[key].seconds < 3600:
            raise ConfigError("must be at least 1h (or \"0\": forever)", file=file,
                              key=f"rollups.{key}")
    if "lookback" in spans and (spans["lookback"].seconds % 86400 or not spans["lookback"].days):
        raise ConfigError("must be a whole number of days, at least 1d (e.g. \"3d\")",
                          file=file, key="rollups.lookback")
    if "every" in spans and spans["every"].seconds == 0:
        raise ConfigError("must be longer than 0s", file=file, key="rollups.every")
    config = RollupsConfig(
        timezone=_timezone(table.get("timezone"), default_tz, file),
        measurements=_measurements(table.get("measurements", {}), file),
        **spans,
    )
    kept = config.hourly_retention.seconds
    if kept and kept <= config.lookback.seconds:
        # Each rollup run re-aggregates `lookback` days of hourly points: the days whose
        # hours have expired would be overwritten with partial sums.
        raise ConfigError(f"must be longer than rollups.lookback ({config.lookback}), or the "
                          "daily points of expired hours are recomputed from a part of them",
                          file=file, key="rollups.hourly_retention")
    return config


def parse_span(value: Any, file: str, key: str, forever: bool = False) -> Span:
    """"90d", "1h", "5s"; with `forever`, also "0" / "INF" for no expiry."""
    text = str(value).strip().lower() if isinstance(value, str | int) else None
    if forever and text in _FOREVER:
        return Span(0)
    match = _SPAN.match(text or "")
    if not match:
        hint = ' or "0" for forever' if forever else ""
        raise ConfigError(f"must be a span like \"90d\", \"12h\", \"5m\", \"30s\"{hint}, "
                          f"not {value!r}", file=file, key=key)
    return Span(int(match.group(1)) * _UNITS[match.group(2)])


def _timezone(name: Any, default: ZoneInfo, file: str) -> ZoneInfo:
    if name is None:
        return default
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown timezone {name!r}", file=file,
                          key="rollups.timezone") from None


def _measurements(table: Any, file: str) -> Mapping[str, Rollup]:
    if not isinstance(table, dict):
        raise ConfigError("must be a table of measurement = { field = \"aggregation\" }",
                          file=file, key="rollups.measurements")
    rollups = {}
    for name, spec in table.items():
        key = f"rollups.measurements.{name}"
        _check_name("measurement", name, file, key)
        if not isinstance(spec, dict) or not spec:
            # Both InfluxQL and Flux need the field names: `sum(*)` would rename the fields.
            raise ConfigError(f"must be a table of field = aggregation, e.g. "
                              f"{{ count = \"sum\" }}, not {spec!r}", file=file, key=key)
        for field_name, function in spec.items():
            _check_name("field key", field_name, file, f"{key}.{field_name}")
            if function not in AGGREGATIONS:
                raise ConfigError(f"unknown aggregation {function!r} "
                                  f"(choose {', '.join(AGGREGATIONS)})",
                                  file=file, key=f"{key}.{field_name}")
        rollups[name] = Rollup(name, MappingProxyType(dict(spec)))
    return MappingProxyType(rollups)


def _check_name(position: str, name: str, file: str, key: str) -> None:
    """Letters, digits, _ . - (pusher's own rule for rollups), and a name a daily point can
    carry (lineprotocol.name_problem: not `time`, `_field` or `_measurement`)."""
    if not _NAME.fullmatch(name):
        what = "measurement" if position == "measurement" else "field"
        raise ConfigError(f"not a usable {what} name (letters, digits, _ . -)",
                          file=file, key=key)
    problem = name_problem(position, name)
    if problem is not None:
        raise ConfigError(problem, file=file, key=key)


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], file: str,
                prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(unknown_key(key, allowed), file=file, key=f"{prefix}.{key}")
