"""Per-window statistics computed by pusher, so every database gets the same definitions."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import timedelta
from decimal import Decimal, InvalidOperation

FIXED_STATS = ("count", "sum", "mean", "min", "max")
_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?|100)")


def check_stat(name: str) -> None:
    """Raise ValueError unless `name` is count, sum, mean, min, max or pNN (e.g. p50, p99.9)."""
    if name not in FIXED_STATS and percentile_fraction(name) is None:
        raise ValueError(f"unknown statistic {name!r} (use {', '.join(FIXED_STATS)} or pNN)")


def percentile_fraction(name: str) -> float | None:
    """0.9 for "p90", 0.999 for "p99.9"; None when `name` is not a percentile."""
    match = _PERCENTILE.fullmatch(name)
    if match is None:
        return None
    # Through Decimal so "p99.9" is the double nearest 0.999, as PostgreSQL reads 0.999.
    return float(Decimal(match.group(1)) / 100)


def percentile_cont(ordered: Sequence[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the two nearest ranks."""
    # Same operations, in the same order, as PostgreSQL's percentile_cont_final_common
    # and float8_lerp, so the result is bit-for-bit the one PostgreSQL returns.
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    first, second = ordered[low], ordered[high]
    if low == high:
        return first
    return first + (second - first) * (position - low)


def summarize(values: Iterable[float], stats: Sequence[str]) -> dict[str, int | float]:
    """The requested statistics of a non-empty group of values."""
    ordered = sorted(values)
    total = math.fsum(ordered)
    result: dict[str, int | float] = {}
    for stat in stats:
        if stat == "count":
            result[stat] = len(ordered)
        elif stat == "sum":
            result[stat] = total
        elif stat == "mean":
            result[stat] = total / len(ordered)
        elif stat == "min":
            result[stat] = ordered[0]
        elif stat == "max":
            result[stat] = ordered[-1]
        else:
            fraction = percentile_fraction(stat)
            assert fraction is not None, stat  # checked at config time
            result[stat] = percentile_cont(ordered, fraction)
    return result


def as_number(value: object) -> float | None:
    """A duration or amount as float seconds/units; None for NULL or what is not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return None if math.isnan(number) else number  # NaN has no rank
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, str):
        try:  # SQLite may hand back numbers stored as text
            return float(Decimal(value))
        except InvalidOperation:
            return None
    return None
