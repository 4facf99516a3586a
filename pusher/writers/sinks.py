"""Where encoded lines go: stdout for --dry-run, or the spool and then InfluxDB.

Lines wait as bytes, one pending batch per granularity: the point loop (pusher/points/pointloop.py)
appends to `pending(granularity).body` itself and says how many lines it added; `add` takes
one line at a time (the readings the loop hands back, the pusher_runs point). The same bytes
are spooled and posted.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from pusher.writers.counts import ServerHealth, SinkCounts

if TYPE_CHECKING:
    import queue

    from pusher.writers.batches import Deliverer

__all__ = ["Batching", "InfluxSink", "Pending", "ServerHealth", "Sink", "SinkCounts",
           "StdoutSink", "batching"]

log = logging.getLogger(__name__)


class Sink(Protocol):
    def add(self, line: str, granularity: str) -> None: ...

    def close(self) -> SinkCounts: ...


class Pending:
    """The lines of one granularity waiting to be shipped: their bytes (each line ending in
    a newline) and how many. `ordered`: they must land after every earlier batch."""

    __slots__ = ("body", "count", "ordered")

    def __init__(self) -> None:
        self.body = bytearray()
        self.count = 0
        self.ordered = False


class Batching:
    """A sink that keeps lines as bytes and ships them `batch_size` lines at a time."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        # One pending batch per granularity: each goes to its own bucket or retention policy.
        self.buffers: dict[str, Pending] = {}

    def pending(self, granularity: str) -> Pending:
        found = self.buffers.get(granularity)
        if found is None:
            found = self.buffers[granularity] = Pending()
        return found

    def add(self, line: str, granularity: str) -> None:
        """One line (the encoder refuses what UTF-8 cannot encode)."""
        pending = self.pending(granularity)
        pending.body += line.encode()
        pending.body += b"\n"
        self.added(granularity, 1)

    def added(self, granularity: str, count: int) -> None:
        """`count` lines were appended to pending(granularity).body; ships a full batch."""
        pending = self.buffers[granularity]
        pending.count += count
        if pending.count >= self.batch_size:
            del self.buffers[granularity]
            self.ship(granularity, pending, final=False)

    def flush(self) -> None:
        """Ship every pending line."""
        while self.buffers:
            granularity, pending = self.buffers.popitem()
            if pending.count:
                self.ship(granularity, pending, final=True)

    def ship(self, granularity: str, pending: Pending, final: bool) -> None:
        raise NotImplementedError

    def close(self) -> SinkCounts:
        raise NotImplementedError


class StdoutSink(Batching):
    """--dry-run: one point per line on stdout and nothing else."""

    BATCH = 1000

    def __init__(self, stream: TextIO):
        super().__init__(self.BATCH)
        self.stream = stream
        # Bytes go straight to the binary stream beneath, when there is one.
        self.binary = getattr(stream, "buffer", None)
        self.counts = SinkCounts()

    def ship(self, granularity: str, pending: Pending, final: bool) -> None:
        if self.binary is not None:
            self.stream.flush()  # whatever was written as text comes first
            self.binary.write(pending.body)
        else:
            self.stream.write(pending.body.decode())
        self.counts.written += pending.count

    def close(self) -> SinkCounts:
        self.flush()
        self.stream.flush()
        if self.binary is not None:
            self.binary.flush()
        return self.counts


class _Lines(Batching):
    """Any object with add(line, granularity) and close(), fed line by line."""

    def __init__(self, sink: Sink):
        super().__init__(StdoutSink.BATCH)
        self.sink = sink

    def ship(self, granularity: str, pending: Pending, final: bool) -> None:
        for line in pending.body.decode().split("\n")[:-1]:
            self.sink.add(line, granularity)

    def close(self) -> SinkCounts:
        self.flush()
        return self.sink.close()


def batching(sink: Sink) -> Batching:
    """`sink` itself, or a Batching that hands its lines to `sink` one by one."""
    return sink if isinstance(sink, Batching) else _Lines(sink)


class _Job:
    __slots__ = ("body", "count", "granularity", "number", "ordered", "sequence")

    def __init__(self, pending: Pending, granularity: str, number: int, sequence: int):
        self.body, self.count = bytes(pending.body), pending.count
        self.granularity, self.number, self.ordered = granularity, number, pending.ordered
        self.sequence = sequence


