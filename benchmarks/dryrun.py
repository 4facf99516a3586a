"""`pusher collect --dry-run` of N readings vs a script that encodes the same readings with the
plain escaped f-string encoder (benchmarks/workload.py) and prints them: whole processes,
start-up included, both writing to /dev/null.

`python -m benchmarks.dryrun N HOUR` is that script (the baseline).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from benchmarks.push import ROOT, pusher_env, write_config
from benchmarks.workload import START, reference_encode, source
from pusher.reading import Granularity, Window


def _window(hour: int) -> Window:
    return Window.containing(START + timedelta(hours=hour), Granularity.HOURLY)


def _commands(config: Path, count: int, hour: int) -> dict[str, list[str]]:
    since = _window(hour).start
    until = since + timedelta(hours=1)
    return {
        "pusher": [sys.executable, "-m", "pusher", "-c", str(config), "collect", "bench",
                   "--dry-run", "--since", since.isoformat(), "--until", until.isoformat()],
        "reference": [sys.executable, "-m", "benchmarks.dryrun", str(count), str(hour)],
    }


def dry_run_figure(count: int, workdir: Path, repeats: int,
                   pure_python: bool = False) -> dict[str, float]:
    """Best seconds of each command over `repeats` alternated rounds (after one warm-up)."""
    config = write_config(workdir, 'url = "http://127.0.0.1:9"\napi = "v1"\ndatabase = "d"',
                          count)
    env = pusher_env() | ({"PUSHER_PURE_PYTHON": "1"} if pure_python else {})
    best: dict[str, float] = {}
    for round_number in range(repeats + 1):
        for name, command in _commands(config, count, hour=7).items():
            started = time.perf_counter()
            done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  env=env, cwd=ROOT, check=False)
            elapsed = time.perf_counter() - started
            if done.returncode != 0:
                raise RuntimeError(f"{name} failed: {done.stderr.decode()[-2000:]}")
            if round_number:
                best[name] = min(best.get(name, float("inf")), elapsed)
    best["lines_match"] = float(_same_lines(config, count, env))
    return best


def _same_lines(config: Path, count: int, env: dict[str, str]) -> bool:
    """Both commands print the same lines (checked once, on a small count)."""
    small = min(count, 5000)
    write_config(config.parent, 'url = "http://127.0.0.1:9"\napi = "v1"\ndatabase = "d"', small)
    printed = [subprocess.run(command, capture_output=True, env=env, cwd=ROOT,
                              check=True).stdout
               for command in _commands(config, small, hour=7).values()]
    write_config(config.parent, 'url = "http://127.0.0.1:9"\napi = "v1"\ndatabase = "d"', count)
    return printed[0] == printed[1]


def main() -> None:
    count, hour = int(sys.argv[1]), int(sys.argv[2])
    window = _window(hour)
    stamp = int(window.start.timestamp())
    out = os.fdopen(sys.stdout.fileno(), "w", buffering=1 << 16, closefd=False)
    out.writelines(reference_encode(r, "hourly", stamp) + "\n"
                   for r in source(window, count))
    out.flush()


if __name__ == "__main__":
    main()
