"""The compiled point loop (pusher/points/_speedups.c) and the pure-Python one write the same bytes.

Both run the whole pipeline (`collect`) over the same generated hostile readings: names and
values with every special character, lone surrogates, line breaks, non-finite floats, ints
beyond int64, strings over 64 KiB, subclasses, wrong types, own times in several time zones,
other granularities, notes and things that are not readings, repeated points (collisions),
and windows small enough to go compact. The lines, their granularity, the run's counts and
the reasons of every refusal must be identical.
"""

import enum
import logging
import math
import os
import random
import shutil
import struct
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_helpers import Lines

import pusher.points.collisions
import pusher.points.pointloop
from pusher.points import _speedups  # type: ignore[attr-defined]
from pusher.points.collisions import KeySets, PointSet
from pusher.points.lineprotocol import Encoder, encode
from pusher.reading import Granularity, Note, Reading, Window
from pusher.runs.pipeline import Run, collect

WINDOWS = [Window.containing(datetime(2026, 3, 2, 10, 30, tzinfo=UTC), Granularity.HOURLY),
           Window.containing(datetime(2026, 3, 2, 11, 30, tzinfo=UTC), Granularity.HOURLY)]
SPECIALS = ",= \"\\#'\t\n\r\x1c\x85\u2028\ud800é"


class Level(enum.IntEnum):
    HIGH = 3


class Text(str):
    pass


texts = st.text(alphabet=st.one_of(st.sampled_from(SPECIALS), st.characters()), max_size=8)
names = st.one_of(st.sampled_from(["m", "cpu", "a b", "k=v", "time", "_field", "granularity"]),
                  texts)
floats = st.one_of(st.floats(), st.sampled_from([0.5, 1e-4, 9.999e-5, 1e15, 1e16, -0.0]),
                   st.decimals(places=3, allow_nan=False, allow_infinity=False).map(float))
values = st.one_of(
    floats, st.integers(min_value=-(2**64), max_value=2**64), st.booleans(), texts,
    st.sampled_from(["x" * 70_000, 'say "hi" \\o/', Level.HIGH, Text("sub"), None, [1]]))
times = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                 timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-3)),
                                            ZoneInfo("Europe/Berlin")])),
    st.sampled_from([WINDOWS[0].start, WINDOWS[0].start + timedelta(minutes=5)]))
tag_sets = st.one_of(st.none(), st.dictionaries(names, st.one_of(names, st.sampled_from(
    [None, "", 3, ["unhashable"]])), max_size=3), st.sampled_from([[("k", "v")]]))
granularities = st.sampled_from([None, None, "", "hourly", "daily", Granularity.HOURLY, 7])
others = st.sampled_from([Note("sampled"), "end", None, b"m v=1"])


@st.composite
def batches(draw, most):
    """Readings drawn from a few series, field keys and times, so that most of them are of a
    series the encoder has seen (the compiled loop's part) on points of their own."""
    series = draw(st.lists(st.tuples(st.one_of(names, st.sampled_from([None, 7])), tag_sets),
                           min_size=1, max_size=4))
    keys = draw(st.lists(names, min_size=1, max_size=4))
    moments = draw(st.lists(times, min_size=1, max_size=4))
    items = []
    for _ in range(draw(st.integers(min_value=0, max_value=most))):
        if draw(st.integers(min_value=0, max_value=12)) == 0:
            items.append(draw(others))
            continue
        measurement, tags = draw(st.sampled_from(series))
        chosen = draw(st.lists(st.sampled_from(keys), max_size=3, unique=True))
        fields = {key: draw(values) for key in chosen} if draw(st.integers(0, 20)) else [1]
        moment = draw(st.one_of(st.sampled_from(moments), times))
        items.append(Reading(measurement, fields, tags, moment, draw(granularities)))
    return items


