"""Shared pieces of the operations tests: configs, the pusher command, counting points."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PLUGINS = str(Path(__file__).parent / "ops_plugins")


def write_config(tmp_path: Path, influx_url: str, db: str, sources: str, extra: str = "",
                 pusher_extra: str = "", timezone: str = "UTC") -> Path:
    """tmp_path/pusher.toml for InfluxDB 1.x, database `db`."""
    return _write(tmp_path, f'url = "{influx_url}"\napi = "v1"\ndatabase = "{db}"\n{extra}',
                  sources, pusher_extra, timezone)


def write_v2_config(tmp_path: Path, influx_url: str, bucket: str, token: str, sources: str,
                    extra: str = "") -> Path:
    """tmp_path/pusher.toml for InfluxDB 2.x, org `acme` (the influxdb2 fixture's)."""
    return _write(tmp_path, f'url = "{influx_url}"\napi = "v2"\norg = "acme"\n'
                            f'token = "{token}"\nbucket = "{bucket}"\n{extra}', sources)


def _write(tmp_path: Path, influx: str, sources: str, pusher_extra: str = "",
           timezone: str = "UTC") -> Path:
    path = tmp_path / "pusher.toml"
    path.write_text(f"""
[pusher]
state_dir = "state"
timezone = "{timezone}"
{pusher_extra}
[influx]
{influx}
retries = 0
{sources}
""")
    return path


def grid_source(name: str = "grid", series: int = 5, extra: str = "") -> str:
    return f"""
[sources.{name}]
type = "python"
callable = "ops_readers:grid"
series = {series}
{extra}
"""


def command(*args: str, config: Path | None = None, verbose: bool = False) -> list[str]:
    base = [sys.executable, "-m", "pusher"] + (["-v"] if verbose else [])
    return base + (["--config", str(config)] if config else []) + list(args)


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHER_")}
    env["PYTHONPATH"] = PLUGINS
    return env


def pusher(*args: str, config: Path | None = None, timeout: float = 120
           ) -> subprocess.CompletedProcess[str]:
    """Run the real command in a subprocess, as cron does."""
    return subprocess.run(command(*args, config=config), capture_output=True, text=True,
                          env=environment(), timeout=timeout, check=False)


def count(server: Any, db: str, measurement: str = "grid", field: str = "v") -> int:
    rows = server.select(f'SELECT count("{field}") FROM "{measurement}"', db=db)
    return int(rows[0]["count"]) if rows else 0


def per_time(server: Any, db: str, measurement: str = "grid", field: str = "v"
             ) -> dict[int, int]:
    """Points per timestamp (every series of a window shares its start)."""
    rows = server.select(f'SELECT "{field}" FROM "{measurement}" GROUP BY *', db=db)
    counts: dict[int, int] = {}
    for row in rows:
        counts[row["time"]] = counts.get(row["time"], 0) + 1
    return counts
