"""A durable on-disk queue of batches waiting for InfluxDB.

Each batch is one framed file (pusher/state.py): a checksummed frame line, one JSON line of
metadata (source, granularity, line count, failed attempts, the server's last answer), then
the lines. It is written to a temporary name, fsynced and renamed into place, so a process
killed at any moment leaves either the whole batch or none of it; a damaged batch is
quarantined, never posted. A batch file is removed only after the server acknowledged it;
replaying one twice is harmless because every point carries its window's timestamp.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pusher.errors import PusherError
from pusher.points.lineprotocol import split_lines
from pusher.state import (
    Damaged,
    StateError,
    frame,
    locked,
    quarantine,
    read_bytes,
    unframe,
    write_atomic,
)
from pusher.writers.deadletter import DeadLetter, requeue_refused

__all__ = ["DeadLetter", "Spool", "SpoolFull", "SpooledBatch", "requeue_refused",
           "source_file_name"]
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
_SUFFIX = ".lp"
_STALE_SECONDS = 600
_KIND = "batch"
# <sequence>-<pid>-<granularity>-<source as source_file_name>.lp
_NAME = re.compile(r"^(\d{20})-(\d+)-(\w+)-([A-Za-z0-9_%~-]+)$")
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_MAX_NAME = 120


class SpoolFull(PusherError):
    """The spool holds its size cap: refuse more rather than fill the disk."""


@dataclass(slots=True)
class SpooledBatch:
    """One batch as the spool holds it: its lines as the bytes posted (each line ending in a
    newline) and how many; attempts count answers that were not an ack."""

    path: Path
    source: str
    granularity: str
    body: bytes
    count: int
    attempts: int = 0
    first_failure: float | None = None  # epoch seconds of the first failed answer
    last_answer: str | None = None  # the server's last answer, one line

    @property
    def id(self) -> str:
        return self.path.stem

    @property
    def lines(self) -> list[str]:
        """The lines, split at newlines only (U+2028 and the like are data inside a line)."""
        return split_lines(self.body)


def source_file_name(source: str) -> str:
    """A file-name-safe form of a source name, distinct for distinct names (x.y vs x_y).

    Bytes outside [A-Za-z0-9_-] are %XX-escaped; a very long name keeps a prefix and a hash.
    """
    safe = "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in source.encode()) or "%"
    if len(safe) > _MAX_NAME:
        import hashlib

        safe = safe[:_MAX_NAME - 17] + "~" + hashlib.sha256(source.encode()).hexdigest()[:16]
    return safe


class Spool:
    def __init__(self, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES):
        self.directory = directory
        self.root = directory.parent  # the state directory: quarantine/ goes there
        self.max_bytes = max_bytes
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot use the spool {directory}: {exc.strerror or exc}") from None
        self._sequence = time.time_ns()
        # Kept up to date by put/ack rather than re-summed on every put; the lock guards both
        # (a sink's writer threads put and ack at once).
        self._lock = threading.Lock()
        self._size = self.size_bytes()

    def put(self, source: str, lines: list[str], granularity: str = "hourly") -> SpooledBatch:
        """Persist a batch of lines before it is posted; raises SpoolFull at the size cap."""
        body = ("\n".join(lines) + "\n").encode()
        return self.put_body(source, body, len(lines), granularity)

    def next_sequence(self) -> int:
        """A number for a batch's file name: they sort by creation, so a flush replays
        batches in the order they were made (taken when a batch is made, spooled later)."""
        with self._lock:
            self._sequence = max(self._sequence + 1, time.time_ns())
            return self._sequence

    def put_body(self, source: str, body: bytes, count: int, granularity: str = "hourly",
                 sequence: int | None = None) -> SpooledBatch:
        """Persist `count` newline-terminated lines as they will be posted; SpoolFull at the cap."""
        with self._lock:
            if self._size + len(body) > self.max_bytes:
                # Other processes (the scheduler's runs) share the spool: count again first.
                self._size = self.size_bytes()
                if self._size + len(body) > self.max_bytes:
                    raise SpoolFull(
                        f"the spool {self.directory} is full ({_size(self._size)} of "
                        f"{_size(self.max_bytes)}): {count} points were not "
                        "collected; bring InfluxDB back (`pusher spool flush`) or raise "
                        "[pusher] spool_max_mb")
            # Counted now, so that a batch being written by another thread counts too.
            self._size += len(body)
        number = self.next_sequence() if sequence is None else sequence
        path = self.directory / (f"{number:020d}-{os.getpid()}-{granularity}-"
                                 f"{source_file_name(source)}{_SUFFIX}")
        batch = SpooledBatch(path, source, granularity, body, count)
        try:
            write_atomic(path, _encode(batch), self.root)
        except BaseException:
            with self._lock:
                self._size -= len(body)
            raise
        return batch

    def ack(self, batch: SpooledBatch) -> None:
        """The server has the batch: forget it."""
        try:
            size = batch.path.stat().st_size
            batch.path.unlink()
        except FileNotFoundError:  # another process flushed it first
            return
        except OSError as exc:
            raise StateError(f"cannot remove {batch.path}: {exc.strerror or exc}") from None
        with self._lock:
            self._size = max(0, self._size - size)

    def failed(self, batch: SpooledBatch, answer: str, now: float) -> None:
        """Remember a failed answer on the batch itself (attempts, first failure, answer)."""
        batch.attempts += 1
        batch.first_failure = batch.first_failure or now
        batch.last_answer = answer
        if not batch.path.exists():
            return  # acked meanwhile by another flusher: nothing to remember
        write_atomic(batch.path, _encode(batch), self.root)

    def pending(self, source: str | None = None) -> Iterator[SpooledBatch]:
        """Spooled batches, oldest first; damaged ones are quarantined and skipped."""
        for path in self.paths(source):
            batch = self.load(path)
            if batch is not None:
                yield batch

    def paths(self, source: str | None = None) -> Iterator[Path]:
        """Batch files, oldest first; leftovers of an interrupted put are removed."""
        wanted = None if source is None else source_file_name(source)
        for path in sorted(self.directory.glob(f"*{_SUFFIX}")):
            match = _NAME.match(path.stem)
            if match is None:
                quarantine(path, self.root, "not a spool batch name")
            elif wanted is None or match.group(4) == wanted:
                yield path
        # A .tmp file is a put that was interrupted (or is under way in another process:
        # hence the age limit); its batch was never posted, its window is re-collected.
        cutoff = time.time() - _STALE_SECONDS
        for stale in self.directory.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                if stale.stat().st_mtime < cutoff:
                    stale.unlink()

    def load(self, path: Path) -> SpooledBatch | None:
        """The batch in `path`; None when it vanished (acked elsewhere) or is damaged."""
        data = read_bytes(path, self.root)
        if data is None:
            return None
        try:
            return _decode(path, data)
        except Damaged as exc:
            quarantine(path, self.root, str(exc))
            return None

    def find(self, batch_id: str) -> SpooledBatch:
        """The batch whose id is `batch_id` or starts with it (as `pusher spool show` lists)."""
        found = [p for p in self.paths() if p.stem.startswith(batch_id)]
        if len(found) != 1:
            raise PusherError(f"{len(found) or 'no'} spooled batches match {batch_id!r} in "
                              f"{self.directory} (`pusher spool show` lists them)")
        batch = self.load(found[0])
        if batch is None:
            raise PusherError(f"batch {batch_id} is gone (flushed or quarantined meanwhile)")
        return batch

    def flushing(self, wait: bool = False) -> contextlib.AbstractContextManager[bool]:
        """Hold the flush lock; yields False when another process is flushing right now.

        Two flushers would not lose anything (acks tolerate a vanished file) but would post
        the same batches twice; one flusher at a time keeps replays cheap.
        """
        return locked(self.directory / ".flush.lock", blocking=wait, root=self.root)

    def size_bytes(self) -> int:
        total = 0
        for path in self.directory.glob(f"*{_SUFFIX}"):
            with contextlib.suppress(OSError):  # acked meanwhile elsewhere
                total += path.stat().st_size
        return total

    def count_lines(self) -> int:
        return sum(self.by_source().values())

    def by_source(self) -> dict[str, int]:
        """Lines waiting, per source name."""
        counts: dict[str, int] = {}
        for batch in self.pending():
            counts[batch.source] = counts.get(batch.source, 0) + batch.count
        return counts

    def stuck(self) -> list[SpooledBatch]:
        """Batches that InfluxDB answered with an error at least once."""
        return [batch for batch in self.pending() if batch.attempts]


def _encode(batch: SpooledBatch) -> bytes:
    meta = {"source": batch.source, "granularity": batch.granularity, "lines": batch.count,
            "attempts": batch.attempts, "first_failure": batch.first_failure,
            "last_answer": batch.last_answer}
    return frame(_KIND, json.dumps(meta).encode() + b"\n" + batch.body)


def _decode(path: Path, data: bytes) -> SpooledBatch:
    head, _, body = unframe(_KIND, data).partition(b"\n")
    try:
        meta = json.loads(head)
        count = len(split_lines(body))  # and the body is UTF-8
        batch = SpooledBatch(path, str(meta["source"]), str(meta["granularity"]), body, count,
                             int(meta["attempts"]), meta["first_failure"], meta["last_answer"])
    except (ValueError, KeyError, TypeError):
        raise Damaged("its metadata is not readable") from None
    if count != meta["lines"]:
        raise Damaged(f"{count} lines where its metadata says {meta['lines']}")
    return batch


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MiB" if count >= 2**20 else f"{count / 1024:.1f} KiB"
