"""Hostile readings (issue 11 §6): a lone surrogate and a 1 MB string, against a real InfluxDB.

Each reading InfluxDB cannot take is refused by name while the others are written; what is
shown of it in logs and the dead-letter file is bounded and encodable.
"""

import json
import math
from datetime import UTC, datetime
from pathlib import Path

from cli_helpers import run_pusher
from ops_helpers import write_config
from pipeline_helpers import Lines

from pusher.excerpt import excerpt, reading_excerpt
from pusher.points.lineprotocol import Encoder, encode
from pusher.reading import Granularity, Reading, Window
from pusher.runs.pipeline import DEAD_LETTER_BATCH, Run
from pusher.runs.pipeline import collect as collect_windows
from pusher.state import read_json
from pusher.writers.deadletter import DeadLetter

PLUGINS = str(Path(__file__).parent / "plugins")
SINCE, UNTIL = "2026-02-01T10:00Z", "2026-02-01T11:00Z"


def hostile_config(tmp_path, influx_url, db, callable_name):
    return write_config(tmp_path, influx_url, db, f"""
[sources.hostile]
type = "python"
callable = "hostile_readers:{callable_name}"
""")


def collect(config, *args, verbose=False):
    """With `verbose` (-v), each refused reading is named on a line of its own."""
    return run_pusher(*(["-v"] if verbose else []), "collect", "hostile", "--since", SINCE,
                      "--until", UNTIL, *args, config=config, env={"PYTHONPATH": PLUGINS})


def dead_letter(tmp_path):
    return [json.loads(x) for x in (tmp_path / "state/dead-letter.jsonl").read_text()
            .splitlines()]


def test_one_lone_surrogate_among_20000_is_refused_by_name(tmp_path, influxdb1, influx_db):
    config = hostile_config(tmp_path, influxdb1.url, influx_db, "one_surrogate")
    done = collect(config, verbose=True)
    assert done.returncode == 1, done.stderr
    assert "readings=20000 written=19999 refused=1 [partial]" in done.stderr
    assert "Traceback" not in done.stderr
    [refusal] = [line for line in done.stderr.splitlines() if "refused Reading" in line]
    assert "'n': '12345'" in refusal and "a lone surrogate that UTF-8 cannot encode" in refusal
    [count] = influxdb1.select('SELECT count("i") FROM "hostile"', db=influx_db)
    assert count["count"] == 19_999
    [record] = dead_letter(tmp_path)
    assert "'\\udcff'" in record["reason"] and "'n': '12345'" in record["reading"]


def test_a_dry_run_prints_the_19999_others(tmp_path):
    config = hostile_config(tmp_path, "http://127.0.0.1:1", "d", "one_surrogate")
    done = collect(config, "--dry-run")
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == 19_999
    assert "printed=19999 refused=1" in done.stderr


def test_a_refused_1mb_string_is_shown_as_a_bounded_excerpt(tmp_path, influxdb1, influx_db):
    config = hostile_config(tmp_path, influxdb1.url, influx_db, "huge_string")
    done = collect(config, verbose=True)
    assert done.returncode == 1
    assert "readings=2 written=1 refused=1" in done.stderr
    assert len(done.stderr) < 4000  # not the megabyte
    assert "(1,048,576 characters)" in done.stderr and "'kind': 'huge'" in done.stderr
    [record] = dead_letter(tmp_path)
    assert len(json.dumps(record)) < 2000
    assert "(1,048,576 characters)" in record["reading"] and "'kind': 'huge'" in record["reading"]
    assert (tmp_path / "state/dead-letter.jsonl").stat().st_size < 2000


def test_an_error_with_a_lone_surrogate_is_said_and_recorded_bounded(tmp_path, influxdb1,
                                                                     influx_db):
    config = hostile_config(tmp_path, influxdb1.url, influx_db, "raising")
    done = collect(config)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and len(done.stderr) < 4000
    assert "ValueError: cannot read \\udcff xxx" in done.stderr
    run = read_json(tmp_path / "state/runs.json", tmp_path / "state")["hostile"]
    assert run["status"] == "failed" and "cannot read \\udcff" in run["error"]
    assert run["error"].endswith(" characters)") and len(run["error"]) < 1000


def test_surrogates_are_refused_in_every_part_of_a_reading():
    for reading in (Reading("m\udcff", {"f": 1}), Reading("m", {"f\udcff": 1}),
                    Reading("m", {"f": 1}, {"t\udcff": "v"}),
                    Reading("m", {"f": 1}, {"t": "\ud800"}), Reading("m", {"f": "\udcff"})):
        try:
            encode(reading)
        except Exception as exc:
            assert type(exc).__name__ == "RefusedReading" and "lone surrogate" in str(exc)
        else:
            raise AssertionError(f"{reading} was encoded")
    assert encode(Reading("m", {"f": "é ✓ 𝄞"})) == 'm,granularity=hourly f="é ✓ 𝄞" 0'


def test_excerpts_are_bounded_and_encodable():
    assert excerpt("short") == "short"
    long = excerpt("y" * 10_000)
    assert long.startswith("y" * 300) and long.endswith("... (10,000 characters)")
    assert excerpt("a \udcff b") == "a \\udcff b"
    assert excerpt("a \udcff b").encode()  # writable to a UTF-8 file
    shown = reading_excerpt(Reading("m", {"v": "z" * 5000, "n": math.pi}, {"t": "x"}))
    assert shown == ("Reading(measurement='m', fields={'v': '" + "z" * 80 + "'... (5,000 "
                     "characters), 'n': 3.141592653589793}, tags={'t': 'x'})")
    assert reading_excerpt(42) == "42"


def test_refusals_reach_the_dead_letter_file_in_batches_and_none_is_lost(tmp_path,
                                                                        monkeypatch):
    # 2,500 refusals: two full batches of 1,000 while the window runs, the rest when the
    # source fails; every one is in the file, in order, and the appends were 3, not 2,500.
    def readings(window):
        for n in range(2500):
            yield Reading("m", {"v": float("nan")}, {"n": str(n)})
            yield Reading("m", {"v": n}, {"n": str(n)})
        raise RuntimeError("the source broke")

    held = DeadLetter(tmp_path / "dead-letter.jsonl")
    appends = []
    add_many = held.add_many
    monkeypatch.setattr(held, "add_many", lambda records: (appends.append(len(records)),
                                                          add_many(records)))
    sink = Lines()
    window = Window.containing(datetime(2026, 3, 2, 10, 30, tzinfo=UTC), Granularity.HOURLY)
    record = collect_windows(Run("s", readings, {}, "hourly", Encoder("s"), sink,
                                 dead_letter=held), [window])
    assert (record.refused, len(sink.lines)) == (2500, 2500)
    assert "the source broke" in record.errors[0]
    assert appends == [DEAD_LETTER_BATCH, DEAD_LETTER_BATCH, 500]
    shown = [r["reading"] for r in held.records()]
    assert len(shown) == 2500
    assert all(f"'n': '{n}'" in text for n, text in enumerate(shown))