def run(batches, mode, compiled, monkeypatch, caplog):
    """(lines, counts, refusal reasons) of a run of the windows' readings."""
    monkeypatch.setattr(pusher.points.pointloop, "COMPILED",
                        _speedups.PointLoop if compiled else None)
    sink = Lines()
    windows = WINDOWS[:len(batches)]
    source = {w.start: items for w, items in zip(windows, batches, strict=True)}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pusher.runs.pipeline"):
        record = collect(Run("s", lambda window: iter(source[window.start]), {}, "hourly",
                             Encoder("s"), sink, on_collision=mode), windows)
    counts = (record.readings, record.written, record.refused, record.collided, record.notes,
              record.errors)
    return sink.added, counts, [r.getMessage() for r in caplog.records]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=batches(40), second=batches(10),
       repeats=st.lists(st.integers(min_value=0, max_value=39), max_size=10),
       mode=st.sampled_from(["refuse", "last"]), compact_at=st.sampled_from([3, 131_072]))
def test_compiled_and_python_loops_write_the_same(first, second, repeats, mode, compact_at,
                                                  monkeypatch, caplog):
    # Repeated readings land on points the window has; a low limit makes windows compact.
    first = first + [first[i] for i in repeats if i < len(first)]
    monkeypatch.setattr(pusher.points.collisions, "EXACT_POINTS", compact_at)
    compiled = run([first, second], mode, True, monkeypatch, caplog)
    python = run([first, second], mode, False, monkeypatch, caplog)
    assert compiled == python


def test_many_readings_of_few_series_compact_and_collide_alike(monkeypatch, caplog):
    generator = random.Random(13)
    series = [{"host": f"h{i}", "zone": "a b"} for i in range(40)]
    moments = [WINDOWS[0].start + timedelta(seconds=s) for s in range(5)]
    batch = [Reading("m", {"v": generator.choice([0.5, 7, "x", True, 1e300, -2.5e-3])},
                     dict(generator.choice(series)),
                     generator.choice([None, *moments])) for _ in range(3000)]
    monkeypatch.setattr(pusher.points.collisions, "EXACT_POINTS", 64)
    for mode in ("refuse", "last"):
        compiled = run([batch], mode, True, monkeypatch, caplog)
        assert compiled == run([batch], mode, False, monkeypatch, caplog)
        assert compiled[1][3] > 2000  # most of them collide: the check is exercised
        if mode == "refuse":  # each one refused with its reason, alike
            assert len(compiled[2]) == compiled[1][3] and "collides" in compiled[2][0]


def test_floats_are_written_as_python_writes_them():
    generator = random.Random(7)
    samples = [0.0, -0.0, 0.1, 0.5, 1e-4, 9.999999999999999e-05, 1e15, 999999999999999.9,
               1e16, 2 / 3, 5e-324, 1.7976931348623157e308, 123456.789, -42.0]
    samples += [round(generator.uniform(-1e6, 1e6), generator.randint(0, 9))
                for _ in range(20_000)]
    samples += [struct.unpack("d", generator.randbytes(8))[0] for _ in range(20_000)]
    samples = [x for x in samples if math.isfinite(x)]
    encoder, points, keys_of = Encoder("s"), PointSet(), KeySets()
    points.clear("0")
    loop = _speedups.PointLoop(encoder, points, keys_of, "hourly", 0)
    body = bytearray()
    readings = [Reading("m", {"v": x}, {"n": str(i)}) for i, x in enumerate(samples)]
    for reading in readings:  # series and field keys known: the loop takes every one
        encoder.encode(reading, "hourly", 0)
        keys_of(reading.fields, encoder.fields_mask)
    assert loop.run(iter(readings), body, len(readings) + 1) is pusher.points.pointloop.END
    assert body.decode().split("\n")[:-1] == [encode(r, default_time=0) for r in readings]


