"""The per-point loop of one window: readings -> lines appended to a batch's bytes, each new
point recorded for the collision check. The hot path of every run.

`PointLoop.run` takes the common reading (exactly a `Reading`, of the run's granularity,
encodable, on a point its window has not had yet) and hands anything else back to its
caller, the pipeline, which deals with it one by one: notes, refusals, collisions, other
granularities. pusher/points/_speedups.c compiles the same loop over the same Encoder and
PointSet (their caches and tables are shared, so either may take any reading); it is used
when it was built, and gives the same bytes (tests/test_speedups.py checks both on
hostile readings). This module is the reference and the fallback where no compiler was
available.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from pusher.errors import RefusedReading
from pusher.points.collisions import KeySets, PointSet
from pusher.points.lineprotocol import Encoder
from pusher.reading import Reading


class _Marker:
    """What `run` returns when it hands nothing back (a reading may be any object)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


END = _Marker("END")  # run(): the readings are exhausted
FULL = _Marker("FULL")  # run(): `room` lines were appended; call again once the batch is shipped


class PointLoop:
    """One window's readings into lines: `run` until END, shipping the batch at each FULL.

    `readings` counts the readings it took (the caller counts those it hands back), `lines`
    the lines the last `run` appended.
    """

    __slots__ = ("default", "encoder", "granularity", "keys_of", "lines", "points", "readings",
                 "stamp")

    def __init__(self, encoder: Encoder, points: PointSet, keys_of: KeySets, granularity: str,
                 stamp: int):
        self.encoder, self.points, self.keys_of = encoder, points, keys_of
        self.granularity, self.stamp = granularity, stamp
        self.default = str(stamp)  # the window's timestamp as the encoder writes it
        self.readings = self.lines = 0

    def run(self, readings: Iterator[object], body: bytearray, room: int) -> object:
        """Append up to `room` lines to `body`; returns END, FULL or a reading to hand back."""
        encoder, points, granularity, stamp = self.encoder, self.points, self.granularity, \
            self.stamp
        encode, keys_of, default = encoder.encode, self.keys_of, self.default
        lines: list[str] = []
        taken = fresh = 0
        exact = points.exact
        limit = points.exact_points - len(points)  # new exact points before it goes compact
        mask, keys = -1, frozenset[str]()
        try:
            for reading in readings:
                if type(reading) is not Reading or (
                        reading.granularity and str(reading.granularity) != granularity):
                    return reading
                try:
                    line = encode(reading, granularity, stamp)
                except RefusedReading:
                    return reading  # encoded again by the caller, which refuses it
                except BaseException:
                    taken += 1  # the window fails on it: it was read all the same
                    raise
                if encoder.fields_mask != mask:
                    mask = encoder.fields_mask
                    keys = keys_of(reading.fields, mask)
                series = encoder.series
                if exact is not None:
                    point = series if encoder.stamp == default else hash((series, encoder.stamp))
                    if point in exact:
                        return reading
                    exact[point] = keys
                    fresh += 1
                    if fresh > limit:  # the window is big: on to the compact store
                        points.count(fresh)
                        fresh, exact = 0, points.exact
                elif not points.add_new(series, encoder.stamp, keys):
                    return reading
                lines.append(line)
                taken += 1
                if len(lines) >= room:
                    return FULL
            return END
        finally:
            points.count(fresh)
            self.readings += taken
            self.lines = len(lines)
            if lines:
                lines.append("")
                body += "\n".join(lines).encode()


class OneByOne:
    """Hands every reading back (on_collision = "sum" keeps every value: the slow path)."""

    readings = lines = 0

    def run(self, readings: Iterator[object], body: bytearray, room: int) -> object:
        return next(readings, END)


def _compiled() -> Any:
    """The compiled loop, or None (no compiler at install time, or PUSHER_PURE_PYTHON set)."""
    if os.environ.get("PUSHER_PURE_PYTHON"):
        return None
    try:
        from pusher.points import _speedups  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _speedups.PointLoop


def point_loop(encoder: Encoder, points: PointSet, keys_of: KeySets, granularity: str,
               stamp: int, one_by_one: bool = False) -> PointLoop | OneByOne:
    """The compiled loop where it was built, else this module's; `one_by_one`: OneByOne."""
    if one_by_one:
        return OneByOne()
    loop = COMPILED or PointLoop
    made: PointLoop = loop(encoder, points, keys_of, granularity, stamp)
    return made


COMPILED = _compiled()
