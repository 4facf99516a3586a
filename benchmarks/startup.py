"""Start-up: `pusher --help` and a dry run of a tiny source vs `python -c pass`; heavy imports."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from benchmarks.push import ROOT, pusher_env

# Imported only by the sources and writers that need them; importlib.metadata only to find
# a plugin's source type (it costs about as much as importing click).
HEAVY_MODULES = ("googleapiclient", "sqlalchemy", "influxdb_client", "requests",
                 "importlib.metadata")


def tiny_config(directory: Path) -> Path:
    """A config with one python source of 10 readings, for the dry run."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "pusher.toml"
    path.write_text(f"""\
[pusher]
state_dir = "{directory / 'state'}"
timezone = "UTC"

[influx]
url = "http://127.0.0.1:9"
api = "v2"
org = "tiny"

[sources.tiny]
type = "python"
callable = "benchmarks.workload:source"
count = 10
""")
    return path


def commands(config: Path) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "python -c pass": [python, "-c", "pass"],
        "pusher --help": [python, "-m", "pusher", "--help"],
        "pusher collect tiny --dry-run": [python, "-m", "pusher", "-c", str(config), "collect",
                                          "tiny", "--dry-run"],
    }


def startup_figure(directory: Path, repeats: int) -> dict[str, float]:
    """Best wall-clock seconds of each command over `repeats` interleaved rounds."""
    best: dict[str, float] = {}
    for round_number in range(repeats + 1):
        for name, command in commands(tiny_config(directory)).items():
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=pusher_env(), cwd=ROOT)
            elapsed = time.perf_counter() - started
            if round_number:  # the first round fills the bytecode cache: not counted
                best[name] = min(best.get(name, float("inf")), elapsed)
    return best


def heavy_imports(directory: Path) -> dict[str, list[str]]:
    """Which heavy modules each pusher command imports (python -X importtime)."""
    found = {}
    for name, command in commands(tiny_config(directory)).items():
        if not name.startswith("pusher"):
            continue
        done = subprocess.run([command[0], "-X", "importtime", *command[1:]], check=True,
                              capture_output=True, text=True, env=pusher_env(), cwd=ROOT)
        imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                    if line.startswith("import time:")}
        found[name] = [m for m in HEAVY_MODULES if m in imported]
    return found
