"""Readings of one window that land on the same series, field and time: InfluxDB keeps only
the last one written (a point is identified by its series and timestamp, and a field of a
later write replaces the same field of the earlier one), so pusher detects them.

Memory is bounded per window (the set is cleared between windows). The first EXACT_POINTS
points of a window are kept in a dict from the point to the set of field keys written
there (the sets are shared): a point at the window's start is keyed by its series key, the
encoder's own cached string, so it costs a dict slot (about 40 bytes) and no allocation; a
point with a time of its own by the 64-bit hash of (series key, timestamp), about 70
bytes. The pipeline does this inline. Past EXACT_POINTS, a window continues in a
compact store of 8-byte words, each a 56-bit fingerprint of a point and a small id of its
field-key set, in 4,096 buckets (a million points: about 9 MB, grown a bucket at a time);
two different points of a window are taken for one there with a chance of about
n**2 / 2**57 (10 million points: under 0.1 %).
"""

from __future__ import annotations

from collections.abc import Mapping

from pusher.points.lineprotocol import MASK_OTHER

EXACT_POINTS = 131_072  # points of a window in the dict (5 to 9 MB)
_OVERFLOW = 0xFF  # field-key sets beyond the first 254 of a window are kept aside
# Compact points: 8 bytes each (a 56-bit fingerprint, then the field-set id) in buckets by
# fingerprint; a lookup is one bytes.find in a bucket (about 2 KB at a million points).
_BUCKETS = 4096
_BUCKET_MASK = _BUCKETS - 1
_FINGERPRINT = (1 << 56) - 1
_MAX_SETS = 10_000
Keys = frozenset[str]


class PointSet:
    """The points (series key + timestamp) of one window, each with its field keys.

    A point at the window's own timestamp is keyed by its series key (the encoder's cached
    string: no allocation), any other by the hash of (series key, timestamp). The pipeline
    does `point in exact` / `exact[point] = keys` itself; `add()` does it for any caller.
    """

    __slots__ = ("_buckets", "_count", "_ids", "_overflow", "_sets", "default", "exact",
                 "exact_points", "merge")

    def __init__(self, merge: bool = False):
        # merge: a colliding reading is written anyway (last wins, or summed), so its new
        # fields join the point's; otherwise it is refused and the point stays as it was.
        self.merge = merge
        self.exact_points = EXACT_POINTS  # where a window goes compact (tests lower it)
        self.clear("")

    def clear(self, default: str) -> None:
        """Forget every point: a window starts, stamped `default` (its memory is released)."""
        self.default = default
        self.exact: dict[str | int, Keys] | None = {}
        self._buckets: list[bytearray] = []
        self._count = 0
        self._sets: list[Keys] = [frozenset()]  # id 0 marks an empty slot
        self._ids: dict[Keys, int] = {}
        self._overflow: dict[int, Keys] = {}  # fingerprint -> keys, for ids past 254

    def point(self, series: str, stamp: str) -> str | int:
        """The key of a point in `exact`."""
        return series if stamp == self.default else hash((series, stamp))

    def add(self, series: str, stamp: str, keys: Keys) -> Keys | None:
        """Record field keys at a point; the keys an earlier reading already wrote there."""
        if self.exact is None:
            return self.add_compact(series, stamp, keys)
        point = self.point(series, stamp)
        if point in self.exact:
            return self.again(point, keys)
        self.exact[point] = keys
        self.count(1)
        return None

    def count(self, added: int) -> None:
        """`added` new exact points; past `exact_points` the window goes compact."""
        self._count += added
        if self._count > self.exact_points and self.exact is not None:
            self.compact()

    def again(self, point: str | int, keys: Keys) -> Keys | None:
        """A reading at a point the exact dict holds."""
        assert self.exact is not None
        both, union = self._meet(self.exact[point], keys)
        if union is not None:
            self.exact[point] = union
        return both

    def _meet(self, earlier: Keys, now: Keys) -> tuple[Keys | None, Keys | None]:
        """(keys both wrote or None, the point's keys afterwards or None if unchanged)."""
        both = earlier & now
        if both and not self.merge:
            return both, None
        return both or None, earlier | now

    def compact(self) -> None:
        """Move the window's points from the dict to the compact buckets (a big window)."""
        exact, self.exact = self.exact or {}, None
        buckets = self._buckets = [bytearray() for _ in range(_BUCKETS)]
        default, ids, intern = self.default, self._ids, self._intern
        last, ident = None, 0
        for point, keys in exact.items():  # the points of a window mostly share their keys
            print_ = (hash((point, default)) if isinstance(point, str) else point) >> 8
            if keys is not last:
                last, ident = keys, ids.get(keys) or intern(keys)
            if ident == _OVERFLOW:
                self._overflow[print_] = keys
            # The fingerprint's 7 bytes (two's complement), then the id: one 8-byte word.
            word = (print_ & _FINGERPRINT) | ident << 56
            buckets[print_ & _BUCKET_MASK] += word.to_bytes(8, "little")

    def _intern(self, keys: Keys) -> int:
        ident = self._ids.get(keys)
        if ident is None:
            if len(self._sets) >= _OVERFLOW:
                return _OVERFLOW
            ident = self._ids[keys] = len(self._sets)
            self._sets.append(keys)
        return ident

    def add_new(self, series: str, stamp: str, keys: Keys) -> bool:
        """Record a point of a compact window if it is new; False (and nothing changed) if
        the window has it already. The point loop's way in (pusher/points/pointloop.py)."""
        print_ = hash((series, stamp)) >> 8  # a 56-bit fingerprint
        bucket = self._buckets[print_ & _BUCKET_MASK]
        if _find(bucket, print_) >= 0:
            return False
        ident = self._ids.get(keys) or self._intern(keys)
        bucket += print_.to_bytes(7, "little", signed=True)
        bucket.append(ident)
        if ident == _OVERFLOW:
            self._overflow[print_] = keys
        self._count += 1
        return True

    def add_compact(self, series: str, stamp: str, keys: Keys) -> Keys | None:
        """add() once the window is compact: the pipeline calls it directly (big windows)."""
        if self.add_new(series, stamp, keys):
            return None
        print_ = hash((series, stamp)) >> 8  # a 56-bit fingerprint
        bucket = self._buckets[print_ & _BUCKET_MASK]
        at = _find(bucket, print_)
        before = bucket[at + 7]
        earlier = self._overflow[print_] if before == _OVERFLOW else self._sets[before]
        both, union = self._meet(earlier, keys)
        if union is not None:
            merged = self._intern(union)
            if merged == _OVERFLOW:
                self._overflow[print_] = union
            bucket[at + 7] = merged
        return both

    def __len__(self) -> int:
        return self._count


def _find(bucket: bytearray, print_: int) -> int:
    """Where the word of fingerprint `print_` starts in `bucket`, or -1."""
    found = print_.to_bytes(7, "little", signed=True)
    at = bucket.find(found)
    while at & 7 and at >= 0:  # found across two words: look further
        at = bucket.find(found, at + 1)
    return at


class KeySets:
    """The field-key set of a reading, by the encoder's mask of its keys (shared sets)."""

    __slots__ = ("_sets",)

    def __init__(self) -> None:
        self._sets: dict[int, Keys] = {}

    def __call__(self, fields: Mapping[str, object], mask: int) -> Keys:
        if mask & MASK_OTHER:  # a key beyond the encoder's first MASK_BITS: no shortcut
            return frozenset(fields)
        keys = self._sets.get(mask)
        if keys is None:
            if len(self._sets) > _MAX_SETS:
                self._sets.clear()
            keys = self._sets[mask] = frozenset(fields)
        return keys
