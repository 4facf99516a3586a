"""Wiring `pusher run`: the scheduler with real processes, heartbeat, spool flushes, signals."""

from __future__ import annotations

import logging
import random
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pusher.config import Config
from pusher.errors import PusherError
from pusher.runs.catchup import log_run
from pusher.runs.collect import Outputs, run_context
from pusher.runs.pipeline import RunRecord
from pusher.scheduling.scheduler import HEARTBEAT, ChildRun, Finished, Scheduler
from pusher.state import StateError, touch
from pusher.writers.delivery import RetryPolicy

log = logging.getLogger(__name__)
FLUSH_EVERY = 30.0  # seconds between the loop's own spool flushes
EXIT_CODES = {2: "configuration error (see its log)", -9: "killed"}


class Daemon:
    """The long-running process: beats, flushes the spool now and then, logs failed runs."""

    def __init__(self, config: Config, names: Sequence[str] | None = None, verbose: int = 0):
        assert config.path is not None, "pusher run needs a config file for its runs"
        self.config = config
        self.config_path: Path = config.path
        # No retries in the loop: a down InfluxDB must not stall the schedule.
        self.outputs = Outputs(config, False, sys.stdout, RetryPolicy(retries=0))
        self.context = run_context(config, self.outputs)
        self.verbose = verbose
        self.last_flush = 0.0
        self.scheduler = Scheduler(
            config=config,
            launch=lambda spec, timeout: ChildRun(self.config_path, spec.name, verbose, timeout),
            clock=lambda: datetime.now(UTC), sleep=time.sleep, random=random.random,
            on_loop=self.beat, on_finished=self.finished, names=names)

    def serve(self) -> None:
        """Run until SIGTERM or SIGINT, then let the runs in flight finish."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self.scheduler.stop)
        names = ", ".join(self.scheduler.jobs) or "none"
        log.info("pusher run: scheduling %s", names)
        try:
            self.scheduler.run()
        finally:
            self.flush()
            self.outputs.close()
        log.info("pusher run: stopped")

    def beat(self) -> None:
        try:
            touch(self.config.state_dir / HEARTBEAT, self.config.state_dir)
        except StateError as exc:  # said, and the loop goes on: runs may still work
            log.error("%s", exc)
        if time.monotonic() - self.last_flush >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        spool = self.outputs.spool
        if spool is None or next(spool.paths(), None) is None:
            return
        try:
            counts = self.outputs.flush()
        except PusherError as exc:  # a state directory that takes no writes: said, loop on
            log.error("spool flush: %s", exc)
            return
        finally:
            self.outputs.health.retry()  # each flush tries afresh
        if counts.written:
            log.warning("spool: replayed %d points", counts.written)

    def finished(self, done: Finished) -> None:
        """Runs that ended normally logged themselves; record the ones that could not."""
        if done.code in (0, 1):
            return
        reason = "timed out (killed)" if done.timed_out else EXIT_CODES.get(
            done.code, f"exit code {done.code}")
        record = RunRecord(done.name, duration=done.seconds, timed_out=done.timed_out,
                           errors=[f"{reason} after {done.seconds:.0f}s"])
        spec = self.config.sources[done.name]
        now = datetime.now(UTC)
        assert self.context.history is not None and self.context.watermarks is not None
        try:
            now = self.context.history.record(record, now)
        except StateError as exc:
            log.error("%s: %s", done.name, exc)
        log_run(self.context, spec, record, self.context.watermarks.get(done.name), now)
        self.outputs.health.retry()
