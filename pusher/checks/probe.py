"""For `pusher validate`: a source run once on a tiny recent window, encoded but not written.

Each of the source's probes (pusher.sources.source_probes: one per query for prometheus and
sql) reads the last PROBE_SPAN before now, as collect would read a window: readings are
encoded by the same encoder, NaN skipped as the source's `nan` says, and what would be
written is described (rows, measurements, fields, tags), or the one-line reason it fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pusher.errors import PusherError, RefusedReading
from pusher.excerpt import excerpt
from pusher.points.lineprotocol import Encoder, to_timestamp
from pusher.reading import Granularity, NoData, Note, Reading, Skipped, Window
from pusher.runs.pipeline import RunRecord, not_a_reading, remark
from pusher.writers import one_line

PROBE_SPAN = timedelta(minutes=5)  # small: a probe asks the source for little work


@dataclass
class ProbeResult:
    """What one probe read: counts as a run record, and each measurement's fields and tags."""

    label: str
    record: RunRecord
    shapes: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)
    refusal: str = ""  # the first reading the encoder refused, and why

    @property
    def ok(self) -> bool:
        return not self.record.errors and not self.record.refused

    def describe(self) -> str:
        """One line: the reason it fails, or what it would write."""
        record = self.record
        if record.errors:
            return record.errors[0]
        if record.refused:
            return (f"{record.refused} of {record.readings} rows would be refused: "
                    f"{self.refusal}")
        if not record.readings:
            text = f"no data in the last {_minutes(PROBE_SPAN)}: nothing would be written now"
        else:
            rows = f"{record.readings} row{'s' if record.readings != 1 else ''}"
            text = f"{rows} -> {', '.join(_shape(m, *s) for m, s in self.shapes.items())}"
        if record.skipped_nan:
            text += f"; {record.skipped_nan} NaN or infinite values skipped"
        return text + "".join(f" ({note})" for note in record.notes)


def probe_window(now: datetime, granularity: Granularity) -> Window:
    """The tiny recent window a probe reads: [now - PROBE_SPAN, now)."""
    return Window(now - PROBE_SPAN, now, granularity)


def run_probe(label: str, read: Callable[[Window], Iterable[object]], window: Window,
              encoder: Encoder) -> ProbeResult:
    """Read `window` through `read`, encode each reading; never raises."""
    result = ProbeResult(label, RunRecord(label))
    record, stamp = result.record, to_timestamp(window.start, encoder.precision)
    try:
        for item in read(window):
            if isinstance(item, Note | Skipped | NoData):
                remark(item, record)
                continue
            record.readings += 1
            try:
                if not isinstance(item, Reading):
                    raise not_a_reading(item)
                encoder.encode(item, window.granularity.value, stamp)
            except RefusedReading as exc:
                record.refused += 1
                result.refusal = result.refusal or excerpt(str(exc))
                continue
            fields, tags = result.shapes.setdefault(item.measurement, (set(), set()))
            fields.update(item.fields)
            tags.update(key for key, value in (item.tags or {}).items() if value)
    except Exception as exc:  # a source's failure, ours or a plugin's, is the probe's line
        ours = isinstance(exc, PusherError)
        record.errors.append(one_line(excerpt(str(exc) if ours
                                              else f"{type(exc).__name__}: {exc}")))
    return result


def _shape(measurement: str, fields: set[str], tags: set[str]) -> str:
    tagged = f"; tags {', '.join(sorted(tags))}" if tags else ""
    return f"{measurement} (fields {', '.join(sorted(fields))}{tagged})"


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:g} minutes"
