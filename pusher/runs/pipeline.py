"""One source over its windows: readings -> lines -> sink, and a record of how it went."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pusher.deadline import Deadline, TimedOut, within
from pusher.errors import PusherError, RefusedReading
from pusher.excerpt import excerpt, keep_reason, reading_excerpt
from pusher.points.collisions import Keys, KeySets, PointSet
from pusher.points.lineprotocol import Encoder, to_timestamp
from pusher.points.pointloop import END, FULL, point_loop
from pusher.reading import NoData, Note, Reading, Skipped, Window
from pusher.secrets import redact
from pusher.sources import window_readings
from pusher.state import StateError
from pusher.writers.sinks import Batching, Sink, batching

if TYPE_CHECKING:
    from pusher.writers.deadletter import DeadLetter

log = logging.getLogger(__name__)
DEAD_LETTER_BATCH = 1000  # refusals held before they are written (the rest: at window end)
COLLISION = ("collides with an earlier reading of the same series and time (field {fields}): "
             "add a tag column or aggregate")


@dataclass
class RunRecord:
    """What one run of one source did; the summary line and the exit code come from it."""

    source: str
    windows: int = 0
    readings: int = 0
    written: int = 0
    refused: int = 0
    spooled: int = 0
    collided: int = 0  # readings on the series, field and time of an earlier one
    skipped_nan: int = 0  # NaN or infinite values a source left out (Skipped)
    no_data: dict[str, int] = field(default_factory=dict)  # query -> windows it had nothing
    state_error: str = ""  # the state directory took no write (disk full, read-only)
    reasons: list[str] = field(default_factory=list)  # the first distinct refusal reasons
    duration: float = 0.0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timed_out: bool = False  # a window failed for lack of time (a query's or the run's)

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

    def silent(self) -> list[str]:
        """A note naming the queries that returned nothing in every window of the run."""
        empty = [q for q, n in self.no_data.items() if n >= self.windows > 0]
        return [f"no data: {', '.join(empty)}"] if empty else []

    def summary(self, dry_run: bool = False) -> str:
        """One line; a dry run says `printed=N`: nothing was written."""
        state = self.status if not self.errors else f"failed: {self.errors[0]}"
        if len(set(self.errors)) > 1:
            # Each error was logged on its own line above this summary.
            state += f" (+{len(set(self.errors)) - 1} more errors above)"
        extra = f" spooled={self.spooled}" if self.spooled else ""
        extra += f" collided={self.collided}" if self.collided else ""
        extra += f" skipped_nan={self.skipped_nan}" if self.skipped_nan else ""
        notes = "".join(f" ({note})" for note in [*self.notes, *self.silent()])
        done = f"printed={self.written}" if dry_run else f"written={self.written}"
        return (f"- {self.source} windows={self.windows} readings={self.readings} "
                f"{done} refused={self.refused}{extra} [{state}]{notes} "
                f"{self.duration:.1f}s")


@dataclass
class Run:
    """Everything one run of a source needs, I/O passed in."""

    name: str
    source: Callable[..., Iterable[Reading]]
    options: Mapping[str, Any]
    granularity: str
    encoder: Encoder
    sink: Sink  # a Batching once made (any other sink is fed through one)
    dead_letter: DeadLetter | None = None
    clock: Callable[[], float] = time.monotonic
    on_collision: str = "refuse"  # refuse | last | sum: see pusher/points/collisions.py
    deadline: Deadline | None = None  # the source's time in this run (pusher/deadline.py)
    # Refusals (reason, reading) not yet in the dead-letter file: written per window.
    refusals: list[tuple[str, str]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.sink = batching(self.sink)


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
    points = Points(run.on_collision)
    with within(run.deadline):
        _collect_windows(run, windows, readings, record, points)
    _close_sink(run, record, points)
    record.duration = run.clock() - started
    return record


def _close_sink(run: Run, record: RunRecord, points: Points) -> None:
    """Write what the sink holds and count it; a failure is the run's error, not a raise."""
    try:
        counts = run.sink.close()
    except Exception as exc:
        # Only a real run has a spool: a dry run does not import it (start-up).
        from pusher.writers.spool import SpoolFull

        if isinstance(exc, StateError | SpoolFull):  # said once per run by the caller,
            record.state_error = f"writing: {exc}"  # which stops
            record.errors.append(record.state_error)
            return
        log.error("%s: writing failed: %s", run.name, exc)
        record.errors.append(f"writing: {exc}")
        return
    # A line that replaced an earlier one of this run (last wins, summed) added no point.
    replaced = min(points.replaced, counts.written)
    record.written += counts.written - replaced
    record.refused += counts.refused
    record.spooled += max(0, counts.spooled - (points.replaced - replaced))
    record.errors.extend(counts.errors)
    for reason in counts.reasons:
        keep_reason(record.reasons, reason)


