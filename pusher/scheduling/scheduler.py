"""`pusher run`: run each source on its schedule, each run in its own process with a timeout.

The loop is driven by an injected clock and sleep, so tests run hours of schedule in
milliseconds. A run is a child process (`python -m pusher collect NAME --timeout T`): it
stops its source at T and records that itself; a child still running at T plus
`[pusher] timeout_grace` (a source stuck where it cannot be stopped, a push that outlasts
the grace) is killed, which a thread cannot be, and its memory goes back to the system.
Catching up after downtime needs nothing here: every run starts from its watermark.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from pusher.config import Config, SourceConfig
from pusher.schedules import Schedule, jittered, parse_schedule

log = logging.getLogger(__name__)
MAX_SLEEP = 5.0  # seconds: how often the loop wakes to beat, flush and look at its runs
HEARTBEAT = "heartbeat"
EXIT_TIMED_OUT = -9


class Handle(Protocol):
    """A run in progress."""

    def poll(self) -> int | None: ...

    def kill(self) -> None: ...


Launcher = Callable[[SourceConfig, float], Handle]  # (source, its timeout in seconds)


@dataclass
class Job:
    spec: SourceConfig
    schedule: Schedule
    timeout: float  # seconds: the run's own; it is killed `grace` seconds later
    due: datetime
    handle: Handle | None = None
    started: datetime | None = None
    runs: int = 0
    grace: float = 0.0

    @property
    def kill_after(self) -> float:
        return self.timeout + self.grace


@dataclass
class Finished:
    """What the loop saw of one run: the source, its exit code, how long it ran."""

    name: str
    code: int
    seconds: float
    timed_out: bool = False


@dataclass
class Scheduler:
    config: Config
    launch: Launcher
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    random: Callable[[], float]
    on_loop: Callable[[], None] = lambda: None
    on_finished: Callable[[Finished], None] = lambda finished: None
    names: Sequence[str] | None = None
    jobs: dict[str, Job] = field(default_factory=dict)
    stopping: bool = False
    hurry: bool = False  # a second signal: do not wait for the runs in flight

    def __post_init__(self) -> None:
        now = self.clock()
        for name, spec in self.config.sources.items():
            if not spec.enabled or (self.names is not None and name not in self.names):
                continue
            schedule = parse_schedule(spec.schedule, spec.granularity)
            timeout = schedule.run_timeout(spec.timeout, self.config.timezone, now)
            # Every source runs once at start-up: that is when a restart catches up.
            self.jobs[name] = Job(spec, schedule, timeout, due=now,
                                  grace=self.config.timeout_grace)

    def stop(self, *_: object) -> None:
        """Ask the loop to end once the runs in flight are done; asked twice, kill them."""
        self.hurry = self.stopping
        self.stopping = True
        if self.hurry:
            log.warning("stopping now: killing the runs in flight")

    def step(self) -> float:
        """Reap and time out runs, start the due ones; seconds until something is due."""
        now = self.clock()
        for job in self.jobs.values():
            self._watch(job, now)
            if not self.stopping and now >= job.due:
                self._start(job, now)
        waits = [(job.due - now).total_seconds() for job in self.jobs.values()]
        waits += [(job.started - now).total_seconds() + job.kill_after
                  for job in self.jobs.values() if job.started is not None]
        return max(0.0, min(waits, default=MAX_SLEEP))

    def run(self, until: Callable[[], bool] = lambda: False) -> None:
        """Loop until stop() (or `until()`), then let the runs in flight finish."""
        while not (self.stopping or until()):
            self.on_loop()
            wait = self.step()
            if not self.stopping:
                self.sleep(min(max(wait, 0.01), MAX_SLEEP))
        self.drain()

    def drain(self) -> None:
        """Wait for the runs in flight, each at most until its timeout and grace."""
        while running := [job for job in self.jobs.values() if job.handle is not None]:
            now = self.clock()
            for job in running:
                if self.hurry and job.handle is not None:
                    job.handle.kill()
                self._watch(job, now)
            self.sleep(0.1)

    def _start(self, job: Job, now: datetime) -> None:
        upcoming = job.schedule.next_after(now, self.config.timezone)
        job.due = jittered(upcoming, job.spec.jitter, self.random())
        if job.handle is not None:
            log.warning("%s: still running since %s, skipping this turn", job.spec.name,
                        job.started)
            return
        log.info("%s: starting (next at %s)", job.spec.name, job.due.isoformat())
        try:
            job.handle = self.launch(job.spec, job.timeout)
        except OSError as exc:
            log.error("%s: cannot start a run: %s", job.spec.name, exc)
            self.on_finished(Finished(job.spec.name, 1, 0.0))
            return
        job.started = now
        job.runs += 1

    def _watch(self, job: Job, now: datetime) -> None:
        if job.handle is None or job.started is None:
            return
        seconds = (now - job.started).total_seconds()
        code = job.handle.poll()
        timed_out = code is None and seconds >= job.kill_after
        if timed_out:
            log.error("%s: still running %.0fs after its timeout (%.0fs), killed",
                      job.spec.name, seconds - job.timeout, job.timeout)
            job.handle.kill()
            code = EXIT_TIMED_OUT
        if code is None:
            return
        job.handle, job.started = None, None
        self.on_finished(Finished(job.spec.name, code, seconds, timed_out))


class ChildRun:
    """A `pusher collect NAME --timeout T` child in its own process group (Ctrl-C goes to us
    only)."""

    def __init__(self, config_path: Path, name: str, verbose: int = 0,
                 timeout: float | None = None):
        command = [sys.executable, "-m", "pusher", "--config", str(config_path)]
        command += ["-v"] * verbose + ["collect", name]
        if timeout is not None:
            command += ["--timeout", f"{timeout:g}"]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                        start_new_session=True)

    def poll(self) -> int | None:
        return self.process.poll()

    def kill(self) -> None:
        # The whole group: a source may have started processes of its own.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
