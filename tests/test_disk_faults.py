"""A full disk and a read-only state directory, for real: a small tmpfs mounted here.

Each gives one line naming the path, exit 1, no temporary file left behind, and a spool and
dead-letter file that stay whole.
"""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ops_helpers import grid_source, pusher, write_config
from servers import free_port

from pusher.writers.deadletter import DeadLetter
from pusher.writers.spool import Spool

SINCE = ("--since", "2026-01-01T00:00Z", "--until", "2026-01-02T00:00Z")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (tmpfs gives each file at least a 4 KiB page: room for ~15 files)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs",
                           str(mount)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"this test mounts a tmpfs (needs root): {done.stderr}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


REFUSING = """
[sources.refusing]
type = "python"
callable = "ops_readers:refusing"
"""


def down_config(tmp_path: Path, state: Path, series: int = 20) -> Path:
    config = write_config(tmp_path, f"http://127.0.0.1:{free_port()}", "db",
                          grid_source(series=series) + REFUSING, extra="batch_size = 50")
    config.write_text(config.read_text().replace('state_dir = "state"',
                                                 f'state_dir = "{state}"'))
    return config


def leftovers(state: Path) -> list[Path]:
    return [p for p in state.rglob("*") if p.name.endswith(".tmp")]


def assert_whole(state: Path) -> int:
    """Every batch loads (frame, length, checksum); returns the points they hold."""
    spool = Spool(state / "spool")
    paths = list(spool.paths())
    batches = [spool.load(path) for path in paths]
    assert all(batches), paths
    assert not (state / "quarantine").exists()
    return sum(len(b.lines) for b in batches if b)


def test_a_full_disk_is_one_line_exit_1_and_leaves_no_temporary_file(tmp_path, small_disk):
    config = down_config(tmp_path, small_disk)
    # Before the disk fills, one refusal (a NaN) is dead-lettered: a record to keep whole.
    dead = DeadLetter(small_disk / "dead-letter.jsonl")
    first = pusher("collect", "refusing", "--since", "2026-01-01T00:00Z", "--until",
                   "2026-01-01T01:00Z", config=config)
    assert first.returncode == 1 and "refused=1" in first.stderr, first.stderr
    before = list(dead.records())
    assert len(before) == 1
    held = assert_whole(small_disk)  # its good reading and its run point
    result = pusher("collect", "grid", *SINCE, config=config)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"cannot write {small_disk}/" in result.stderr
    assert "No space left on device" in result.stderr
    [summary] = [line for line in result.stderr.splitlines() if line.startswith("- grid ")]
    assert "[failed: " in summary
    assert leftovers(small_disk) == []
    spooled = assert_whole(small_disk) - held
    assert spooled and f"spooled={spooled}" in summary  # what the spool holds, exactly

    # 24 refusals on the full disk: one line, and the dead-letter file keeps its one
    # record whole (no torn record after it); the windows stay to collect again.
    again = pusher("collect", "refusing", *SINCE, config=config)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert "No space left on device" in again.stderr, again.stderr
    assert leftovers(small_disk) == [] and list(dead.records()) == before
    assert_whole(small_disk)


def test_a_read_only_state_directory_is_one_line_and_status_still_works(tmp_path, small_disk):
    config = down_config(tmp_path, small_disk, series=2)
    first = pusher("collect", "grid", "--since", "2026-01-01T00:00Z", "--until",
                   "2026-01-01T02:00Z", config=config)
    assert first.returncode == 1 and "spooled=4" in first.stderr
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)

    for args in (("collect", "grid"), ("spool", "flush"), ("spool", "retry")):
        result = pusher(*args, config=config)
        assert result.returncode == 1, (args, result.stderr)
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(f"pusher: error: cannot lock {small_disk}/"), line
        assert line.endswith("Read-only file system"), line
    status = pusher("status", config=config)
    assert status.returncode == 0, status.stderr
    assert "spool: 5 points waiting" in status.stdout  # the run's own point too
    shown = pusher("spool", "show", config=config)
    assert shown.returncode == 0 and "waiting: 5 points" in shown.stdout
    assert assert_whole(small_disk) == 5


def test_a_full_disk_is_said_once_and_nothing_more_is_written_in_that_run(tmp_path,
                                                                         small_disk):
    config = down_config(tmp_path, small_disk)
    result = pusher("collect", "grid", *SINCE, config=config)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "No space left on device" in line]
    # One line for the run, not one per window, runs.json and the run's point.
    [said] = errors
    assert said.startswith("pusher: ERROR: grid: writing: cannot write "), result.stderr
    assert said.endswith("nothing more is written to the state directory in this run")
    [summary] = [line for line in result.stderr.splitlines() if line.startswith("- grid ")]
    assert "(+1 more errors above)" in summary
    assert not (small_disk / "runs.json").exists()
    assert leftovers(small_disk) == []
    spooled = assert_whole(small_disk)
    assert f"spooled={spooled}" in summary
