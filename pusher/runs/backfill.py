"""`pusher backfill`: past windows in chunks, resumable through a small state file per source.

A chunk is marked done once every point of it was acknowledged; a re-run skips done chunks
(unless forced) and re-collecting one would change nothing anyway: same series, same
window-start timestamps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from pusher.config import SourceConfig
from pusher.deadline import Deadline
from pusher.points.lineprotocol import Encoder
from pusher.reading import Reading, Window, default_windows, windows_between
from pusher.runs.catchup import RunContext, extends, merge, run_timeout, said_once, say_refusals
from pusher.runs.pipeline import Run, RunRecord, collect
from pusher.sources import Source, source_options, window_readings
from pusher.state import read_json, update_json
from pusher.writers.spool import source_file_name


def chunks(windows: Sequence[Window], size: int) -> Iterator[Sequence[Window]]:
    for first in range(0, len(windows), size):
        yield windows[first:first + size]


def chunk_key(chunk: Sequence[Window]) -> str:
    return f"{chunk[0].start.isoformat()}/{chunk[-1].end.isoformat()}"


@dataclass
class BackfillResult:
    record: RunRecord
    chunks: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


class BackfillState:
    """<state_dir>/backfill/<source>.json: the chunks already completely written."""

    def __init__(self, state_dir: Path, source: str):
        self.root = state_dir
        # The same safe, distinct file name as the spool's: `x.y` and `x_y` stay apart and
        # no name leaves the state directory.
        self.path = state_dir / "backfill" / f"{source_file_name(source)}.json"

    def done(self) -> set[str]:
        return _keys(read_json(self.path, self.root))

    def mark(self, key: str) -> None:
        def change(data: dict[str, Any]) -> None:
            data["done"] = sorted({*_keys(data), key})

        update_json(self.path, change, self.root)

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _keys(data: dict[str, Any]) -> set[str]:
    done = data.get("done")
    return {key for key in done if isinstance(key, str)} if isinstance(done, list) else set()


def backfill(context: RunContext, spec: SourceConfig, source: Source, since: datetime,
             until: datetime, now: datetime, chunk_size: int, state: BackfillState | None,
             force: bool = False, progress: Callable[[int], None] = lambda done: None
             ) -> BackfillResult:
    """Collect every window in [since, until) chunk by chunk; state=None for a dry run.

    The watermark moves only if the backfilled windows continue it without a gap. Each chunk
    has the source's run timeout; the first chunk that timed out ends the backfill (the
    chunks after it would only wait again): re-running resumes there.
    """
    windows = list(windows_between(since, until, spec.granularity, context.config.timezone))
    # Windows not over yet would be incomplete: a backfill is for the past.
    windows = [w for w in windows if w.end <= until]
    done = set() if force or state is None else state.done()
    result = BackfillResult(RunRecord(spec.name))
    # Every chunk to do is read together (a batched source asks once for many windows);
    # each is still written, and marked done, on its own.
    todo = [w for chunk in chunks(windows, chunk_size) if chunk_key(chunk) not in done
            for w in chunk]
    opened = iter(window_readings(source, todo, source_options(source, spec)))
    for chunk in chunks(windows, chunk_size):
        key = chunk_key(chunk)
        if result.record.state_error:
            break  # the state directory takes no write: the rest waits for a re-run
        if result.record.timed_out:
            result.failed.append(key)
        elif key in done:
            result.skipped += 1
        else:
            readings = list(islice(opened, len(chunk)))
            part = collect_chunk(context, spec, source, chunk, now, readings)
            merge(result.record, part)
            said_once(spec.name, part)
            if part.timed_out:
                result.record.errors.insert(0, f"{part.errors[0]} (chunk {key}): the chunks "
                                            "after it were not begun; re-run to resume")
            if part.errors or part.spooled:
                result.failed.append(key)
            elif state is not None:
                state.mark(key)
            result.chunks += 1
        progress(len(chunk))
    say_refusals(context, result.record)
    return result


def collect_chunk(context: RunContext, spec: SourceConfig, source: Source,
                  chunk: Sequence[Window], now: datetime,
                  readings: Sequence[Iterable[Reading]] | None = None) -> RunRecord:
    """One sink for the whole chunk: batches span windows, so InfluxDB is kept busy."""
    run = Run(name=spec.name, source=source, options=source_options(source, spec),
              granularity=spec.granularity.value,
              encoder=Encoder(context.config.influx.precision),
              sink=context.sink_for(spec.name), dead_letter=context.dead_letter,
              on_collision=spec.on_collision,
              deadline=Deadline(run_timeout(context, spec, now)))
    record = collect(run, chunk, readings)
    if context.watermarks is not None and not (record.errors or record.spooled):
        mark = context.watermarks.get(spec.name)
        floor = default_windows(now, spec.granularity, context.config.timezone)[0].start
        for window in chunk:
            if window.end <= now and extends(mark, window, floor):
                mark = window.end
        if mark is not None:
            context.watermarks.set(spec.name, mark)
    return record