@pytest.mark.parametrize("precision", ["s", "ms", "us", "ns"])
def test_own_times_are_stamped_as_python_stamps_them(precision):
    moments = [datetime(1, 1, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 999_999),
               datetime(2262, 4, 11, 23, 47, 16, 854_776, tzinfo=UTC),
               datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
               datetime(2026, 3, 29, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"))]
    encoder, points, keys_of = Encoder(precision), PointSet(), KeySets()
    points.clear("0")
    loop = _speedups.PointLoop(encoder, points, keys_of, "hourly", 0)
    readings = [Reading("m", {"v": 1}, time=moment) for moment in moments]
    encoder.encode(readings[0], "hourly", 0)
    keys_of(readings[0].fields, encoder.fields_mask)
    body, taken = bytearray(), []
    iterator = iter(readings)
    while (item := loop.run(iterator, body, 100)) is not pusher.points.pointloop.END:
        taken.append(item)
    assert body.decode().split("\n")[:-1] == [encode(r, precision=precision)
                                              for r in readings if r not in taken]
    # Stamps beyond int64 (in nanoseconds) are handed back: Python writes them (and
    # InfluxDB refuses them with its reason).
    assert taken == [r for r in readings
                     if not -(2**63) <= int(encode(r, precision=precision).split()[-1]) < 2**63]


def test_a_failing_source_keeps_the_lines_before_it_alike(monkeypatch, caplog):
    def failing():
        yield Reading("m", {"v": 1.5})
        yield Reading("m", {"v": 2.5}, {"k": "v"})
        raise RuntimeError("the source broke")

    results = []
    for compiled in (True, False):
        monkeypatch.setattr(pusher.points.pointloop, "COMPILED",
                            _speedups.PointLoop if compiled else None)
        sink = Lines()
        record = collect(Run("s", lambda window: failing(), {}, "hourly", Encoder("s"), sink),
                         WINDOWS[:1])
        results.append((sink.added, record.readings, record.errors))
    assert results[0] == results[1]
    assert len(results[0][0]) == 2 and "the source broke" in results[0][2][0]


def test_a_loop_whose_init_did_not_complete_refuses_to_run():
    loop = _speedups.PointLoop.__new__(_speedups.PointLoop)
    with pytest.raises(RuntimeError, match="did not complete"):
        loop.run(iter([]), bytearray(), 10)
    with pytest.raises(ValueError, match="unknown precision"):
        encoder = Encoder("s")
        encoder.precision = "h"
        _speedups.PointLoop(encoder, PointSet(), KeySets(), "hourly", 0)
    good = _speedups.PointLoop(Encoder("s"), PointSet(), KeySets(), "hourly", 0)
    with pytest.raises(TypeError, match="iterator"):
        good.run([Reading("m", {"v": 1})], bytearray(), 10)  # a list, not an iterator


@pytest.mark.parametrize(("pure", "expected"), [("1", "None"), ("", "PointLoop")])
def test_pusher_pure_python_switches_the_compiled_loop_off(pure, expected):
    # How scripts/test.sh runs the pipeline's tests on the fallback a machine without a
    # compiler gets.
    env = {**os.environ, "PUSHER_PURE_PYTHON": pure}
    shown = subprocess.run(
        [sys.executable, "-c", "import pusher.points.pointloop as p; print(p.COMPILED)"],
        env=env, capture_output=True, text=True, check=True).stdout
    assert expected in shown
    assert ("_speedups" in shown) == (expected != "None")


def test_a_build_without_a_c_compiler_skips_the_extension_with_a_warning(tmp_path):
    # What pip runs on a machine without gcc or Python headers: setup.py's optional
    # extension fails to compile, the build goes on, and pusher runs its own loop.
    root = Path(__file__).resolve().parent.parent
    for name in ("setup.py", "setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(root / name, tmp_path / name)
    shutil.copytree(root / "pusher", tmp_path / "pusher",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    built = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--build-lib", "out", "--build-temp", "tmp"],
        cwd=tmp_path, env={**os.environ, "CC": "false"}, capture_output=True, text=True,
        timeout=120, check=False)
    assert built.returncode == 0, built.stderr[-2000:]
    assert 'building extension "pusher.points._speedups" failed' in built.stdout + built.stderr
    assert not list((tmp_path / "out").rglob("*.so"))
    shown = subprocess.run(
        # -S: not the editable install's finder, which maps pusher.points._speedups to this tree
        [sys.executable, "-S", "-c",
         "import pusher.points.pointloop as p; print(p.COMPILED, p.__file__)"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)}, capture_output=True,
        text=True, check=True).stdout
    assert shown.startswith("None ") and str(tmp_path) in shown
