"""Parsing --since/--until: ISO dates and times, or relative spans like -3d, 12h, now."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo

_RELATIVE = re.compile(r"^-?(\d+)\s*(m|min|h|d|w)(?:\s+ago)?$")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(text: str, now: datetime, tz: tzinfo) -> datetime:
    """An aware datetime; naive ISO input is read in `tz` (the config's timezone)."""
    text = text.strip()
    if text == "now":
        return now
    if match := _RELATIVE.match(text):
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use ISO 8601 (2026-11-01, 2026-11-01T06:00Z) "
            "or a span back from now (90m, 12h, 7d, 2w)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)
