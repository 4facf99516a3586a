"""Every file pusher writes in its state directory, damaged three ways, under every command:
no traceback, the damage named once and moved to quarantine/, no wrong data in InfluxDB."""

import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ops_helpers import command, environment, grid_source, pusher, write_config
from servers import free_port

SINCE = ("--since", "2026-01-01T00:00Z", "--until", "2026-01-01T03:00Z")
SOURCES = grid_source(series=3) + """
[sources.refusing]
type = "python"
callable = "ops_readers:refusing"
[sources.idle]
type = "python"
callable = "ops_readers:tick"
enabled = false
"""
# Files whose content means nothing (locks, the heartbeat): only a directory in their place
# is damage that must be seen.
CONTENTLESS = ("heartbeat", ".lock")


def run_until_heartbeat(config: Path, state: Path) -> subprocess.CompletedProcess[str]:
    """`pusher run` until it has beaten once, then SIGTERM.

    It schedules only a disabled source, so it runs no collect of its own: what it does
    with the state directory is its heartbeat and its spool flush.
    """
    started = time.time()
    beat = state / "heartbeat"
    process = subprocess.Popen(command("run", "idle", config=config), env=environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (beat.is_file() and beat.stat().st_mtime >= started - 1):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no heartbeat"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, influxdb1):
    """A state directory holding every kind of file pusher writes."""
    base = tmp_path_factory.mktemp("pristine")
    db = "damage"
    influxdb1.create_database(db)
    config = write_config(base, influxdb1.url, db, SOURCES)
    assert pusher("collect", "grid", "refusing", config=config).returncode == 1  # NaN refused
    assert pusher("backfill", "grid", *SINCE, config=config).returncode == 0
    assert run_until_heartbeat(config, base / "state").returncode == 0
    down = base / "down.toml"
    down.write_text(config.read_text().replace(influxdb1.url,
                                               f"http://127.0.0.1:{free_port()}"))
    assert pusher("collect", "grid", *SINCE, config=down).returncode == 1  # spooled
    files = sorted(p.relative_to(base / "state") for p in (base / "state").rglob("*")
                   if p.is_file())
    batches = [p for p in files if p.suffix == ".lp"]
    files = [p for p in files if p.suffix != ".lp"] + batches[:1]  # one batch stands for all
    names = {p.name for p in files}
    for expected in ("watermarks.json", "runs.json", "dead-letter.jsonl", "heartbeat",
                     ".flush.lock", ".watermarks.json.lock", ".runs.json.lock",
                     ".dead-letter.jsonl.lock", "grid.json", ".grid.json.lock"):
        assert expected in names, names
    assert any(p.suffix == ".lp" for p in files)
    return base, db, files


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[:len(data) // 2])
    elif how == "invalid byte":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + b"\xff" + data[middle + 1:])
    else:
        path.unlink()
        path.mkdir()


def every_command(config: Path, state: Path) -> list[subprocess.CompletedProcess[str]]:
    # An operator's moves first, on the batches as they lie (later commands flush them).
    batches = sorted(p.stem for p in (state / "spool").glob("*.lp"))
    return [
        pusher("spool", "dead-letter", batches[0], config=config),
        pusher("spool", "drop", batches[-1], config=config),
        pusher("status", config=config),
        pusher("spool", "show", config=config),
        pusher("health", config=config),
        pusher("collect", "grid", "refusing", config=config),  # from the watermark
        pusher("backfill", "grid", *SINCE, "--force", config=config),
        pusher("spool", "flush", config=config),
        pusher("spool", "retry", config=config),
        run_until_heartbeat(config, state),
    ]


def grid_values_right(influxdb1, db: str) -> None:
    """Every grid point holds what the source gave for it: nothing torn was replayed."""
    rows = influxdb1.select('SELECT "v" FROM "grid" GROUP BY "k"', db=db)
    assert rows and all(row["v"] == row["time"] + int(row["k"][1:]) for row in rows)


def check_case(base: Path, case: Path, relative: Path, how: str) -> bool:
    """Damage one file of a copy of `base`, run every command; True if the damage was said."""
    shutil.copytree(base, case)
    state = case / "state"
    damage(state / relative, how)
    results = every_command(case / "pusher.toml", state)
    for result in results:
        output = result.stdout + result.stderr
        assert "Traceback" not in output, (relative, how, result.args, output)
        assert result.returncode in (0, 1), (relative, how, result.args, output)
    said = [line for result in results for line in result.stderr.splitlines()
            if relative.name in line and "damaged" in line]
    moved = list((state / "quarantine").glob(f"{relative.name}.*"))
    if how == "directory" or not relative.name.endswith(CONTENTLESS):
        assert said and moved, (relative, how, [r.stderr for r in results])
    return bool(said)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["truncate", "invalid byte", "directory"])
def test_every_state_file_damaged_every_command_goes_on(tmp_path, pristine, influxdb1, how):
    base, db, files = pristine
    # Cases are independent state directories: a few at a time (each is 10 processes).
    with ThreadPoolExecutor(max_workers=3) as pool:
        said = list(pool.map(lambda relative: check_case(
            base, tmp_path / f"{relative.name}-{how.replace(' ', '-')}", relative, how), files))
    assert sum(said) >= len(files) - 6  # all but the locks and heartbeat, at least
    grid_values_right(influxdb1, db)
