"""Where encoded lines go: stdout for --dry-run, or the spool and then InfluxDB."""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from pusher.errors import WriteError
from pusher.spool import DeadLetter, Spool, SpooledBatch
from pusher.writers.delivery import Delivery

log = logging.getLogger(__name__)


@dataclass
class SinkCounts:
    written: int = 0
    refused: int = 0
    spooled: int = 0
    errors: list[str] = field(default_factory=list)


class Sink(Protocol):
    def add(self, line: str, granularity: str) -> None: ...

    def close(self) -> SinkCounts: ...


class StdoutSink:
    """--dry-run: one point per line on stdout and nothing else."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.counts = SinkCounts()

    def add(self, line: str, granularity: str) -> None:
        self.stream.write(line + "\n")
        self.counts.written += 1

    def close(self) -> SinkCounts:
        self.stream.flush()
        return self.counts


@dataclass
class ServerHealth:
    """Shared by the sinks of one invocation: once InfluxDB failed a whole delivery, later
    batches go straight to the spool instead of waiting through the retries again."""

    down: bool = False


class InfluxSink:
    """Batches lines, spools each batch durably, then delivers it; a dead server stops posting.

    One writer thread spools and posts full batches while the caller encodes the next ones,
    so InfluxDB is kept busy; a queue of QUEUE_DEPTH batches bounds the memory. Batches keep
    their order and each is spooled before it is posted and acked after. A run whose points
    fit in one batch never starts the thread.
    """

    QUEUE_DEPTH = 2

    def __init__(self, source: str, spool: Spool, delivery: Delivery, dead_letter: DeadLetter,
                 batch_size: int, health: ServerHealth | None = None):
        self.source = source
        self.spool = spool
        self.delivery = delivery
        self.dead_letter = dead_letter
        self.batch_size = batch_size
        # One buffer per granularity: each goes to its own bucket or retention policy.
        self.buffers: dict[str, list[str]] = {}
        self.counts = SinkCounts()
        self.health = health or ServerHealth()
        self._queue: queue.Queue[tuple[list[str], str] | None] | None = None
        self._thread: threading.Thread | None = None
        # The writer thread's failure (appended there, raised once here); it stops the writes.
        self._failures: list[Exception] = []
        self._reported = False

    def add(self, line: str, granularity: str) -> None:
        buffer = self.buffers.get(granularity)
        if buffer is None:
            buffer = self.buffers[granularity] = []
        buffer.append(line)
        if len(buffer) >= self.batch_size:
            self._ship(granularity, background=True)

    def close(self) -> SinkCounts:
        try:
            for granularity, buffer in list(self.buffers.items()):
                if buffer:
                    self._ship(granularity, background=False)
        finally:
            self._stop()
        self._raise_failure()
        return self.counts

    def _ship(self, granularity: str, background: bool) -> None:
        lines, self.buffers[granularity] = self.buffers[granularity], []
        self._raise_failure()
        if self._queue is None:
            if not background:
                self._write(lines, granularity)
                return
            self._queue = queue.Queue(self.QUEUE_DEPTH)
            self._thread = threading.Thread(target=self._work, name=f"pusher-write-{self.source}",
                                            daemon=True)
            self._thread.start()
        self._queue.put((lines, granularity))

    def _work(self) -> None:
        assert self._queue is not None
        while (item := self._queue.get()) is not None:
            if self._failures:
                continue  # not spooled, not posted: the run reports the failure and the
                # window is collected again, as when the caller's own put failed
            try:
                self._write(*item)
            except Exception as exc:  # the spool is full or its disk failed: tell the caller
                self._failures.append(exc)

    def _stop(self) -> None:
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        self._queue = self._thread = None

    def _raise_failure(self) -> None:
        if self._failures and not self._reported:
            self._reported = True
            raise self._failures[0]

    def _write(self, lines: list[str], granularity: str) -> None:
        batch = self.spool.put(self.source, lines, granularity)
        if self.health.down:
            self.counts.spooled += len(lines)
            return
        if not deliver_batch(batch, lines, self.delivery, self.spool, self.dead_letter,
                             self.counts):
            self.counts.spooled += len(lines)
            self.health.down = True


def deliver_batch(batch: SpooledBatch, lines: list[str], delivery: Delivery, spool: Spool,
                  dead_letter: DeadLetter, counts: SinkCounts) -> bool:
    """Post one spooled batch; ack it when the server answered for every line."""
    try:
        outcome = delivery.send(lines, batch.granularity)
    except WriteError as exc:
        counts.errors.append(str(exc))
        log.warning("%s: %d points stay in the spool", exc, len(lines))
        return False
    for line, reason in outcome.refused or ():
        dead_letter.add(batch.source, reason, line=line)
        log.warning("InfluxDB refused a point of %s: %s", batch.source, reason)
    counts.written += outcome.written
    counts.refused += len(outcome.refused or ())
    spool.ack(batch)
    return True


def flush_spool(spool: Spool, delivery: Delivery, dead_letter: DeadLetter,
                source: str | None = None, wait: bool = False) -> SinkCounts:
    """Replay what earlier runs left in the spool, oldest first; stop at the first failure.

    Only one process flushes a spool at a time; when another one is at it, this is a no-op
    (or, with `wait`, waits for it and then sends whatever is left).
    """
    counts = SinkCounts()
    with spool.flushing(wait) as ours:
        if not ours:
            log.info("another process is flushing the spool")
            return counts
        for batch in spool.pending(source):
            try:
                lines = batch.lines()
            except FileNotFoundError:  # flushed meanwhile by another process
                continue
            if not deliver_batch(batch, lines, delivery, spool, dead_letter, counts):
                waiting = spool.by_source()
                counts.spooled = sum(waiting.values()) if source is None else \
                    waiting.get(batch.source, 0)
                break
    return counts
