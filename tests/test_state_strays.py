"""State files that are whole but do not hold what pusher wrote there (issue 11 §4).

The damage test (test_state_damage.py) tears files pusher wrote; its frame and checksum
catch that before any value is read. These are the other half of the class: a file that
pusher never wrote lying in its folders, and a well-framed file whose values are not what
they must be (a hand edit, an older version). Each is said once, left out, and every
command goes on.
"""

import pytest
from ops_helpers import count, grid_source, pusher, write_config

from pusher.runs.history import Watermarks
from pusher.state import read_json, write_json

SINCE = ("--since", "2026-01-01T00:00Z", "--until", "2026-01-01T03:00Z")
COMMANDS = (("status",), ("spool", "show"), ("spool", "flush"), ("spool", "retry"))


@pytest.fixture
def setup(tmp_path, influxdb1):
    db = f"strays_{tmp_path.name[-12:].replace('-', '_')}"
    influxdb1.create_database(db)
    config = write_config(tmp_path, influxdb1.url, db, grid_source(series=3))
    return config, tmp_path / "state", db


def no_traceback(*results) -> None:
    for result in results:
        output = result.stdout + result.stderr
        assert "Traceback" not in output, (result.args, output)
        assert result.returncode == 0, (result.args, output)


def test_a_stray_file_in_the_spool_folder_is_set_aside_and_the_run_goes_on(setup, influxdb1):
    config, state, db = setup
    spool = state / "spool"
    spool.mkdir(parents=True)
    (spool / "notes.lp").write_text("cpu value=1\n")  # a .lp name pusher never gives
    (spool / "README.txt").write_text("not ours\n")
    (spool / "old").mkdir()
    collected = pusher("collect", "grid", *SINCE, config=config)
    no_traceback(collected)
    assert count(influxdb1, db) == 9  # 3 windows x 3 series, nothing of the stray
    said = [line for line in collected.stderr.splitlines() if "notes.lp" in line]
    assert len(said) == 1 and "not a spool batch name" in said[0], collected.stderr
    assert list((state / "quarantine").glob("notes.lp.*"))
    assert not (spool / "notes.lp").exists()
    # What is not named like a batch at all is not pusher's to move.
    assert (spool / "README.txt").is_file() and (spool / "old").is_dir()
    results = [pusher(*args, config=config) for args in COMMANDS]
    no_traceback(*results)
    assert "cpu" not in " ".join(r.stdout for r in results)


def test_a_watermark_that_is_not_a_time_is_said_and_the_run_goes_on(setup, influxdb1):
    config, state, db = setup
    marks = state / "watermarks.json"
    write_json(marks, {"grid": "yesterday", "other": 42}, state)  # framed and checksummed
    ranged = pusher("collect", "grid", *SINCE, config=config)
    no_traceback(ranged)
    assert count(influxdb1, db) == 9
    said = [line for line in ranged.stderr.splitlines() if "is not a time" in line]
    assert len(said) == 2 and all(str(marks) in line for line in said), ranged.stderr
    assert Watermarks(state).get("grid") is None  # left out, never taken as a time
    # A run from the watermark starts as for a new source and replaces the bad value;
    # the other source's value is not pusher's to drop.
    no_traceback(pusher("collect", "grid", config=config))
    assert Watermarks(state).get("grid") is not None
    assert read_json(marks, state)["other"] == 42
    no_traceback(*(pusher(*args, config=config) for args in COMMANDS))


def test_a_run_record_or_backfill_progress_that_is_not_data_is_left_out(setup, influxdb1):
    config, state, db = setup
    write_json(state / "runs.json", {"grid": "done", "other": {"ended": "soon"}}, state)
    progress = state / "backfill" / "grid.json"
    write_json(progress, {"done": [1, None, {"a": 1}]}, state)
    status = pusher("status", config=config)
    no_traceback(status)
    assert status.stderr.count("is not readable") == 2, status.stderr
    backfilled = pusher("backfill", "grid", *SINCE, config=config)
    no_traceback(backfilled)
    assert count(influxdb1, db) == 9  # no chunk taken as done from a value that is no key
    no_traceback(pusher("collect", "grid", config=config))  # its run record replaces "done"
    after = pusher("status", config=config)
    assert after.stderr.count("is not readable") == 1 and "of other" in after.stderr
