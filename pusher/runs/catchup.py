"""One run of one source: catch up from its watermark, collect window by window, log the run.

Windows are delivered one at a time so that the watermark can say exactly which windows are
completely in InfluxDB: it moves past a window only when every point of it was
acknowledged, and never past a window that failed or was left in the spool. Windows after
the watermark are collected again by the next run, which is harmless: a point is stamped
with its window's start and InfluxDB overwrites it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pusher.config import Config, SourceConfig
from pusher.deadline import Deadline
from pusher.excerpt import keep_reason
from pusher.points.lineprotocol import Encoder
from pusher.reading import Granularity, Window, default_windows, windows_between
from pusher.runs.history import History, Watermarks, run_reading
from pusher.runs.pipeline import Run, RunRecord, collect
from pusher.schedules import parse_schedule
from pusher.sources import Source, source_options, window_readings
from pusher.state import StateError
from pusher.writers.sinks import Sink, SinkCounts

if TYPE_CHECKING:
    from pusher.writers.deadletter import DeadLetter

log = logging.getLogger(__name__)
CATCHUP_DEFAULTS = {Granularity.HOURLY: 168, Granularity.DAILY: 31}
WatermarkLookup = Callable[[str, str], datetime | None]


@dataclass
class RunContext:
    """What the runs of one invocation share: outputs, state and where watermarks come from."""

    config: Config
    sink_for: Callable[[str], Sink]
    dead_letter: DeadLetter | None
    watermarks: Watermarks | None  # None: a dry run, which changes no state
    history: History | None
    remote_watermark: WatermarkLookup | None = None
    timeout: float | None = None  # seconds for each source's run: --timeout, else its own


def run_timeout(context: RunContext, spec: SourceConfig, now: datetime) -> float:
    """Seconds one run of `spec` may take: --timeout, else the rule `pusher run` uses."""
    if context.timeout is not None:
        return context.timeout
    schedule = parse_schedule(spec.schedule, spec.granularity)
    return schedule.run_timeout(spec.timeout, context.config.timezone, now)


def catchup_windows(spec: SourceConfig, config: Config, now: datetime,
                    mark: datetime | None, span: Sequence[Window] | None = None
                    ) -> tuple[list[Window], str | None]:
    """Every window since the watermark to the end of `span`, at most catchup_max of them.

    `span` defaults to the regular windows (the previous one and the one containing now);
    an explicit span (`collect --since --until --catch-up`) is collected whole either way.
    """
    tz = config.timezone
    regular = list(span) if span else default_windows(now, spec.granularity, tz)
    if mark is None or mark >= regular[0].start:
        return regular, None
    windows = list(windows_between(mark, regular[-1].end if span else now,
                                   spec.granularity, tz))
    missed = len(windows) - (len(regular) if span else 1)
    cap = spec.catchup_max or CATCHUP_DEFAULTS[spec.granularity]
    if span:  # the asked-for windows are never cut
        cap = max(cap, len(regular))
    if len(windows) <= cap:
        return windows, f"catching up {missed} missed windows"
    skipped = windows[:-cap]
    note = (f"{len(skipped)} missed windows before {windows[-cap].start.isoformat()} exceed "
            f"catchup_max={cap}: fill them with `pusher backfill {spec.name} --since "
            f"{skipped[0].start.isoformat()}`")
    log.warning("%s: %s", spec.name, note)
    return windows[-cap:], note


def watermark_of(context: RunContext, spec: SourceConfig) -> datetime | None:
    """The local watermark, else the one InfluxDB holds (a run without a state volume)."""
    mark = context.watermarks.get(spec.name) if context.watermarks else None
    if mark is None and context.remote_watermark is not None:
        mark = context.remote_watermark(spec.name, spec.granularity.value)
    return mark


def run_source(context: RunContext, spec: SourceConfig, source: Source, now: datetime,
               windows: Sequence[Window] | None = None, catch_up: bool = False) -> RunRecord:
    """Collect `windows` (default: catch-up windows) and record the run; never raises.

    With `catch_up`, explicit windows are preceded by those missed since the watermark.
    """
    deadline = Deadline(run_timeout(context, spec, now))
    mark = watermark_of(context, spec)
    note = None
    resumes = windows is None or catch_up  # the next run takes up what this one leaves
    if windows is None or catch_up:
        windows, note = catchup_windows(spec, context.config, now, mark, windows)
    record, mark = collect_windows(context, spec, source, windows, now, mark, deadline)
    if record.timed_out:
        record.errors.insert(0, stopped_early(spec, windows, record, deadline, resumes))
    say_refusals(context, record)
    if note:
        record.notes.append(note)
    if context.watermarks is not None:
        finish(context, spec, record, mark, now)
    return record


def collect_windows(context: RunContext, spec: SourceConfig, source: Source,
                    windows: Sequence[Window], now: datetime, mark: datetime | None,
                    deadline: Deadline | None = None) -> tuple[RunRecord, datetime | None]:
    """Collect window by window; returns the run record and the watermark after it.

    Stops at the first window that timed out (a query's time or the run's): the windows
    after it would only wait again.
    """
    record = RunRecord(spec.name)
    encoder = Encoder(context.config.influx.precision)
    floor = default_windows(now, spec.granularity, context.config.timezone)[0].start
    advancing = True
    options = source_options(source, spec)
    # Read together (a batched source asks once for many windows), written one by one.
    opened = window_readings(source, windows, options)
    for window, readings in zip(windows, opened, strict=True):
        if record.state_error:
            break  # the rest could not be kept either: the next run collects them again
        run = Run(name=spec.name, source=source, options=options,
                  granularity=spec.granularity.value, encoder=encoder,
                  sink=context.sink_for(spec.name), dead_letter=context.dead_letter,
                  on_collision=spec.on_collision, deadline=deadline)
        part = collect(run, [window], [readings])
        merge(record, part)
        said_once(spec.name, part)
        if part.timed_out:
            break
        if window.end > now or not advancing:
            continue  # the current window is not complete yet: it moves no watermark
        if part.errors or part.spooled:
            advancing = False
        elif extends(mark, window, floor):
            mark = window.end
            # Saved as it moves: a run killed half-way keeps the windows it finished.
            if context.watermarks is not None:
                try:
                    context.watermarks.set(spec.name, mark)
                except StateError as exc:  # said once, by finish()
                    log.debug("%s: %s", spec.name, exc)
    return record, mark


def stopped_early(spec: SourceConfig, windows: Sequence[Window], record: RunRecord,
                  deadline: Deadline, resumes: bool) -> str:
    """The run's first error when a window timed out: how far it got, what comes next."""
    why = str(deadline.error()) if deadline.expired() else "a query timed out"
    # The loop stopped at the window that timed out: the last one counted.
    failed = record.windows - 1
    said = f"{why}: stopped at window {failed + 1} of {len(windows)}"
    if resumes:
        return f"{said}; the next run resumes from the watermark"
    return (f"{said}; collect the rest with `pusher backfill {spec.name} --since "
            f"{windows[failed].start.isoformat()} --until {windows[-1].end.isoformat()}`")