def _collect_windows(run: Run, windows: Sequence[Window], readings: Sequence[Iterable[Reading]],
                     record: RunRecord, points: Points) -> None:
    """Each window in turn; once the run's time is up, the windows left are not begun."""
    for window, its_readings in zip(windows, readings, strict=True):
        if run.deadline is not None and run.deadline.expired():
            record.errors.append(excerpt(f"{window}: {run.deadline.error()}"))
            record.timed_out = True
            record.windows += 1  # failed, like a window whose source ran out of time
            return
        try:
            _collect_window(run, window, its_readings, record, points)
        except Exception as exc:  # a source's failure, ours or a plugin's, is reported
            ours = isinstance(exc, PusherError)  # ours say what failed; others get a trace
            message = f"{window}: {exc}" if ours else f"{window}: {type(exc).__name__}: {exc}"
            message = excerpt(message)  # bounded and encodable, wherever it is written
            # One line per failed window; a plugin's traceback only with -vv.
            log.error("%s failed: %s", run.name, message)
            log.debug("%s: the source raised", run.name, exc_info=not ours)
            record.errors.append(message)
            record.timed_out = record.timed_out or isinstance(exc, TimedOut)
        record.windows += 1


def _collect_window(run: Run, window: Window, readings: Iterable[object], record: RunRecord,
                    points: Points) -> None:
    """The per-point loop (pusher/points/pointloop.py), and what it hands back, one by one here."""
    stamp = to_timestamp(window.start, run.encoder.precision)
    points.clear(str(stamp))  # collisions are looked for within a window
    loop = point_loop(run.encoder, points, points.keys_of, run.granularity, stamp,
                      one_by_one=points.mode == "sum")
    sink, granularity = run.sink, run.granularity
    assert isinstance(sink, Batching)
    iterator, handed = iter(readings), 0
    try:
        while True:
            pending = sink.pending(granularity)
            try:
                item = loop.run(iterator, pending.body, sink.batch_size - pending.count)
            finally:
                sink.added(granularity, loop.lines)
            if item is END:
                return
            if item is FULL:
                continue
            if isinstance(item, Note | Skipped | NoData):
                remark(item, record)
                continue
            handed += 1
            _encode_one(run, item, stamp, record, points)
    finally:
        record.readings += loop.readings + handed
        _dead_letter(run)


class Points(PointSet):
    """The window's points, and what to do when a reading lands on an earlier one's."""

    __slots__ = ("keys_of", "mode", "replaced", "values")

    def __init__(self, mode: str):
        self.mode = mode
        self.replaced = 0  # lines written over an earlier line of this run
        self.keys_of = KeySets()
        super().__init__(merge=mode != "refuse")

    def clear(self, default: str) -> None:
        super().clear(default)
        # "sum" needs the values written so far (memory: every point of the window); the
        # other modes only the points.
        self.values: dict[tuple[str, str, str], object] = {}

    def settle(self, point: str | int, series: str, stamp: str, keys: Keys, reading: Reading
               ) -> Keys | None:
        """The slow path: a point seen before, the compact store, or summing."""
        if self.exact is not None and point in self.exact:
            both = self.again(point, keys)
        else:
            both = self.add(series, stamp, keys)
        if both is None and self.mode == "sum":
            for key, value in reading.fields.items():
                self.values[series, stamp, key] = value
        return both


