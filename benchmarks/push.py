"""End to end: `pusher collect` into a real server vs the server's own ingest rate."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from benchmarks.workload import START, readings
from pusher.points.lineprotocol import Encoder

ROOT = Path(__file__).resolve().parent.parent
PYCACHE = ROOT / ".local" / "benchmarks-pycache"
BATCH = 5000
WORKERS = 2


@dataclass
class Target:
    """One server and how to write into it, from the baseline and from pusher."""

    name: str
    write_url: str
    params: dict[str, str]
    influx_toml: str
    count_points: Callable[[str, int], int]  # (run label, window hour) -> points stored
    headers: dict[str, str] = field(default_factory=dict)  # the baseline's credentials


def encoded_bodies(count: int, hour: int) -> list[bytes]:
    """The benchmark's points, encoded once up front, in 5,000-line bodies."""
    encoder = Encoder("s")
    start = START + timedelta(hours=hour)
    lines = [encoder.encode(r, "hourly", 0) for r in readings(count, start=start)]
    return [("\n".join(lines[i:i + BATCH]) + "\n").encode() for i in range(0, count, BATCH)]


def post_all(url: str, params: dict[str, str], bodies: list[bytes],
             headers: dict[str, str] | None = None) -> float:
    """Seconds for WORKERS threads, one session each, to post every body: the server's pace."""
    queue: Iterator[bytes] = iter(bodies)
    lock = threading.Lock()
    failures: list[str] = []

    def work() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    body = next(queue, None)
                if body is None:
                    return
                answer = session.post(url, params=params, data=body, headers=headers,
                                      timeout=120)
                if answer.status_code >= 300:
                    failures.append(f"HTTP {answer.status_code}: {answer.text[:200]}")

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"baseline post failed: {failures[0]}")
    return elapsed


