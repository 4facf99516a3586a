"""Where encoded lines go: stdout for --dry-run, or the spool and then InfluxDB."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Protocol, TextIO

from pusher.batches import Deliverer, ServerHealth, SinkCounts, flush_spool

__all__ = ["InfluxSink", "ServerHealth", "Sink", "SinkCounts", "StdoutSink", "flush_spool"]

log = logging.getLogger(__name__)


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


class InfluxSink:
    """Batches lines, spools each batch durably, then delivers it; a dead server stops posting.

    One writer thread spools and posts full batches while the caller encodes the next ones,
    so InfluxDB is kept busy; a queue of QUEUE_DEPTH batches bounds the memory. Batches keep
    their order and each is spooled before it is posted and acked after. A run whose points
    fit in one batch never starts the thread.
    """

    QUEUE_DEPTH = 2

    def __init__(self, source: str, deliverer: Deliverer, batch_size: int):
        self.source = source
        self.deliverer = deliverer
        self.spool = deliverer.spool
        self.batch_size = batch_size
        # One buffer per granularity: each goes to its own bucket or retention policy.
        self.buffers: dict[str, list[str]] = {}
        self.counts = SinkCounts()
        self.health = deliverer.health
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
        log.debug("%s: spooled %d points (%s)", self.source, len(lines), batch.path.name)
        if self.health.down:
            self.counts.spooled += len(lines)
            return
        deliverer = self.deliverer
        if deliverer.deliver(batch, self.counts):
            return
        # Failed for what may be its own content, at its limit, and InfluxDB is well: split it.
        if deliverer.limits.reached(batch, deliverer.clock()) and not self.health.down:
            if self.health.acked and deliverer.isolate(batch, self.counts):
                return
            self.health.isolating = True  # split once InfluxDB has taken something
        self.counts.spooled += len(lines)
