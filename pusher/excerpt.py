"""Bounded, encodable text for logs and dead-letter records: a refused 1 MB value is shown as
its first characters and its size, and a lone surrogate as an escape, never as a crash."""

from __future__ import annotations

from collections.abc import Mapping

EXCERPT_CHARS = 300  # characters of a text shown in a log line or a dead-letter record
VALUE_CHARS = 80  # characters of one long string value inside a reading's description


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` if short, else its first `limit` characters and its size; always UTF-8-safe."""
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text):,} characters)"
    if not text.isascii():
        # A lone surrogate cannot be written to a UTF-8 file or stream: show it escaped.
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


REASONS_KEPT = 3  # distinct reasons a refusal line names; every one is in the dead-letter file


def keep_reason(reasons: list[str], reason: str) -> None:
    """Add `reason` to the first few distinct `reasons` a line about many refusals names."""
    if len(reasons) < REASONS_KEPT and reason not in reasons:
        reasons.append(reason)


def reading_excerpt(reading: object) -> str:
    """repr() of a reading with each long string shortened, so its names stay visible."""
    measurement = getattr(reading, "measurement", None)
    fields = getattr(reading, "fields", None)
    if not isinstance(fields, Mapping):
        return excerpt(repr(reading))
    parts = [f"measurement={_short(measurement)}",
             f"fields={_mapping(fields)}"]
    for name in ("tags", "time", "granularity"):
        value = getattr(reading, name, None)
        if value is not None:
            shown = _mapping(value) if isinstance(value, Mapping) else _short(value)
            parts.append(f"{name}={shown}")
    return excerpt(f"{type(reading).__name__}({', '.join(parts)})", limit=4 * EXCERPT_CHARS)


def _mapping(values: Mapping[object, object]) -> str:
    return "{" + ", ".join(f"{_short(k)}: {_short(v)}" for k, v in values.items()) + "}"


def _short(value: object) -> str:
    if isinstance(value, str) and len(value) > VALUE_CHARS:
        return f"{value[:VALUE_CHARS]!r}... ({len(value):,} characters)"
    return repr(value)