def extends(mark: datetime | None, window: Window, floor: datetime) -> bool:
    """Whether a completely written window moves the watermark to its end."""
    if mark is None:
        # Only the regular windows may start a watermark: a backfilled range of last year
        # must not make the next run "catch up" from there.
        return window.start >= floor
    return window.start <= mark < window.end


def merge(total: RunRecord, part: RunRecord) -> None:
    total.windows += part.windows
    total.readings += part.readings
    total.written += part.written
    total.refused += part.refused
    total.spooled += part.spooled
    total.collided += part.collided
    total.state_error = total.state_error or part.state_error
    for reason in part.reasons:
        keep_reason(total.reasons, reason)
    total.skipped_nan += part.skipped_nan
    for query, windows in part.no_data.items():
        total.no_data[query] = total.no_data.get(query, 0) + windows
    total.duration += part.duration
    total.errors.extend(part.errors)
    total.notes.extend(note for note in part.notes if note not in total.notes)
    total.timed_out = total.timed_out or part.timed_out


def say_refusals(context: RunContext, record: RunRecord) -> None:
    """One line for every point of a run that was refused: the count and the first reasons."""
    if not record.refused:
        return
    kept = (f"each is in {context.dead_letter.path} with its reason" if context.dead_letter
            else "a dry run keeps no dead-letter file")
    log.warning("%s: %d points refused: %s (%s)", record.source, record.refused,
                "; ".join(record.reasons) or "see the dead-letter file", kept)


def said_once(source: str, part: RunRecord) -> None:
    """The one line of a run whose state directory took no write; its caller stops."""
    if part.state_error:
        log.error("%s: %s; nothing more is written to the state directory in this run",
                  source, part.state_error)


def finish(context: RunContext, spec: SourceConfig, record: RunRecord,
           mark: datetime | None, now: datetime) -> None:
    """Save the watermark and the run in the state directory, and send the pusher_runs point.

    A state directory that takes no writes (disk full, read-only) fails the run in one
    line; its points are in InfluxDB or the spool all the same. After a failed write of
    the run's points, nothing more is tried: each would fail the same way.
    """
    assert context.watermarks is not None and context.history is not None
    if record.state_error:
        return
    try:
        if mark is not None:
            context.watermarks.set(spec.name, mark)
        now = context.history.record(record, now)
    except StateError as exc:
        log.error("%s: %s", spec.name, exc)
        record.errors.append(str(exc))
        record.state_error = str(exc)
        return  # the run's point would go through the same state directory
    log_run(context, spec, record, mark, now)


def log_run(context: RunContext, spec: SourceConfig, record: RunRecord,
            mark: datetime | None, ended: datetime) -> SinkCounts:
    """Write the pusher_runs point through the spool like any other point."""
    tz = context.config.timezone
    interval = parse_schedule(spec.schedule, spec.granularity).interval(tz, ended)
    reading = run_reading(record, ended, mark, interval)
    encoder = Encoder(context.config.influx.precision)
    sink = context.sink_for(spec.name)
    try:
        sink.add(encoder.encode(reading, spec.granularity.value, 0), spec.granularity.value)
        return sink.close()
    except Exception as exc:  # the run itself is done: its log must not fail it
        log.warning("%s: could not write its pusher_runs point: %s", spec.name, exc)
        return SinkCounts(errors=[str(exc)])
