"""Faults injected for real: InfluxDB stopped mid-run, pusher killed -9, a full spool."""

import collections
import random
import re
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ops_helpers import command, count, environment, grid_source, per_time, pusher, write_config
from servers import InfluxDB1, free_port

from pusher.runs.history import Watermarks
from pusher.writers.spool import Spool

HOUR = 3600
GRID_LINE = re.compile(r"^grid,granularity=hourly,k=k\d{4} v=\d+i \d+$")
RUN_LINE = re.compile(r"^pusher_runs,granularity=hourly,source=\w+ status=")


@pytest.fixture(scope="module")
def own_influx(tmp_path_factory):
    """An InfluxDB of our own: these tests stop and start it."""
    with InfluxDB1(tmp_path_factory.mktemp("own-influxdb")) as server:
        yield server


@pytest.fixture
def own_db(own_influx, request):
    own_influx.start()
    name = re.sub(r"\W+", "_", request.node.name)[:40]
    own_influx.create_database(name)
    return name


def wait_for(path: Path, process: subprocess.Popen, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_influxdb_stopped_mid_run_then_every_point_exactly_once(tmp_path, own_influx, own_db):
    gate = tmp_path / "gate"
    gate.mkdir()
    sources = (f'[sources.grid]\ntype = "python"\ncallable = "ops_readers:gated"\n'
               f'gate = "{gate}"\nat = "2026-01-01T03"\n'
               '[sources.other]\ntype = "python"\ncallable = "ops_readers:tick"\n')
    config = write_config(tmp_path, own_influx.url, own_db, sources)
    run = subprocess.Popen(command("collect", "grid", "--since", "2026-01-01T00:00Z",
                                   "--until", "2026-01-01T06:00Z", config=config),
                           env=environment(), stderr=subprocess.PIPE, text=True)
    wait_for(gate / "reached", run)
    own_influx.stop()
    (gate / "go").touch()
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stderr
    assert "windows=6 readings=30 written=15" in stderr and "spooled=15" in stderr
    assert list((tmp_path / "state/spool").glob("*.lp"))

    own_influx.start()
    assert count(own_influx, own_db) == 15
    result = pusher("collect", "other", config=config)  # the next run, of any source
    assert result.returncode == 0, result.stderr
    assert re.search(r"spool replayed written=1[67]\b", result.stderr)  # + its run record
    assert not list((tmp_path / "state/spool").glob("*.lp"))
    start = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    assert per_time(own_influx, own_db) == {start + HOUR * h: 5 for h in range(6)}
    assert count(own_influx, own_db) == 30


def assert_spool_files_whole(spool: Path) -> int:
    """Every spooled batch is complete: whole lines, a final newline, nothing torn."""
    lines = 0
    for path in spool.glob("*.lp"):
        batch = Spool(spool).load(path)  # checks the batch's frame: length and checksum
        assert batch is not None, path
        for line in batch.lines:
            assert GRID_LINE.match(line) or RUN_LINE.match(line), line
            lines += 1
    return lines


# A progress event of a run (pusher -vv): a batch made durable in the spool, or
# acknowledged by InfluxDB and removed from it.
EVENT = re.compile(r"^pusher: DEBUG: grid: (spooled|acknowledged) \d+ points ")
SERIES, BATCH = 500, 100


def kill_at_event(config: Path, event: int) -> tuple[int, list[str]]:
    """Run `collect grid` and SIGKILL it right after its `event`-th progress event; returns
    its exit status (-9 when killed) and the last lines it wrote."""
    process = subprocess.Popen(command("-vv", "collect", "grid", config=config),
                               env=environment(), stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    seen, tail = 0, collections.deque(maxlen=15)
    for line in process.stderr:
        tail.append(line.rstrip())
        seen += bool(EVENT.match(line))
        if seen == event:
            process.kill()
            break
    process.communicate(timeout=120)
    return process.returncode, list(tail)


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path, own_influx, own_db):
    config = write_config(tmp_path, own_influx.url, own_db,
                          grid_source(series=SERIES, extra="catchup_max = 200"),
                          extra=f"batch_size = {BATCH}")
    state = tmp_path / "state"
    first = int(datetime.now(UTC).timestamp()) // HOUR * HOUR - 80 * HOUR
    Watermarks(state).set("grid", datetime.fromtimestamp(first, UTC))
    rng = random.Random(20261128)
    for attempt in range(10):
        mark = Watermarks(state).get("grid")
        assert mark is not None
        # The events this run will at least have: a spooled and an acknowledged one per
        # batch of every window from the watermark to the current one. Kill at one of them.
        windows = (int(datetime.now(UTC).timestamp()) - int(mark.timestamp())) // HOUR + 1
        event = rng.randint(1, 2 * windows * SERIES // BATCH)
        code, tail = kill_at_event(config, event)
        assert code == -signal.SIGKILL, (attempt, event, "\n".join(tail))
        assert_spool_files_whole(state / "spool")
        # Whatever the watermark covers is in InfluxDB, whole, even before any flush.
        mark = Watermarks(state).get("grid")
        done = per_time(own_influx, own_db)
        assert all(done.get(t) == SERIES
                   for t in range(first, int(mark.timestamp()) if mark else first, HOUR))
    # Taken before the run: one across the top of an hour collects the new hour as well.
    last = int(datetime.now(UTC).timestamp()) // HOUR * HOUR
    result = pusher("collect", "grid", config=config)
    assert result.returncode == 0, result.stderr
    assert not list((state / "spool").glob("*.lp"))
    done = per_time(own_influx, own_db)
    assert set(done) >= set(range(first, last, HOUR))
    assert all(n == SERIES for n in done.values())
    assert count(own_influx, own_db) == SERIES * len(done)


def test_a_full_spool_is_a_clear_error_and_exit_1(tmp_path):
    down = f"http://127.0.0.1:{free_port()}"
    config = write_config(tmp_path, down, "nowhere", grid_source(series=40),
                          pusher_extra="spool_max_mb = 0.004")
    result = pusher("collect", "grid", "--since", "2026-01-01T00:00Z", "--until",
                    "2026-01-01T06:00Z", config=config)
    assert result.returncode == 1
    assert "is full" in result.stderr and "spool_max_mb" in result.stderr
    spool = tmp_path / "state" / "spool"
    assert sum(p.stat().st_size for p in spool.glob("*.lp")) <= 0.004 * 2**20
    assert assert_spool_files_whole(spool) > 0


def test_two_flushers_at_once_lose_nothing(tmp_path, own_influx, own_db):
    down = write_config(tmp_path, f"http://127.0.0.1:{free_port()}", own_db,
                        grid_source(series=20))
    result = pusher("collect", "grid", "--since", "2026-01-01T00:00Z", "--until",
                    "2026-01-03T00:00Z", config=down)
    assert result.returncode == 1 and "spooled=960" in result.stderr
    up = write_config(tmp_path, own_influx.url, own_db, grid_source(series=20))
    flushers = [subprocess.Popen(command("spool", "flush", config=up), env=environment(),
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [f.communicate(timeout=120)[1] for f in flushers]
    assert [f.returncode for f in flushers] == [0, 0], outputs
    written = [int(re.search(r"written=(\d+)", o).group(1)) for o in outputs]
    assert sum(written) == 960 + 1  # every point once, plus the failed run's record
    assert count(own_influx, own_db) == 960


def status_of(config: Path) -> dict[str, list[str]]:
    result = pusher("status", config=config)
    assert result.returncode == 0, result.stderr
    return {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]
            if line.startswith("grid ")}


@pytest.mark.slow
def test_pusher_run_rides_out_an_influxdb_outage(tmp_path, own_influx, own_db):
    sources = grid_source(series=3, extra='schedule = "every 1s"')
    config = write_config(tmp_path, own_influx.url, own_db, sources)
    state = tmp_path / "state"
    process = subprocess.Popen(command("run", config=config), env=environment(),
                               stderr=subprocess.DEVNULL)
    try:
        poll(lambda: status_of(config).get("grid", [""] * 6)[5] == "done", "a first run")
        own_influx.stop()
        # Meanwhile `pusher status` shows the failure and the backlog in the spool.
        poll(lambda: status_of(config)["grid"][5] == "failed", "a failed run")
        poll(lambda: int(status_of(config)["grid"][-1]) > 0, "points in the spool")
        own_influx.start()
        poll(lambda: status_of(config)["grid"][5] == "done"
             and status_of(config)["grid"][-1] == "0", "the spool to drain")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    hours = per_time(own_influx, own_db)
    assert 2 <= len(hours) <= 3 and all(n == 3 for n in hours.values())
    assert count(own_influx, own_db) == 3 * len(hours)
    assert not list((state / "spool").glob("*.lp"))


def poll(predicate, what: str, limit: float = 300.0) -> None:
    # A bound for a hang only: each predicate runs `pusher status` (a process), and on a
    # loaded machine a run's retries took longer than a 90 s bound.
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def test_a_batch_keeps_its_lines_whose_strings_hold_unicode_line_separators(tmp_path):
    # str.splitlines also cuts at \x1c, \x85 and U+2028: inside a string field they are data,
    # and the batch read back must have the lines (and the count) it was spooled with.
    lines = ['m,granularity=hourly s="a\x85b\u2028c\x1cd" 1', 'm,granularity=hourly v=1i 2']
    spool = Spool(tmp_path / "spool")
    spool.put("src", lines)
    [batch] = list(Spool(tmp_path / "spool").pending())
    assert (batch.lines, batch.count) == (lines, 2)
    assert batch.body == ("\n".join(lines) + "\n").encode()


def test_every_run_during_an_outage_fails_with_its_reason(tmp_path):
    """Found by the outage test on a loaded machine: once the spool held batches, each run's
    replay found InfluxDB down first, its own points were spooled without a try, and the run
    said `partial` with no reason (only the first run of an outage said `failed`)."""
    down = f"http://127.0.0.1:{free_port()}"
    config = write_config(tmp_path, down, "nowhere", grid_source(series=3))
    for day in ("01", "02"):  # the second run's replay meets the first run's batches
        result = pusher("collect", "grid", "--since", f"2026-01-{day}T00:00Z", "--until",
                        f"2026-01-{day}T01:00Z", config=config)
        assert result.returncode == 1
        [line] = [line for line in result.stderr.splitlines() if line.startswith("- grid ")]
        assert "spooled=3 [failed: " in line and down in line, result.stderr
        assert "failed" in status_of(config)["grid"]  # the STATUS column
    # The replay said what it could not deliver: the first run's points and run record.
    assert "- spool replayed written=0 refused=0 left=4" in result.stderr, result.stderr
