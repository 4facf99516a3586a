"""The scheduler loop on an injected clock, then `pusher run` for real with SIGTERM."""

import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ops_helpers import command, environment, write_config

from pusher.config import parse_config
from pusher.scheduling.scheduler import Finished, Scheduler
from pusher.state import read_json

START = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = START):
        self.now = now
        self.gaps: dict[datetime, timedelta] = {}  # a sleep past this moment lasts longer

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        before = self.now
        self.now += timedelta(seconds=seconds)
        for moment, gap in list(self.gaps.items()):
            if before <= moment < self.now:
                self.now += gap  # the machine was suspended
                del self.gaps[moment]


class FakeRun:
    """A run that ends `seconds` after it started (never, for None), by the fake clock."""

    def __init__(self, clock: FakeClock, seconds: float | None, code: int = 0):
        self.clock, self.code, self.killed = clock, code, False
        self.ends = None if seconds is None else clock() + timedelta(seconds=seconds)

    def poll(self):
        if self.killed:
            return -9
        return self.code if self.ends is not None and self.clock() >= self.ends else None

    def kill(self):
        self.killed = True


def make(sources: str, durations: dict[str, float | None], clock: FakeClock, rand=lambda: 0.0):
    config = parse_config(_toml(sources), {})
    launched: list[tuple[str, datetime]] = []
    finished: list[Finished] = []

    def launch(spec, timeout):
        launched.append((spec.name, clock()))
        return FakeRun(clock, durations[spec.name])

    scheduler = Scheduler(config=config, launch=launch, clock=clock, sleep=clock.sleep,
                          random=rand, on_finished=finished.append)
    return scheduler, launched, finished


def _toml(text: str) -> dict:
    import tomllib

    return tomllib.loads(text)


def times_of(launched, name):
    return [moment for source, moment in launched if source == name]


def test_runs_at_start_then_on_its_schedule():
    clock = FakeClock(START + timedelta(minutes=7))
    scheduler, launched, finished = make(
        '[sources.q]\ntype = "python"\ncallable = "x:y"\nschedule = "every 15m"\n',
        {"q": 30.0}, clock)
    scheduler.run(until=lambda: clock() >= START + timedelta(hours=1))
    assert times_of(launched, "q") == [START + timedelta(minutes=m) for m in (7, 15, 30, 45)]
    assert [f.code for f in finished] == [0, 0, 0, 0]
    assert all(f.seconds == pytest.approx(30, abs=5) for f in finished)


def test_jitter_delays_each_run_within_its_bound():
    clock = FakeClock()
    draws = iter([0.0, 0.5, 0.999, 0.25] * 10)
    scheduler, launched, _ = make(
        '[sources.h]\ntype = "python"\ncallable = "x:y"\nschedule = "@hourly"\njitter = 120\n',
        {"h": 1.0}, clock, rand=lambda: next(draws))
    scheduler.run(until=lambda: clock() >= START + timedelta(hours=4, minutes=30))
    offsets = [(t - t.replace(minute=0, second=0, microsecond=0)).total_seconds()
               for t in times_of(launched, "h")[1:]]
    assert offsets == pytest.approx([0.0, 60.0, 119.88, 30.0], abs=5.01)
    assert all(0 <= o < 125 for o in offsets)


def test_a_gap_gives_one_run_at_once_not_one_per_missed_turn():
    clock = FakeClock()
    clock.gaps[START + timedelta(minutes=30)] = timedelta(hours=5)
    scheduler, launched, _ = make(
        '[sources.h]\ntype = "python"\ncallable = "x:y"\nschedule = "@hourly"\n',
        {"h": 10.0}, clock)
    scheduler.run(until=lambda: clock() >= START + timedelta(hours=7, minutes=30))
    times = times_of(launched, "h")
    # Start, then the first wake-up after the 5-hour gap (the run catches up from its
    # watermark), then back on the hour.
    assert times[0] == START
    assert START + timedelta(hours=5, minutes=30) <= times[1] < START + timedelta(hours=5,
                                                                                 minutes=31)
    assert times[2:] == [START + timedelta(hours=h) for h in (6, 7)]


def test_a_hanging_source_is_killed_after_its_timeout_and_grace_and_blocks_nobody():
    clock = FakeClock()
    sources = ('[sources.stuck]\ntype = "python"\ncallable = "x:y"\nschedule = "@hourly"\n'
               'timeout = 600.0\n'
               '[sources.quick]\ntype = "python"\ncallable = "x:y"\nschedule = "every 1m"\n')
    scheduler, launched, finished = make(sources, {"stuck": None, "quick": 2.0}, clock)
    scheduler.run(until=lambda: clock() >= START + timedelta(minutes=30))
    assert len(times_of(launched, "quick")) == 30
    assert times_of(launched, "stuck") == [START]
    stuck = [f for f in finished if f.name == "stuck"]
    assert len(stuck) == 1 and stuck[0].timed_out and stuck[0].code == -9
    # Its own timeout, then [pusher] timeout_grace (60 s) to record it, then the kill.
    assert stuck[0].seconds == pytest.approx(660, abs=5)
    assert all(f.code == 0 for f in finished if f.name == "quick")


