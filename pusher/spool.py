"""A durable on-disk queue of batches waiting for InfluxDB, and the dead-letter file.

Each batch is one file, written to a temporary name, fsynced and renamed into place, so a
process killed at any moment leaves either the whole batch or none of it. A batch file is
removed only after the server acknowledged it; replaying one twice is harmless because
every point carries its window's timestamp.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pusher.errors import PusherError
from pusher.state import fsync_dir, locked

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
_SUFFIX = ".lp"
_STALE_SECONDS = 600


class SpoolFull(PusherError):
    """The spool holds its size cap: refuse more rather than fill the disk."""


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    path: Path
    source: str
    granularity: str = "hourly"

    def lines(self) -> list[str]:
        return self.path.read_text(encoding="utf-8").splitlines()


class Spool:
    def __init__(self, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES):
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._sequence = time.time_ns()
        # Kept up to date by put/ack rather than re-summed on every put.
        self._size = self.size_bytes()

    def put(self, source: str, lines: list[str], granularity: str = "hourly") -> SpooledBatch:
        """Persist a batch before it is posted; raises SpoolFull at the size cap."""
        body = ("\n".join(lines) + "\n").encode()
        if self._size + len(body) > self.max_bytes:
            # Other processes (the scheduler's runs) share the spool: count again first.
            self._size = self.size_bytes()
            if self._size + len(body) > self.max_bytes:
                raise SpoolFull(
                    f"the spool {self.directory} is full ({_size(self._size)} of "
                    f"{_size(self.max_bytes)}): {len(lines)} points were not "
                    "collected; bring InfluxDB back (`pusher spool flush`) or raise "
                    "[pusher] spool_max_mb")
        # Sequence numbers sort by creation, so a flush replays batches in order.
        self._sequence = max(self._sequence + 1, time.time_ns())
        safe = source_file_name(source)
        final = self.directory / (
            f"{self._sequence:020d}-{os.getpid()}-{granularity}-{safe}{_SUFFIX}")
        temporary = final.with_suffix(".tmp")
        with open(temporary, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        fsync_dir(self.directory)
        self._size += len(body)
        return SpooledBatch(final, source, granularity)

    def ack(self, batch: SpooledBatch) -> None:
        """The server has the batch: forget it."""
        try:
            size = batch.path.stat().st_size
            batch.path.unlink()
        except FileNotFoundError:  # another process flushed it first
            return
        self._size = max(0, self._size - size)

    def pending(self, source: str | None = None) -> Iterator[SpooledBatch]:
        """Spooled batches, oldest first; leftovers of an interrupted put are removed."""
        for path in sorted(self.directory.glob(f"*{_SUFFIX}")):
            _sequence, _pid, granularity, name = path.stem.split("-", 3)
            if source is None or name == source_file_name(source):
                yield SpooledBatch(path, name, granularity)
        # A .tmp file is a put that was interrupted (or is under way in another process:
        # hence the age limit); its batch was never posted, its window is re-collected.
        cutoff = time.time() - _STALE_SECONDS
        for stale in self.directory.glob("*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                if stale.stat().st_mtime < cutoff:
                    stale.unlink()

    def flushing(self, wait: bool = False) -> contextlib.AbstractContextManager[bool]:
        """Hold the flush lock; yields False when another process is flushing right now.

        Two flushers would not lose anything (acks tolerate a vanished file) but would post
        the same batches twice; one flusher at a time keeps replays cheap.
        """
        return locked(self.directory / ".flush.lock", blocking=wait)

    def size_bytes(self) -> int:
        total = 0
        for path in self.directory.glob(f"*{_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):  # acked meanwhile elsewhere
                total += path.stat().st_size
        return total

    def count_lines(self) -> int:
        return sum(self.by_source().values())

    def by_source(self) -> dict[str, int]:
        """Lines waiting, per source (file-name-safe source names)."""
        counts: dict[str, int] = {}
        for batch in self.pending():
            with contextlib.suppress(FileNotFoundError):
                counts[batch.source] = counts.get(batch.source, 0) + len(batch.lines())
        return counts


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MiB" if count >= 2**20 else f"{count / 1024:.1f} KiB"


def source_file_name(source: str) -> str:
    # The source name ends the file name: keep it to characters every filesystem takes.
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in source) or "source"


class DeadLetter:
    """Append-only JSON lines of what was refused, each with the reason."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, source: str, reason: str, line: str | None = None,
            reading: str | None = None) -> None:
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "source": source, "reason": reason}
        if line is not None:
            record["line"] = line
        if reading is not None:
            record["reading"] = reading
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def records(self) -> Iterator[dict[str, str]]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)


_GRANULARITY = re.compile(r",granularity=(\w+)[, ]")


def requeue_refused(spool: Spool, dead_letter: DeadLetter) -> int:
    """Move refused lines back into the spool (after their cause was fixed); returns how many.

    Records without a line (readings refused before they became one) stay where they are.
    """
    batches: dict[tuple[str, str], list[str]] = {}
    kept = []
    for record in dead_letter.records():
        line = record.get("line")
        if not line:
            kept.append(record)
            continue
        match = _GRANULARITY.search(line)
        key = (record["source"], match.group(1) if match else "hourly")
        batches.setdefault(key, []).append(line)
    # Spool first, then rewrite: a crash in between duplicates a record, never loses one.
    for (source, granularity), lines in batches.items():
        spool.put(source, lines, granularity)
    temporary = dead_letter.path.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in kept)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, dead_letter.path)
    return sum(len(lines) for lines in batches.values())
