"""A real Prometheus holding real history: OpenMetrics text made into TSDB blocks by promtool.

promtool 2.42 (Debian's prometheus package) makes one 2-hour block per pass over its whole
input file, so the history is written as one file per day: twelve passes over a day's
samples each, instead of one pass over everything per block (90 days x 50 series at
5 minutes: 14 minutes as one file). The benchmarks build their 90 days with it too.
"""

import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from servers import Prometheus, ServerError, find_binary

DAY = 86_400


@dataclass(frozen=True)
class History:
    """Series over [start, start + days): counters, gauges and, if `quirks`, the hard cases.

    The quirks: a counter that starts on day 2, one that stops after day 7, one reset to 0
    half-way, and two `conflict` gauges whose labels differ only by `source`, the second
    present on day 5 only (dropping `source` makes their labels collide on that day alone).
    """

    start: datetime
    days: int
    resolution: int = 900  # seconds between samples
    counters: int = 10  # shop_orders_total{shop, status}
    gauges: int = 8  # queue_depth{queue}
    quirks: bool = True
    seed: int = 13

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def series(self) -> int:
        return self.counters + self.gauges + (2 if self.quirks else 0)


def small_history() -> History:
    """The tests' 12 days (20 series at 15 minutes) around the 2024 EU change to summer time."""
    return History(start=datetime(2024, 3, 25, tzinfo=UTC), days=12)


def openmetrics_day(history: History, day: int) -> str:
    """One day of every series as OpenMetrics text (families contiguous, times ascending)."""
    begin = int(history.start.timestamp()) + day * DAY
    stamps = range(begin, begin + DAY, history.resolution)
    lines = ["# TYPE shop_orders counter"]
    for number in range(history.counters):
        labels = f'shop="s{number // 2}",status="{("paid", "refunded")[number % 2]}"'
        for stamp, value in _counter(history, number, stamps):
            lines.append(f"shop_orders_total{{{labels}}} {value} {stamp}")
    lines.append("# TYPE queue_depth gauge")
    for number in range(history.gauges):
        rng = random.Random(f"{history.seed}-gauge-{number}-{day}")
        lines += [f'queue_depth{{queue="q{number}"}} {rng.randint(0, 4000) / 8} {stamp}'
                  for stamp in stamps]
    if history.quirks:
        lines.append("# TYPE conflict gauge")
        lines += [f'conflict{{source="a"}} {(stamp // 60) % 97} {stamp}' for stamp in stamps]
        if day == 5:
            lines += [f'conflict{{source="b"}} 1 {stamp}' for stamp in stamps]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _counter(history: History, number: int, stamps: range) -> Iterator[tuple[int, int]]:
    # A counter is a function of the time alone, so days can be written independently.
    origin = int(history.start.timestamp())
    quirk = number % 5 if history.quirks else None
    for stamp in stamps:
        day = (stamp - origin) // DAY
        if (quirk == 1 and day < 2) or (quirk == 2 and day > 7):
            continue
        steps = (stamp - origin) // history.resolution
        if quirk == 3 and day >= history.days // 2:
            steps -= (history.days // 2) * DAY // history.resolution  # reset half-way
        # Rises by 1 to 2 x (7 + number) per sample: never falls, except at the reset.
        yield stamp, steps * (7 + number) + (steps * steps) % (7 + number)


def build_blocks(history: History, data_dir: Path, work_dir: Path) -> float:
    """Write the history into `data_dir` as TSDB blocks; returns the seconds it took."""
    promtool = find_binary("promtool", "PUSHER_TEST_PROMTOOL", "prometheus")
    started = time.perf_counter()
    work_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    for day in range(history.days):
        text = work_dir / f"day-{day:03d}.om.txt"
        text.write_text(openmetrics_day(history, day))
        done = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics",
                               "--quiet", str(text), str(data_dir)],
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise ServerError(f"promtool failed on {text}: {done.stdout}{done.stderr}")
        text.unlink()
    return time.perf_counter() - started


def copy_blocks(source_dir: Path, data_dir: Path) -> None:
    """Copy the TSDB blocks (not the WAL or the lock) of one data directory into another."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for block in source_dir.iterdir():
        if (block / "meta.json").exists():
            shutil.copytree(block, data_dir / block.name)


class PrometheusHistory(Prometheus):
    """Prometheus over a history built once into its data directory, kept for 100 years.

    `blocks_from`: another history server's data directory to copy the blocks of, instead of
    building them again. `extra_flags` go to the server as they are (--query.max-samples=N).
    """

    name = "prometheus-history"

    def __init__(self, base_dir: Path, history: History, extra_flags: tuple[str, ...] = (),
                 blocks_from: Path | None = None, ready_timeout: float = 60.0) -> None:
        super().__init__(base_dir, ready_timeout=ready_timeout)
        self.history = history
        self.extra_flags = extra_flags
        self.blocks_from = blocks_from
        self.build_seconds: float | None = None

    def _prepare(self) -> None:
        super()._prepare()
        if self.build_seconds is not None:
            return
        started = time.perf_counter()
        if self.blocks_from is not None:
            copy_blocks(self.blocks_from, self.data_dir)
        else:
            build_blocks(self.history, self.data_dir, self.base_dir / "openmetrics")
        self.build_seconds = time.perf_counter() - started

    def _command(self) -> list[str]:
        # Retention counts back from the newest block: "100y" keeps any history here.
        return [*super()._command(), "--storage.tsdb.retention.time=100y", *self.extra_flags]