def test_the_child_gets_its_timeout_and_may_end_within_the_grace():
    """Issue 17 §5: the child stops its source at its timeout and records that itself,
    within the grace: the scheduler kills only a child still running after both."""
    clock = FakeClock()
    config = parse_config(_toml('[pusher]\ntimeout_grace = 30\n[sources.s]\ntype = "python"\n'
                                'callable = "x:y"\nschedule = "@hourly"\ntimeout = 100\n'), {})
    given, finished = [], []

    def launch(spec, timeout):
        given.append(timeout)
        return FakeRun(clock, 125.0, code=1)  # timed out at 100 s, recorded, pushed, ended

    scheduler = Scheduler(config=config, launch=launch, clock=clock, sleep=clock.sleep,
                          random=lambda: 0.0, on_finished=finished.append)
    scheduler.run(until=lambda: clock() >= START + timedelta(minutes=5))
    assert given == [100.0]
    assert [(f.code, f.timed_out) for f in finished] == [(1, False)]


def test_a_run_still_going_when_due_again_is_not_started_twice():
    clock = FakeClock()
    scheduler, launched, _ = make(
        '[sources.slow]\ntype = "python"\ncallable = "x:y"\nschedule = "every 1m"\n'
        'timeout = 3600.0\n', {"slow": 150.0}, clock)
    scheduler.run(until=lambda: clock() >= START + timedelta(minutes=10))
    # 0:00 runs until 2:30; 1:00 and 2:00 are skipped; 3:00 starts the next one, and so on.
    assert times_of(launched, "slow") == [START + timedelta(minutes=m) for m in (0, 3, 6, 9)]


def test_stop_lets_the_run_in_flight_finish():
    clock = FakeClock()
    scheduler, _, finished = make(
        '[sources.s]\ntype = "python"\ncallable = "x:y"\n', {"s": 40.0}, clock)
    scheduler.run(until=lambda: clock() >= START + timedelta(seconds=10))
    assert [(f.name, f.code, f.timed_out) for f in finished] == [("s", 0, False)]
    assert clock() >= START + timedelta(seconds=40)


def test_a_second_stop_kills_the_runs_in_flight():
    clock = FakeClock()
    scheduler, _, finished = make(
        '[sources.s]\ntype = "python"\ncallable = "x:y"\ntimeout = 3600.0\n', {"s": None}, clock)
    asked = []

    def until():
        if clock() >= START + timedelta(seconds=10) and len(asked) < 2:
            asked.append(True)
            scheduler.stop()
        return False

    clock_sleep = clock.sleep
    scheduler.sleep = lambda seconds: (until(), clock_sleep(seconds))
    scheduler.run(until=until)
    assert [(f.name, f.code) for f in finished] == [("s", -9)]
    assert clock() < START + timedelta(minutes=1)


# --- the real thing -----------------------------------------------------------------------


def _wait_for(predicate, what: str, limit: float = 60.0):
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def _runs(state: Path) -> dict:
    return read_json(state / "runs.json", state)


def test_pusher_run_for_real(tmp_path, influxdb1, influx_db):
    gate = tmp_path / "gate"
    gate.mkdir()
    sources = ('[sources.quick]\ntype = "python"\ncallable = "ops_readers:grid"\n'
               'schedule = "every 1s"\n'
               '[sources.stuck]\ntype = "python"\ncallable = "ops_readers:hang"\n'
               'timeout = 2.0\n'
               '[sources.slow]\ntype = "python"\ncallable = "ops_readers:slow"\n'
               'timeout = 2.0\n'
               f'[sources.held]\ntype = "python"\ncallable = "ops_readers:held"\n'
               f'gate = "{gate}"\ntimeout = 600.0\n')
    config = write_config(tmp_path, influxdb1.url, influx_db, sources,
                          pusher_extra="timeout_grace = 3")
    state = tmp_path / "state"
    process = subprocess.Popen(command("run", config=config), env=environment(),
                               stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: (gate / "reached").exists(), "the held source to start")
        # While one source is in flight, the other runs on its own schedule, again and again.
        _wait_for(lambda: len(_runs_of(influxdb1, influx_db, "quick")) >= 2,
                  "two runs of the quick source")
        assert "held" not in _runs(state)
        (gate / "go").touch()
        _wait_for(lambda: _runs(state).get("held", {}).get("status") == "done",
                  "the held source to finish")
        _wait_for(lambda: _runs(state).get("stuck", {}).get("status") == "failed",
                  "the hanging source to time out")
        _wait_for(lambda: _runs(state).get("slow", {}).get("status") == "failed",
                  "the slow source to time out")
        assert (state / "heartbeat").exists()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    # Stuck in one call: killed after its timeout and the grace, recorded by the scheduler.
    assert _runs(state)["stuck"]["error"].startswith("timed out (killed) after ")
    # Stopped between readings by its own run, which recorded its timeout itself.
    assert _runs(state)["slow"]["error"].startswith("timed out after 2s (the source's timeout)")
    runs = influxdb1.select('SELECT "status", "ok" FROM "pusher_runs" GROUP BY "source"',
                            db=influx_db)
    assert {r["source"] for r in runs} == {"quick", "stuck", "slow", "held"}
    assert {r["status"] for r in runs if r["source"] == "stuck"} == {"failed"}


def _runs_of(influxdb1, database: str, source: str) -> list[dict]:
    """The successful runs of `source` that InfluxDB has (each run writes one point)."""
    return [r for r in influxdb1.select('SELECT "ok" FROM "pusher_runs" GROUP BY "source"',
                                        db=database) if r["source"] == source and r["ok"] == 1]