def _collided(run: Run, reading: Reading, both: Keys, stamp: int, record: RunRecord,
              points: Points) -> str | None:
    """The line to write for a reading on an earlier one's point, or None when it is refused."""
    record.collided += 1
    if points.mode == "refuse":
        names = ", ".join(repr(k) for k in sorted(both))
        _refused(run, reading, RefusedReading(COLLISION.format(fields=names)), record)
        return None
    if points.mode == "sum":
        try:
            reading = _summed(points, run.encoder.series, run.encoder.stamp, reading)
        except RefusedReading as exc:
            _refused(run, reading, exc, record)
            return None
    points.replaced += 1
    return run.encoder.encode(reading, run.granularity, stamp)


def _summed(points: Points, series: str, stamp: str, reading: Reading) -> Reading:
    """The reading with each field that an earlier reading of its point wrote added to it."""
    fields = dict(reading.fields)
    for key, value in fields.items():
        earlier = points.values.get((series, stamp, key))
        if earlier is not None:
            if type(value) not in (int, float) or type(earlier) not in (int, float):
                raise RefusedReading(f"collides with an earlier reading on field {key!r}, and "
                                     "only numbers can be summed (on_collision = \"sum\")")
            fields[key] = earlier + value  # type: ignore[operator]
    for key, value in fields.items():
        points.values[series, stamp, key] = value
    return Reading(reading.measurement, fields, reading.tags, reading.time, reading.granularity)


def remark(said: Note | Skipped | NoData, record: RunRecord) -> None:
    """What a source says among its readings: for the summary, never for InfluxDB."""
    if isinstance(said, Skipped):
        record.skipped_nan += said.count
    elif isinstance(said, NoData):
        record.no_data[said.query] = record.no_data.get(said.query, 0) + 1
    elif said.text not in record.notes:  # e.g. "sampled data": said once per run
        record.notes.append(said.text)


def _refused(run: Run, reading: object, exc: RefusedReading, record: RunRecord) -> None:
    record.refused += 1
    shown, reason = reading_excerpt(reading), excerpt(str(exc))
    keep_reason(record.reasons, reason)  # said once per run, with the count
    log.info("%s: refused %s: %s", run.name, shown, reason)  # each one with -v
    if run.dead_letter is not None:
        run.refusals.append((redact(reason), redact(shown)))
        if len(run.refusals) >= DEAD_LETTER_BATCH:
            _dead_letter(run)


def _dead_letter(run: Run) -> None:
    """Write the refusals held so far in one append (one fsync, not one per reading)."""
    if run.dead_letter is None or not run.refusals:
        return
    from pusher.writers.deadletter import record

    refusals, run.refusals = run.refusals, []
    run.dead_letter.add_many([record(run.name, reason, reading=shown)
                              for reason, shown in refusals])


def not_a_reading(item: object) -> RefusedReading:
    return RefusedReading(f"the source yielded a {type(item).__name__}, not a Reading")


def _encode_one(run: Run, reading: object, stamp: int, record: RunRecord, points: Points
                ) -> None:
    """A reading of a Reading subclass, or something else (refused with the reason)."""
    try:
        if not isinstance(reading, Reading):
            raise not_a_reading(reading)
        line = run.encoder.encode(reading, run.granularity, stamp)
        granularity = str(reading.granularity or run.granularity)
    except RefusedReading as exc:
        _refused(run, reading, exc, record)
        return
    encoder = run.encoder
    both = points.settle(points.point(encoder.series, encoder.stamp), encoder.series,
                         encoder.stamp, points.keys_of(reading.fields, encoder.fields_mask),
                         reading)
    if both is not None:
        collided = _collided(run, reading, both, stamp, record, points)
        if collided is None:
            return
        line = collided
        # It replaces an earlier line: its batch must not overtake the batches before it.
        assert isinstance(run.sink, Batching)
        run.sink.pending(granularity).ordered = True
    run.sink.add(line, granularity)