class InfluxSink(Batching):
    """Batches lines, spools each batch durably, then delivers it; a dead server stops posting.

    Writer threads spool and post full batches while the caller encodes the next ones, so
    InfluxDB is kept busy: one thread, then POSTERS once InfluxDB acknowledged a batch of
    this invocation (a server that is down sees one attempt, not one per thread). A queue of
    QUEUE_DEPTH batches bounds the memory. Each batch is spooled (under a sequence number
    taken in the order the batches were made, so a replay keeps that order) before it is
    posted and acked after; two batches may be in flight at once, and a batch marked
    `ordered` (it replaces earlier lines of the run) is posted only once every batch before
    it was answered. A run whose points fit in one batch never starts a thread.
    """

    QUEUE_DEPTH = 2
    POSTERS = 2

    def __init__(self, source: str, deliverer: Deliverer, batch_size: int):
        super().__init__(batch_size)
        self.source = source
        self.deliverer = deliverer
        self.spool = deliverer.spool
        self.counts = SinkCounts()
        self.health = deliverer.health
        self._queue: queue.Queue[_Job | None] | None = None
        self._threads: list[threading.Thread] = []
        self._made = 0  # batches made, numbered from 0
        # Batches done with (answered, spooled or failed), for the `ordered` ones: every one
        # numbered below `_done_below`, and those in `_done` above it.
        self._done_below = 0
        self._done: set[int] = set()
        self._turn = threading.Condition()
        # The writer threads' failure (appended there, raised once here); it stops the writes.
        self._failures: list[Exception] = []
        self._reported = False

    def close(self) -> SinkCounts:
        try:
            self.flush()
        finally:
            self._stop()
        self._raise_failure()
        return self.counts

    def ship(self, granularity: str, pending: Pending, final: bool) -> None:
        self._raise_failure()
        job = _Job(pending, granularity, self._made, self.spool.next_sequence())
        self._made += 1
        if self._queue is None and final:
            try:
                self._write(job)
            finally:
                self._finished(job.number)
            return
        if self._queue is None:
            import queue

            self._queue = queue.Queue(self.QUEUE_DEPTH)
            self._start()
        elif len(self._threads) < self.POSTERS and self.health.acked:
            self._start()
        self._queue.put(job)

    def _start(self) -> None:
        thread = threading.Thread(target=self._work, daemon=True,
                                  name=f"pusher-write-{self.source}-{len(self._threads)}")
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        assert self._queue is not None
        while (job := self._queue.get()) is not None:
            try:
                if self._failures:
                    continue  # not spooled, not posted: the run reports the failure and the
                    # window is collected again, as when the caller's own put failed
                if job.ordered:
                    with self._turn:
                        self._turn.wait_for(lambda: self._done_below >= job.number)
                self._write(job)
            except Exception as exc:  # the spool is full or its disk failed: tell the caller
                self._failures.append(exc)
            finally:
                self._finished(job.number)

    def _finished(self, number: int) -> None:
        with self._turn:
            self._done.add(number)
            while self._done_below in self._done:
                self._done.remove(self._done_below)
                self._done_below += 1
            self._turn.notify_all()

    def _stop(self) -> None:
        if self._queue is not None:
            for _ in self._threads:
                self._queue.put(None)
            for thread in self._threads:
                thread.join()
        self._queue, self._threads = None, []

    def _raise_failure(self) -> None:
        if self._failures and not self._reported:
            self._reported = True
            raise self._failures[0]

    def _write(self, job: _Job) -> None:
        batch = self.spool.put_body(self.source, job.body, job.count, job.granularity,
                                    job.sequence)
        log.debug("%s: spooled %d points (%s)", self.source, job.count, batch.path.name)
        deliverer = self.deliverer
        if self.health.down:
            # Not tried: InfluxDB failed a whole delivery earlier in this invocation (often
            # the spool's replay). The run fails with that reason, as if it had tried.
            deliverer.count_spooled(self.counts, job.count, self.health.reason)
            return
        if deliverer.deliver(batch, self.counts):
            return
        with deliverer.lock:
            # Failed for what may be its own content, at its limit, and InfluxDB is well:
            # split it.
            if deliverer.limits.reached(batch, deliverer.clock()) and not self.health.down:
                if self.health.acked and deliverer.isolate(batch, self.counts):
                    return
                self.health.isolating = True  # split once InfluxDB has taken something
            self.counts.spooled += job.count


def __getattr__(name: str) -> Any:
    # flush_spool lives with delivery; importing it here would load delivery in dry runs.
    if name == "flush_spool":
        from pusher.writers.batches import flush_spool

        return flush_spool
    raise AttributeError(name)
