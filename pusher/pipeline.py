"""One source over its windows: readings -> lines -> sink, and a record of how it went."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pusher.errors import PusherError, RefusedReading
from pusher.lineprotocol import Encoder, to_timestamp
from pusher.reading import Note, Reading, Window
from pusher.sinks import Sink
from pusher.sources import window_readings
from pusher.spool import DeadLetter

log = logging.getLogger(__name__)


@dataclass
class RunRecord:
    """What one run of one source did; the summary line and the exit code come from it."""

    source: str
    windows: int = 0
    readings: int = 0
    written: int = 0
    refused: int = 0
    spooled: int = 0
    duration: float = 0.0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.errors:
            return "failed"
        if self.refused or self.spooled:
            return "partial"
        return "done"

    @property
    def ok(self) -> bool:
        return self.status == "done"

    def summary(self) -> str:
        state = self.status if not self.errors else f"failed: {self.errors[0]}"
        if len(set(self.errors)) > 1:
            state += f" (+{len(set(self.errors)) - 1} more errors, see the log)"
        extra = f" spooled={self.spooled}" if self.spooled else ""
        notes = "".join(f" ({note})" for note in self.notes)
        return (f"- {self.source} windows={self.windows} readings={self.readings} "
                f"written={self.written} refused={self.refused}{extra} [{state}]{notes} "
                f"{self.duration:.1f}s")


@dataclass
class Run:
    """Everything one run of a source needs, I/O passed in."""

    name: str
    source: Callable[..., Iterable[Reading]]
    options: Mapping[str, Any]
    granularity: str
    encoder: Encoder
    sink: Sink
    dead_letter: DeadLetter | None = None
    clock: Callable[[], float] = time.monotonic


def collect(run: Run, windows: Sequence[Window],
            readings: Sequence[Iterable[Reading]] | None = None) -> RunRecord:
    """Read every window, encode, hand lines to the sink; a failing window stays local.

    `readings`: the windows' readings from `window_readings`, when the caller opened them
    over more windows than this call collects (one batched read shared by several runs).
    """
    record = RunRecord(run.name)
    started = run.clock()
    if readings is None:
        readings = window_readings(run.source, windows, run.options)
    for window, its_readings in zip(windows, readings, strict=True):
        try:
            _collect_window(run, window, its_readings, record)
        except Exception as exc:  # a source's failure, ours or a plugin's, is reported
            ours = isinstance(exc, PusherError)  # ours say what failed; others get a trace
            message = f"{window}: {exc}" if ours else f"{window}: {type(exc).__name__}: {exc}"
            log.error("source %s failed: %s", run.name, message, exc_info=not ours)
            record.errors.append(message)
        record.windows += 1
    try:
        counts = run.sink.close()
    except Exception as exc:  # the spool is full, or its disk failed
        log.error("%s: writing failed: %s", run.name, exc)
        record.errors.append(f"writing: {exc}")
    else:
        record.written += counts.written
        record.refused += counts.refused
        record.spooled += counts.spooled
        record.errors.extend(counts.errors)
    record.duration = run.clock() - started
    return record


def _collect_window(run: Run, window: Window, readings: Iterable[object],
                    record: RunRecord) -> None:
    """The per-point loop: the hot path, so the common case is inlined and looked up once."""
    stamp = to_timestamp(window.start, run.encoder.precision)
    encode, add, granularity = run.encoder.encode, run.sink.add, run.granularity
    count = 0
    try:
        for reading in readings:
            if type(reading) is not Reading:
                if isinstance(reading, Note):  # e.g. "sampled data": said once per run
                    if reading.text not in record.notes:
                        record.notes.append(reading.text)
                    continue
                count += 1
                _encode_one(run, reading, stamp, record)
                continue
            count += 1
            try:
                line = encode(reading, granularity, stamp)
            except RefusedReading as exc:
                _refused(run, reading, exc, record)
                continue
            own = reading.granularity
            add(line, str(own) if own else granularity)
    finally:
        record.readings += count


def _refused(run: Run, reading: object, exc: RefusedReading, record: RunRecord) -> None:
    record.refused += 1
    log.warning("%s: refused %r: %s", run.name, reading, exc)
    if run.dead_letter is not None:
        run.dead_letter.add(run.name, str(exc), reading=repr(reading))


def _encode_one(run: Run, reading: object, stamp: int, record: RunRecord) -> None:
    """A reading of a Reading subclass, or something else (refused with the reason)."""
    try:
        if not isinstance(reading, Reading):
            raise RefusedReading(f"the source yielded a {type(reading).__name__}, not a Reading")
        line = run.encoder.encode(reading, run.granularity, stamp)
        granularity = str(reading.granularity or run.granularity)
    except RefusedReading as exc:
        _refused(run, reading, exc, record)
        return
    run.sink.add(line, granularity)

