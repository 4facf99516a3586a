"""A spooled batch's way to InfluxDB: ack, refusal, a failure remembered, isolation when stuck.

A batch that InfluxDB answers with an error that may be about its content (a 500: InfluxDB
2.0.x answers so to points beyond the retention period) remembers the attempt and is passed
over: the batches after it are still posted. Once it has failed `max_attempts` times, or
for `max_age` seconds, it is split: what InfluxDB takes is acknowledged, and each line it
still refuses goes to the dead-letter file with the server's last answer. A server that
fails everything (unreachable, auth, not InfluxDB, two fresh batches in a row) stops the
posting instead, and nothing is split or dead-lettered for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pusher.errors import WriteError
from pusher.excerpt import excerpt, keep_reason
from pusher.secrets import redact
from pusher.writers.counts import ServerHealth, SinkCounts
from pusher.writers.deadletter import DeadLetter, record
from pusher.writers.delivery import Delivery, Outcome
from pusher.writers.spool import Spool, SpooledBatch

__all__ = ["Deliverer", "ServerHealth", "SinkCounts", "StuckLimits", "describe", "flush_spool"]

log = logging.getLogger(__name__)
FAILING_IN_A_ROW = 2  # fresh batches failing one after another: the server is unwell


@dataclass(frozen=True)
class StuckLimits:
    """When a failing batch is split: `[influx] max_attempts` answers or `max_age` seconds."""

    max_attempts: int = 5
    max_age: float = 86400.0

    def reached(self, batch: SpooledBatch, now: float) -> bool:
        if not batch.attempts:
            return False
        return (batch.attempts >= self.max_attempts
                or now - (batch.first_failure or now) >= self.max_age)


def describe(batch: SpooledBatch) -> str:
    """One line for the summary and `pusher status`: which batch, since when, what answered."""
    since = datetime.fromtimestamp(batch.first_failure or 0, UTC).strftime("%Y-%m-%d %H:%M")
    return (f"batch {batch.id} ({batch.count} points of {batch.source}) stuck: "
            f"{batch.attempts} failed attempts since {since} UTC, last answer: "
            f"{batch.last_answer}")


@dataclass
class Deliverer:
    """Posts spooled batches and settles each one: acked, refused lines dead-lettered, or kept."""

    spool: Spool
    delivery: Delivery
    dead_letter: DeadLetter
    health: ServerHealth
    limits: StuckLimits = StuckLimits()
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        # Held while a batch is settled or failed (counts, health, the spool's and the
        # dead-letter file's bookkeeping), not while it is posted: two sinks' writer
        # threads may post at once.
        self.lock = threading.RLock()

    def deliver(self, batch: SpooledBatch, counts: SinkCounts) -> bool:
        """Post one batch; True when it left the spool (acked, refused lines dead-lettered)."""
        fresh = not batch.attempts
        try:  # a batch that failed before is suspect: no retries, the others go first
            outcome = self.delivery.send_body(batch.body, batch.count, batch.granularity,
                                              retries=None if fresh else 0)
        except WriteError as exc:
            with self.lock:
                self._failed(batch, exc, fresh, counts)
            return False
        with self.lock:
            self._settle(batch, outcome, counts)
        return True

    def count_spooled(self, counts: SinkCounts, points: int, reason: str = "") -> None:
        with self.lock:
            counts.spooled += points
            if reason and reason not in counts.errors:
                counts.errors.append(reason)

    def _failed(self, batch: SpooledBatch, exc: WriteError, fresh: bool,
                counts: SinkCounts) -> None:
        if str(exc) not in counts.errors:
            counts.errors.append(str(exc))
        if exc.server_wide:
            self.health.went_down(str(exc))
            log.warning("%s: %d points stay in the spool", exc, batch.count)
            return
        self.spool.failed(batch, str(exc), self.clock())
        self.health.failing += fresh
        if self.health.failing >= FAILING_IN_A_ROW:
            self.health.went_down(str(exc))
        log.warning("%s", describe(batch))
        counts.stuck[batch.id] = describe(batch)

    def _settle(self, batch: SpooledBatch, outcome: Outcome, counts: SinkCounts) -> None:
        refused = outcome.refused or []
        # Dead-letter first, then ack: a crash in between repeats a refusal, never loses one.
        # The line is kept whole (`spool retry` sends it again); the server's reason, which
        # may quote it, is a bounded excerpt.
        self.dead_letter.add_many([record(batch.source, redact(excerpt(reason)), line=line)
                                   for line, reason in refused])
        for _, reason in refused:
            keep_reason(counts.reasons, excerpt(reason))
        if refused:  # a WARNING once per run or replay says the count and first reasons
            log.info("InfluxDB refused %d points of %s: %s", len(refused), batch.source,
                     excerpt(refused[0][1]))
        counts.written += outcome.written
        counts.refused += len(refused)
        self.spool.ack(batch)
        log.debug("%s: acknowledged %d points (%s)", batch.source, batch.count,
                  batch.path.name)
        self.health.acked = self.health.acked or bool(outcome.written)
        self.health.failing = 0

    def isolate(self, batch: SpooledBatch, counts: SinkCounts) -> bool:
        """Split a stuck batch: what InfluxDB takes is acked, what it still refuses is
        dead-lettered with its last answer. Kept whole when nothing shows InfluxDB is well."""
        outcome, failed = Outcome(), list[tuple[str, str]]()
        try:
            self._bisect(batch.lines, batch.granularity, outcome, failed)
        except WriteError as exc:  # the server went away meanwhile
            self._failed(batch, exc, False, counts)
            return False
        if failed and not (outcome.written or self.health.acked):
            self.health.isolating = True
            counts.stuck[batch.id] = describe(batch) + " (kept: InfluxDB accepted nothing yet)"
            return False
        note = f"; after {batch.attempts} failed attempts of its batch"
        outcome += Outcome(refused=[(line, answer + note) for line, answer in failed])
        self._settle(batch, outcome, counts)
        counts.stuck.pop(batch.id, None)
        log.warning("batch %s was stuck: %d points written, %d dead-lettered", batch.id,
                    outcome.written, len(failed))
        return True

    def _bisect(self, lines: list[str], granularity: str, outcome: Outcome,
                failed: list[tuple[str, str]]) -> None:
        try:
            outcome += self.delivery.send(lines, granularity, retries=0)
        except WriteError as exc:
            if exc.server_wide:
                raise
            if len(lines) == 1:
                failed.append((lines[0], str(exc)))
                return
            middle = len(lines) // 2
            self._bisect(lines[:middle], granularity, outcome, failed)
            self._bisect(lines[middle:], granularity, outcome, failed)


def flush_spool(deliverer: Deliverer, source: str | None = None, wait: bool = False
                ) -> SinkCounts:
    """Replay what earlier runs left in the spool, oldest first.

    A batch that fails for what may be its own content is passed over; a server that fails
    everything stops the replay. Stuck batches are split last, once the others had their
    turn (their acknowledgements show InfluxDB is well). Only one process flushes a spool at
    a time; when another one is at it, this is a no-op (or, with `wait`, waits for it).
    """
    counts = SinkCounts()
    spool = deliverer.spool
    with spool.flushing(wait) as ours:
        if not ours:
            log.info("another process is flushing the spool")
            return counts
        # What this replay leaves is what it found and is still there: a batch that another
        # running pusher spools meanwhile is that run's to deliver and to count (parallel
        # Airflow backfills: each run's replay counted the others' batches in flight as left,
        # and exited 1 with its own points all written).
        found = set(spool.paths(source))
        stuck: list[Path] = []
        for batch in spool.pending(source):
            if deliverer.limits.reached(batch, deliverer.clock()):
                stuck.append(batch.path)
            elif not deliverer.deliver(batch, counts) and deliverer.health.down:
                break
            elif deliverer.limits.reached(batch, deliverer.clock()):
                stuck.append(batch.path)
        for path in stuck:
            if deliverer.health.down:
                break
            if (held := spool.load(path)) is not None:
                deliverer.isolate(held, counts)
        left = (spool.load(path) for path in found if path.exists())
        counts.spooled = sum(batch.count for batch in left if batch is not None)
    return counts
