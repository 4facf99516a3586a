"""window_readings: a source read window by window, or many windows at once (read_windows)."""

import io
from datetime import UTC, datetime

from pusher.errors import SourceError
from pusher.points.lineprotocol import Encoder
from pusher.reading import Granularity, Reading, windows_between
from pusher.runs.pipeline import Run, collect
from pusher.sources import window_readings
from pusher.writers.sinks import StdoutSink

WINDOWS = list(windows_between(datetime(2024, 1, 1, tzinfo=UTC),
                               datetime(2024, 1, 1, 3, tzinfo=UTC), Granularity.HOURLY))


def collect_lines(source, options=None):
    out = io.StringIO()
    run = Run("s", source, options or {}, "hourly", Encoder("s"), StdoutSink(out))
    record = collect(run, WINDOWS)
    return out.getvalue().splitlines(), record


def test_a_plain_source_is_called_per_window_only_when_read():
    calls = []

    def source(window, label="x"):
        calls.append(window)
        yield Reading("m", {"v": 1}, {"label": label})

    opened = window_readings(source, WINDOWS, {"label": "y"})
    assert calls == []  # nothing asked until a window is read
    assert [[r.tags for r in readings] for readings in opened] == [[{"label": "y"}]] * 3
    assert calls == WINDOWS


def test_a_source_with_read_windows_is_asked_once_for_all():
    asked = []

    def source(window):
        raise AssertionError("read_windows is used instead")

    def read_windows(windows, label):
        asked.append(list(windows))
        return [iter([Reading("m", {"v": n}, {"label": label})]) for n, _ in enumerate(windows)]

    source.read_windows = read_windows
    lines, record = collect_lines(source, {"label": "z"})
    assert asked == [WINDOWS]
    assert lines == [f"m,granularity=hourly,label=z v={n}i {int(w.start.timestamp())}"
                     for n, w in enumerate(WINDOWS)]
    assert record.ok and record.windows == 3


def test_read_windows_failing_fails_each_window_not_the_run():
    def source(window):
        yield from ()

    def read_windows(windows):
        raise SourceError("the API is down")

    source.read_windows = read_windows
    lines, record = collect_lines(source)
    assert lines == [] and record.windows == 3
    assert record.errors == [f"{w}: the API is down" for w in WINDOWS]


def test_read_windows_giving_the_wrong_count_is_named():
    def source(window):
        yield from ()

    source.read_windows = lambda windows: [iter(())]
    _, record = collect_lines(source)
    assert record.errors == [f"{w}: read_windows gave 1 readings for 3 windows" for w in WINDOWS]
