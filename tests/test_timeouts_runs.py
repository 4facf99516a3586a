"""Issue 17 §1, §3, §4: a source's timeout is the most one run of it may take, in collect
(with or without --since), catch-up and each chunk of a backfill; the run stops at its first
timed-out window and keeps what is complete. Against a real InfluxDB 1.x.

A python callable cannot be stopped in-process: pusher stops it between readings
(docs/operations.md, "Timeouts"). The time bounds are the issue's, not speed figures.
"""

import re
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from cli_helpers import run_pusher
from ops_helpers import write_config as v1_config

from pusher.deadline import Deadline, TimedOut, bound, time_left, within
from pusher.points.lineprotocol import Encoder
from pusher.reading import Granularity, Reading, Window
from pusher.runs.history import Watermarks
from pusher.runs.pipeline import Run, collect
from pusher.writers.sinks import StdoutSink

# Asked for a window, it writes the window's start to `log`; for the window starting at
# `slow`, it then yields a reading every half second for 100 s.
READERS = '''
import time
from pathlib import Path
from pusher.reading import Reading

def paced(window, log, slow=""):
    with open(log, "a") as out:
        out.write(window.start.isoformat() + "\\n")
    yield Reading("paced", {"v": 1}, {"n": "first"})
    if window.start.isoformat() == slow:
        for number in range(200):
            time.sleep(0.5)
            yield Reading("paced", {"v": number}, {"n": str(number)})
'''


def write_config(tmp_path, influx_url, db, slow, timeout=2):
    (tmp_path / "readers.py").write_text(READERS)
    return v1_config(tmp_path, influx_url, db, f"""
[sources.paced]
type = "python"
callable = "readers:paced"
log = "{tmp_path / 'asked.log'}"
slow = "{slow}"
timeout = {timeout}
""")


def asked(tmp_path):
    path = tmp_path / "asked.log"
    return path.read_text().split() if path.exists() else []


def summary(done):
    return next(line for line in done.stderr.splitlines() if line.startswith("- paced "))


def hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def test_a_catch_up_stops_at_its_first_timed_out_window(tmp_path, influxdb1, influx_db):
    """§3: the windows after a timed-out one wait for the next run, which resumes from the
    watermark; the watermark covers the windows finished before it."""
    before = hour(datetime.now(UTC))  # the run's current hour, or the one after it
    mark = before - timedelta(hours=6)
    slow = mark + timedelta(hours=2)
    config = write_config(tmp_path, influxdb1.url, influx_db, slow.isoformat())
    (tmp_path / "state").mkdir()
    Watermarks(tmp_path / "state").set("paced", mark)
    started = time.monotonic()
    done = run_pusher("collect", "paced", config=config)
    assert time.monotonic() - started < 15, done.stderr
    assert done.returncode == 1
    # 7 windows, the last the current hour; 8 if the top of an hour passed since `before`.
    stopped = re.search(r"stopped at window 3 of (\d+); ", summary(done))
    assert stopped and int(stopped[1]) in (7, 8), summary(done)
    assert "[failed: timed out after 2s (the source's timeout): stopped at window 3 of " \
        f"{stopped[1]}; the next run resumes from the watermark" in summary(done)
    assert asked(tmp_path) == [(mark + timedelta(hours=n)).isoformat() for n in range(3)]
    assert Watermarks(tmp_path / "state").get("paced") == mark + timedelta(hours=2)
    # What was read is kept: the finished windows and what the timed-out one yielded.
    written = influxdb1.select("SELECT \"v\" FROM \"paced\" WHERE \"n\" = 'first'",
                               db=influx_db)
    assert [p["time"] for p in written] == [
        int((mark + timedelta(hours=n)).timestamp()) for n in range(3)]
    status = run_pusher("status", config=config)
    assert "last failure of paced: timed out after 2s (the source's timeout)" in status.stdout
    # The next run, with a quick source, resumes there and collects the rest.
    config.write_text(config.read_text().replace(f'slow = "{slow.isoformat()}"', 'slow = ""'))
    again = run_pusher("collect", "paced", config=config)
    assert again.returncode == 0, again.stderr
    # ... up to its own current hour: `before`'s or a later one, no later than the clock's.
    rest = asked(tmp_path)[3:]
    last = datetime.fromisoformat(rest[-1])
    assert before <= last <= hour(datetime.now(UTC)), rest
    assert rest == [(mark + timedelta(hours=n)).isoformat()
                    for n in range(2, 7 + (last - before) // timedelta(hours=1))]


def test_a_collect_over_a_range_says_how_far_it_got_and_names_backfill(tmp_path):
    now = hour(datetime.now(UTC))
    since, slow = now - timedelta(hours=5), now - timedelta(hours=3)
    config = write_config(tmp_path, "http://127.0.0.1:1", "db", slow.isoformat(), timeout=1)
    done = run_pusher("collect", "paced", "--dry-run", "--since", since.isoformat(),
                      "--until", now.isoformat(), config=config)
    assert done.returncode == 1
    assert (f"[failed: timed out after 1s (the source's timeout): stopped at window 3 of 5; "
            f"collect the rest with `pusher backfill paced --since {slow.isoformat()} "
            f"--until {now.isoformat()}`") in summary(done)
    # What was read before the timeout went out: the complete windows and the first
    # readings of the one that timed out.
    assert done.stdout.count('paced,granularity=hourly,n=first v=1i') == 3


def test_timeout_on_the_command_line_wins(tmp_path):
    # Fixed hours: the test is about --timeout, not "now" (a collect of the two regular
    # windows would not ask for the slow one if the top of an hour passed before it ran).
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    config = write_config(tmp_path, "http://127.0.0.1:1", "db",
                          (now - timedelta(hours=1)).isoformat(), timeout=600)
    started = time.monotonic()
    done = run_pusher("collect", "paced", "--dry-run", "--timeout", "1", "--since",
                      (now - timedelta(hours=1)).isoformat(), "--until",
                      (now + timedelta(hours=1)).isoformat(), config=config)
    assert time.monotonic() - started < 15
    assert "[failed: timed out after 1s (the source's timeout): stopped at window 1 of 2" \
        in summary(done)
    since = now - timedelta(hours=1)
    started = time.monotonic()
    done = run_pusher("backfill", "paced", "--dry-run", "--since", since.isoformat(),
                      "--until", now.isoformat(), "--timeout", "1", config=config)
    assert time.monotonic() - started < 15
    assert done.returncode == 1
    assert "timed out after 1s (the source's timeout) (chunk " in done.stderr


def test_a_backfill_stops_at_its_first_timed_out_chunk_and_resumes(tmp_path, influxdb1,
                                                                    influx_db):
    """Each chunk has the source's timeout; the chunks after a timed-out one are not begun
    (each would only wait again); re-running resumes at it."""
    since = datetime(2026, 3, 1, tzinfo=UTC)
    slow = since + timedelta(hours=3)  # in the second chunk of 2 windows
    config = write_config(tmp_path, influxdb1.url, influx_db, slow.isoformat())
    started = time.monotonic()
    done = run_pusher("backfill", "paced", "--since", since.isoformat(), "--until",
                      (since + timedelta(hours=8)).isoformat(), "--chunk", "2", config=config)
    assert time.monotonic() - started < 15, done.stderr
    assert done.returncode == 1
    assert asked(tmp_path) == [(since + timedelta(hours=n)).isoformat() for n in range(4)]
    assert "timed out after 2s (the source's timeout) (chunk 2026-03-01T02:00:00+00:00/" \
        "2026-03-01T04:00:00+00:00): the chunks after it were not begun; re-run to resume" \
        in done.stderr
    assert done.stderr.count("not complete: re-run to retry it") == 3
    config.write_text(config.read_text().replace(f'slow = "{slow.isoformat()}"', 'slow = ""'))
    again = run_pusher("backfill", "paced", "--since", since.isoformat(), "--until",
                       (since + timedelta(hours=8)).isoformat(), "--chunk", "2", config=config)
    assert again.returncode == 0, again.stderr
    assert "chunks=3 skipped=1" in again.stderr
    assert asked(tmp_path)[4:] == [(since + timedelta(hours=n)).isoformat()
                                   for n in range(2, 8)]


def _slow(window):
    yield Reading("m", {"v": 1}, {"n": "a"})
    time.sleep(0.3)
    yield Reading("m", {"v": 2}, {"n": "b"})
    yield Reading("m", {"v": 3}, {"n": "c"})


def test_a_callable_is_stopped_between_readings(capsys):
    """§4: the reading it yielded before its time was up is kept; the next is not asked for."""
    window = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, tzinfo=UTC),
                    Granularity.HOURLY)
    run = Run("slow", _slow, {}, "hourly", Encoder("s"), StdoutSink(sys.stdout),
              deadline=Deadline(0.1))
    record = collect(run, [window])
    assert record.timed_out and record.readings == 2
    assert record.errors == [f"{window}: timed out after 0.1s (the source's timeout)"]
    assert capsys.readouterr().out.count("\n") == 2


def test_a_source_that_honours_the_deadline_is_not_stopped_between_readings(capsys):
    """docs/plugins.md: `honours_deadline = True` says every wait is bounded by
    deadline.bound(); such a source ends its own run (pusher's sql, prometheus and GA do)."""
    from pusher.sources import load_source

    def bounded(window):
        yield from _slow(window)

    bounded.honours_deadline = True  # type: ignore[attr-defined]
    window = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, tzinfo=UTC),
                    Granularity.HOURLY)
    run = Run("bounded", bounded, {}, "hourly", Encoder("s"), StdoutSink(sys.stdout),
              deadline=Deadline(0.1))
    record = collect(run, [window])
    assert record.readings == 3 and not record.errors
    assert capsys.readouterr().out.count("\n") == 3
    assert all(load_source(kind).honours_deadline
               for kind in ("sql", "prometheus", "google-analytics"))
    assert not getattr(load_source("python"), "honours_deadline", False)


def test_bound_and_time_left_for_sources():
    """What a source (ours, a plugin, a callable) asks before each wait."""
    assert time_left() == float("inf")
    assert bound(30.0) == 30.0
    clock = iter([0.0, 0.0, 10.0, 50.0]).__next__  # made, then asked three times
    with within(Deadline(45, clock=clock)):
        assert bound(30.0) == 30.0  # its own limit while the run has more
        assert bound(None) == 35.0  # the run's time left
        with pytest.raises(TimedOut, match=r"timed out after 45s \(the source's timeout\)"):
            bound(30.0)
