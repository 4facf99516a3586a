"""`pusher backfill`: a month of hourly windows into real InfluxDB 1.x, resumable, idempotent."""

import re
from datetime import UTC, datetime

from ops_helpers import count, grid_source, per_time, pusher, write_config

from pusher.runs.history import Watermarks
from pusher.state import read_json

JAN = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
HOUR = 3600


def test_a_month_of_hourly_windows_and_a_rerun_changes_nothing(tmp_path, influxdb1, influx_db):
    config = write_config(tmp_path, influxdb1.url, influx_db, grid_source(series=2))
    result = pusher("backfill", "grid", "--since", "2026-01-01T00:00Z", "--until",
                    "2026-01-31T00:00Z", config=config)
    assert result.returncode == 0, result.stderr
    assert "windows=720 readings=1440 written=1440" in result.stderr
    assert "chunks=30 skipped=0" in result.stderr
    assert per_time(influxdb1, influx_db) == {JAN + HOUR * h: 2 for h in range(720)}
    state = read_json(tmp_path / "state/backfill/grid.json", tmp_path / "state")
    assert len(state["done"]) == 30

    again = pusher("backfill", "grid", "--since", "2026-01-01T00:00Z", "--until",
                   "2026-01-31T00:00Z", config=config)
    assert again.returncode == 0 and "chunks=0 skipped=30" in again.stderr
    forced = pusher("backfill", "grid", "--since", "2026-01-01T00:00Z", "--until",
                    "2026-01-31T00:00Z", "--force", "--chunk", "100", config=config)
    assert forced.returncode == 0 and "chunks=8 skipped=0" in forced.stderr
    assert count(influxdb1, influx_db) == 1440
    # A backfill of the past does not pretend the source is up to date.
    assert not (tmp_path / "state/watermarks.json").exists()


def test_an_interrupted_backfill_resumes_where_it_stopped(tmp_path, influxdb1, influx_db):
    fixed = tmp_path / "fixed"
    sources = ('[sources.grid]\ntype = "python"\ncallable = "ops_readers:broken_until"\n'
               f'fixed = "{fixed}"\nat = "2026-01-02T05"\n')
    config = write_config(tmp_path, influxdb1.url, influx_db, sources)
    args = ("backfill", "grid", "--since", "2026-01-01", "--until", "2026-01-04", "--chunk", "12")
    first = pusher(*args, config=config)
    assert first.returncode == 1
    assert "chunk 2026-01-02T00:00:00+00:00/2026-01-02T12:00:00+00:00 not complete" in first.stderr
    assert len(per_time(influxdb1, influx_db)) == 72 - 1
    fixed.touch()
    second = pusher(*args, config=config)
    assert second.returncode == 0, second.stderr
    assert "windows=12 " in second.stderr and "chunks=1 skipped=5" in second.stderr
    assert per_time(influxdb1, influx_db) == {JAN + HOUR * h: 2 for h in range(72)}


def test_backfill_dry_run_prints_lines_and_keeps_no_state(tmp_path):
    config = write_config(tmp_path, "http://127.0.0.1:1", "d", grid_source(series=1))
    result = pusher("backfill", "grid", "--since", "2026-01-01", "--until", "2026-01-01T03:00Z",
                    "--dry-run", config=config)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"grid,granularity=hourly,k=k0000 v={JAN + HOUR * h}i {JAN + HOUR * h}" for h in range(3)]
    assert not (tmp_path / "state" / "backfill").exists()


def test_backfill_usage_errors_exit_2(tmp_path):
    config = write_config(tmp_path, "http://127.0.0.1:1", "d", grid_source())
    result = pusher("backfill", "grid", "--since", "2026-01-02", "--until", "2026-01-01",
                    config=config)
    assert result.returncode == 2 and "--since must be before --until" in result.stderr
    result = pusher("backfill", "nope", "--since", "1d", config=config)
    assert result.returncode == 2 and re.search(r"no source named 'nope'", result.stderr)


def test_a_backfill_that_continues_the_watermark_moves_it(tmp_path, influxdb1, influx_db):
    config = write_config(tmp_path, influxdb1.url, influx_db, grid_source(series=1))
    current = int(datetime.now(UTC).timestamp()) // HOUR * HOUR
    marks = Watermarks(tmp_path / "state")
    mark = datetime.fromtimestamp(current - 5 * HOUR, UTC)
    marks.set("grid", mark)
    # From the watermark itself: "--since 5h" would start an hour after it (a gap, which
    # moves nothing) if the top of an hour passed before the command read the clock.
    result = pusher("backfill", "grid", "--since", mark.isoformat(), config=config)
    assert result.returncode == 0, result.stderr
    # Up to the last complete window; the current one is not over yet.
    assert marks.get("grid") >= datetime.fromtimestamp(current, UTC)
