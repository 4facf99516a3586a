"""What the dashboards are rendered for: the buckets, the local day, the measurements that exist.

From a config: `[influx]` bucket and daily_bucket, `[rollups]` timezone (the days the daily
points describe), and the measurements and fields its sources declare. A source type
declares them through an optional `measurements(options)` attribute returning (measurement,
field names or None when they depend on the data) pairs, or None when it cannot tell;
`[rollups.measurements]` and pusher's own `pusher_runs` count too. Without a config: the
example config's values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from pusher.points.pusher_runs import RUN_FIELDS, RUN_MEASUREMENT

if TYPE_CHECKING:
    from pusher.config import Config

Fields = frozenset[str] | None  # None: whatever the data has
Declared = tuple[str, Iterable[str] | None]  # what a source says it writes
# The example config's buckets and rollup time zone (a drift test keeps them equal).
EXAMPLE_BUCKET, EXAMPLE_DAILY_BUCKET, EXAMPLE_TIMEZONE = "pusher", "pusher_daily", "Europe/Paris"


@dataclass(frozen=True)
class Catalog:
    """Buckets, time zone (IANA name) and measurements -> fields; measurements None: all."""

    bucket: str = EXAMPLE_BUCKET
    daily_bucket: str = EXAMPLE_DAILY_BUCKET
    timezone: str = EXAMPLE_TIMEZONE
    measurements: Mapping[str, Fields] | None = field(default=None)
    undeclared: tuple[str, ...] = ()  # sources whose type does not say what it writes

    def missing(self, measurement: str, fields: Iterable[str]) -> str | None:
        """Why a query of `fields` of `measurement` would read nothing, or None."""
        if self.measurements is None:
            return None
        if measurement not in self.measurements:
            silent = f" (these sources do not declare theirs: {', '.join(self.undeclared)})" \
                if self.undeclared else ""
            return f"no source in the config declares {measurement!r}{silent}"
        known = self.measurements[measurement]
        absent = sorted(set(fields) - known) if known is not None else []
        if absent:
            return f"{measurement!r} has no field {', '.join(map(repr, absent))} in the config"
        return None


def catalog_of(config: Config) -> Catalog:
    """The catalog of a loaded config (source types are loaded to ask what they write)."""
    from pusher.sources import load_source

    parts: list[Iterable[Declared]] = []
    undeclared = []
    for name, spec in config.sources.items():
        source = load_source(spec.type, file=str(config.path), key=f"sources.{name}.type")
        declare = getattr(source, "measurements", None)
        if declare is None:
            undeclared.append(name)
        elif (part := declare(dict(spec.options))) is not None:
            parts.append(part)
        else:
            undeclared.append(name)  # a python source whose callable does not say
    parts.append((r.measurement, r.fields) for r in config.rollups.measurements.values())
    return Catalog(bucket=config.influx.bucket, daily_bucket=config.influx.bucket_for("daily"),
                   timezone=config.rollups.timezone.key,
                   measurements=MappingProxyType(merged(parts)), undeclared=tuple(undeclared))


def merged(parts: Iterable[Iterable[Declared]]) -> dict[str, Fields]:
    """Measurement -> the union of its fields (None wins: some source's fields are open)."""
    found: dict[str, Fields] = {RUN_MEASUREMENT: frozenset(RUN_FIELDS)}
    for part in parts:
        for measurement, names in part:
            before = found.get(measurement, frozenset())
            found[measurement] = None if names is None or before is None \
                else before | frozenset(names)
    return found
