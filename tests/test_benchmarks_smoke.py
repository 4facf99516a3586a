"""The benchmark harness at its smallest sizes: it must keep working (no time is asserted)."""

import sys
from pathlib import Path

import pytest
from server_influxdb2 import InfluxDB2
from servers import InfluxDB1

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level directory, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.backfill import backfill_figure, history_server  # noqa: E402
from benchmarks.dryrun import dry_run_figure  # noqa: E402
from benchmarks.encode import encode_figure, pipe_figure  # noqa: E402
from benchmarks.prom import decode_figure, prometheus_figure, span_memory  # noqa: E402
from benchmarks.push import (  # noqa: E402
    compare,
    influxdb1_target,
    influxdb2_target,
    peak_rss,
)
from benchmarks.report import Figure, render_markdown, render_table  # noqa: E402
from benchmarks.startup import heavy_imports  # noqa: E402


def test_encoders_agree_and_are_all_timed():
    # encode_figure itself checks that pusher's lines equal the reference encoder's.
    took = encode_figure(2_500)
    assert set(took) == {"pusher", "reference", "point"} and all(v > 0 for v in took.values())


def test_the_pipe_figure_times_both_sides():
    # pipe_figure itself checks that the readings survive pickling.
    took = pipe_figure(2_500, batch=1_000)
    assert set(took) == {"encode", "pickle"} and all(v > 0 for v in took.values())


@pytest.mark.parametrize("pure", [False, True])
def test_the_dry_run_and_its_baseline_print_the_same_lines(pure, tmp_path):
    took = dry_run_figure(2_000, tmp_path, repeats=1, pure_python=pure)
    assert took["lines_match"] == 1.0 and took["pusher"] > 0 and took["reference"] > 0


@pytest.mark.parametrize("server", ["influxdb1", "influxdb2"])
def test_end_to_end_stores_every_point(server, request, tmp_path):
    if server == "influxdb1":
        influx: InfluxDB1 = request.getfixturevalue("influxdb1")
        target = influxdb1_target(influx, request.getfixturevalue("influx_db"))
    else:
        influx2: InfluxDB2 = request.getfixturevalue("influxdb2")
        target = influxdb2_target(influx2, request.getfixturevalue("influx_bucket"))
    # compare() raises unless baseline and pusher each stored exactly 3,000 points.
    result = compare(target, 3_000, tmp_path, repeats=1)
    assert "readings=3000 written=3000 refused=0 [done]" in result["summary"]
    assert result["peak_rss_kib"] > 0


def test_peak_rss_is_measured(tmp_path, influxdb1: InfluxDB1, influx_db):
    assert peak_rss(influxdb1_target(influxdb1, influx_db), 1_000, tmp_path, hour=7) > 10_000


def test_prometheus_source_turns_every_sample_into_a_point():
    took = prometheus_figure(2_000, repeats=1)  # raises unless 2,000 lines come out
    assert took["body_mb"] > 0


def test_decoders_are_all_timed():
    took = decode_figure(2_000, repeats=1)
    assert {"json_s", "pusher_s", "fallback_s"} <= set(took) and took["body_mb"] > 0


def test_span_memory_is_measured():
    # span_memory raises unless every sample became a reading.
    measured = span_memory(5, 100)
    assert measured["peak_mb"] > 0 and measured["bytes_per_sample"] > 0


def test_backfill_ways_agree_on_a_real_prometheus(tmp_path):
    # backfill_figure raises unless the batched lines equal the per-window lines.
    with history_server(tmp_path, days=2, series=5, settle=False) as prepared:
        took = backfill_figure(prepared, repeats=1)
    assert took["windows"] == 48 and took["points"] == 48 * 5
    assert (took["per_window_requests"], took["batched_requests"]) == (48, 1)


def test_pusher_commands_import_no_heavy_dependency(tmp_path):
    assert heavy_imports(tmp_path) == {"pusher --help": [], "pusher collect tiny --dry-run": []}


def test_report_renders_every_figure():
    figures = [Figure("encode", "Point", 10, 1.0, 6.0, ">= 5x", 5.0),
               Figure("--help", "python", None, 0.25, 0.1, "< 3x", 3.0, inverse=True)]
    table = render_table(figures)
    assert "6.00x" in table and "2.50x" in table and "NO" not in table
    markdown = render_markdown(figures, "quick", 1.0)
    assert "CPUs (nproc)" in markdown and "| encode | Point |" in markdown