def write_config(directory: Path, influx_toml: str, count: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "pusher.toml"
    path.write_text(f"""\
[pusher]
state_dir = "{directory / 'state'}"
timezone = "UTC"

[influx]
{influx_toml}
precision = "s"

[sources.bench]
type = "python"
callable = "benchmarks.workload:source"
count = {count}
granularity = "hourly"
""")
    return path


def pusher_env() -> dict[str, str]:
    """The environment for a pusher subprocess: `benchmarks` importable, no user config.

    Bytecode is cached (outside the tree) even where PYTHONDONTWRITEBYTECODE is set, as an
    installed package has it: otherwise every start-up would compile pusher from source.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PUSHER_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


@dataclass
class Collected:
    seconds: float  # wall clock of the whole command, start-up included
    peak_rss_kib: int
    summary: str


def run_collect(config: Path, hour: int, pure_python: bool = False) -> Collected:
    """One `pusher collect bench` of one window, in its own process (see benchmarks/rss.py)."""
    since = START + timedelta(hours=hour)
    rss_file = config.parent / f"rss-{hour}"
    command = [sys.executable, "-m", "benchmarks.rss", "-c", str(config), "collect", "bench",
               "--since", since.isoformat(), "--until", (since + timedelta(hours=1)).isoformat()]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False,
                          env=pusher_env() | {"BENCH_RSS_FILE": str(rss_file)}
                          | ({"PUSHER_PURE_PYTHON": "1"} if pure_python else {}))
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"pusher collect failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = done.stderr.strip().splitlines()[-1]
    return Collected(elapsed, int(rss_file.read_text()), summary)


def compare(target: Target, count: int, workdir: Path, repeats: int, pure_python: bool = False,
            first_hour: int = 0) -> dict[str, Any]:
    """Alternate baseline and pusher runs `repeats` times; keep each one's best.
    `pure_python`: pusher without its compiled point loop (PUSHER_PURE_PYTHON=1)."""
    best_base = best_pusher = float("inf")
    collected = None
    for repeat in range(repeats):
        base_hour, pusher_hour = first_hour + 2 * repeat, first_hour + 2 * repeat + 1
        bodies = encoded_bodies(count, base_hour)
        best_base = min(best_base, post_all(target.write_url, target.params, bodies,
                                            target.headers))
        del bodies
        check_stored(target, "baseline", base_hour, count)
        config = write_config(workdir / f"{target.name}-{repeat}", target.influx_toml, count)
        collected = run_collect(config, pusher_hour, pure_python)
        best_pusher = min(best_pusher, collected.seconds)
        check_stored(target, "pusher", pusher_hour, count)
    assert collected is not None
    return {"baseline_s": best_base, "pusher_s": best_pusher, "summary": collected.summary,
            "peak_rss_kib": collected.peak_rss_kib}


def gzip_variant(target: Target, count: int, workdir: Path, repeats: int) -> dict[str, float]:
    """Best seconds of `pusher collect` with `[influx] gzip` off and on, alternated."""
    best = {False: float("inf"), True: float("inf")}
    for repeat in range(repeats):
        for gzip in (False, True):
            hour = 50 + 2 * repeat + gzip
            toml = target.influx_toml + f"\ngzip = {str(gzip).lower()}"
            config = write_config(workdir / f"gzip-{target.name}-{repeat}-{gzip}", toml, count)
            best[gzip] = min(best[gzip], run_collect(config, hour).seconds)
            check_stored(target, "pusher", hour, count)
    return {"plain_s": best[False], "gzip_s": best[True]}


def check_stored(target: Target, who: str, hour: int, count: int, wait: float = 30.0) -> None:
    """Every point is readable back (polls, in case the server indexes in the background)."""
    deadline = time.monotonic() + wait
    while (stored := target.count_points(who, hour)) != count and time.monotonic() < deadline:
        time.sleep(0.2)
    if stored != count:
        raise RuntimeError(f"{target.name}: {who} stored {stored} of {count} points")


def peak_rss(target: Target, count: int, workdir: Path, hour: int) -> int:
    """Peak RSS (KiB) of `pusher collect` of `count` readings into `target`."""
    config = write_config(workdir / f"rss-{target.name}-{count}", target.influx_toml, count)
    collected = run_collect(config, hour)
    check_stored(target, "pusher", hour, count)
    return collected.peak_rss_kib


def _hour_range(hour: int) -> tuple[int, int]:
    start = int((START + timedelta(hours=hour)).timestamp())
    return start, start + 3600


def influxdb1_target(server: Any, database: str = "bench") -> Target:
    """InfluxDB 1.x through /write (the v1 writer)."""
    server.create_database(database)

    def count_points(_label: str, hour: int) -> int:
        start, end = _hour_range(hour)
        rows = server.select(f"SELECT count(value) FROM bench WHERE time >= {start}s AND "
                             f"time < {end}s", db=database)
        return int(rows[0]["count"]) if rows else 0

    return Target("influxdb1", f"{server.url}/write", {"db": database, "precision": "s"},
                  f'url = "{server.url}"\napi = "v1"\ndatabase = "{database}"', count_points)


def influxdb2_target(server: Any, bucket: str = "bench") -> Target:
    """InfluxDB 2.x through /api/v2/write (the v2 writer, influxdb-client)."""
    if bucket not in server.buckets():
        server.create_bucket(bucket)

    def count_points(_label: str, hour: int) -> int:
        start, end = (datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                      for t in _hour_range(hour))
        rows = server.flux(f'from(bucket: "{bucket}") |> range(start: {start}, stop: {end})'
                           ' |> filter(fn: (r) => r._measurement == "bench" and '
                           'r._field == "value") |> group() |> count()')
        return int(rows[0]["_value"]) if rows else 0

    params = {"org": server.org, "bucket": bucket, "precision": "s"}
    toml = (f'url = "{server.url}"\napi = "v2"\norg = "{server.org}"\nbucket = "{bucket}"\n'
            f'token = "{server.token}"')
    return Target("influxdb2", f"{server.url}/api/v2/write", params, toml, count_points,
                  {"Authorization": f"Token {server.token}"})
