"""A batch failing for its own content never blocks later ones; stuck batches are split,
said in the summary and `pusher status`, and an operator can move them aside."""

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fault_proxy import fault_proxy
from ops_helpers import count, grid_source, pusher, write_config
from test_acknowledgement import v2_config

from pusher.writers.deadletter import DeadLetter
from pusher.writers.spool import Spool

HOUR = 3600
# What InfluxDB 2.0.x answered to points beyond the retention period (influxdb#19785 and
# friends): a 500, where 2.7.12 answers 422 "partial write: dropped N points outside
# retention policy". The proxy turns the real server's 422 into 2.0.x's 500.
INTERNAL = b'{"code":"internal error","message":"unexpected error writing points to database"}'


def like_influxdb_2_0(answer):
    status, headers, body = answer
    if status == 422 and b"retention" in body:
        return 500, headers, INTERNAL
    return answer


@pytest.fixture
def short_bucket(influxdb2):
    """A bucket keeping 3 hours: last hour's window is in, two days ago is out."""
    name = f"short_{uuid.uuid4().hex[:8]}"
    influxdb2.create_bucket(name, retention_seconds=3 * HOUR)
    return name


def points(influxdb2, bucket: str, measurement: str) -> int:
    rows = influxdb2.flux(f'from(bucket: "{bucket}") |> range(start: 0) '
                          f'|> filter(fn: (r) => r._measurement == "{measurement}") |> count()')
    return sum(int(row["_value"]) for row in rows)


def test_a_batch_answered_500_for_its_content_blocks_no_later_batch(
        tmp_path, influxdb2, short_bucket):
    with fault_proxy(influxdb2.url) as proxy:
        proxy.rewrite = like_influxdb_2_0
        sources = (grid_source("old", series=3)
                   + '[sources.new]\ntype = "python"\ncallable = "ops_readers:tick"\n')
        config = v2_config(tmp_path, proxy.url, short_bucket, influxdb2.token, sources,
                           extra="max_attempts = 2")
        start = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0,
                                                                microsecond=0)
        old = pusher("collect", "old", "--since", start.isoformat(), "--until",
                     (start + timedelta(hours=2)).isoformat(), config=config)
        assert old.returncode == 1
        assert "answered HTTP 500: unexpected error writing points" in old.stderr
        status = pusher("status", config=config)
        stuck = re.findall(r"batch \S+ \(3 points of old\) stuck: 1 failed attempts since .*"
                           r"HTTP 500.*`pusher spool dead-letter \S+` moves it aside",
                           status.stdout)
        assert len(stuck) == 2, status.stdout  # one batch per window

        new = pusher("collect", "new", config=config)
    # The stuck batches failed again (their limit), the others went through (old's own run
    # point, spooled behind them, and new's points), then the stuck ones were split:
    # InfluxDB took nothing of them, so all of their points are dead-lettered.
    assert new.returncode == 1, new.stderr  # points were refused: cron hears of it
    assert "- new windows=2 readings=2 written=2 refused=0 [done]" in new.stderr
    assert "- spool replayed written=1 refused=6 left=0" in new.stderr
    assert points(influxdb2, short_bucket, "tick") == 2
    assert points(influxdb2, short_bucket, "grid") == 0
    assert Spool(tmp_path / "state" / "spool").count_lines() == 0
    refused = list(DeadLetter(tmp_path / "state" / "dead-letter.jsonl").records())
    assert len(refused) == 6 and {r["source"] for r in refused} == {"old"}
    assert all("HTTP 500" in r["reason"] and "after 2 failed attempts" in r["reason"]
               for r in refused)


def test_a_stuck_batch_with_good_lines_keeps_them_and_refuses_the_rest(
        tmp_path, influxdb1, influx_db):
    """Split, not thrown away: lines InfluxDB takes are written, only the others refused."""
    with fault_proxy(influxdb1.url) as proxy:
        proxy.fault_for = lambda path, body: (500, {}) if b"k=k0001" in body else None
        config = write_config(tmp_path, proxy.url, influx_db, grid_source(series=4),
                              extra="max_attempts = 1")
        result = pusher("collect", "grid", "--since", "2026-01-01T00:00Z", "--until",
                        "2026-01-01T01:00Z", config=config)
    assert result.returncode == 1, result.stderr
    assert "written=3 refused=1" in result.stderr
    assert count(influxdb1, influx_db) == 3
    [refused] = DeadLetter(tmp_path / "state" / "dead-letter.jsonl").records()
    assert "k=k0001" in refused["line"] and "HTTP 500" in refused["reason"]


def test_an_influxdb_that_fails_everything_has_nothing_dead_lettered(
        tmp_path, influxdb1, influx_db):
    """Splitting needs a sign that InfluxDB is well: a write it took in the same command."""
    with fault_proxy(influxdb1.url) as proxy:
        proxy.fault_for = lambda path, body: (500, {}) if path.startswith("/write") else None
        config = write_config(tmp_path, proxy.url, influx_db, grid_source(series=2),
                              extra="max_attempts = 1")
        pusher("collect", "grid", "--since", "2026-01-01T00:00Z", "--until",
               "2026-01-01T02:00Z", config=config)
        flushed = pusher("spool", "flush", config=config)
    assert flushed.returncode == 1
    assert "(kept: InfluxDB accepted nothing yet)" in flushed.stderr
    assert Spool(tmp_path / "state" / "spool").count_lines() == 5
    assert list(DeadLetter(tmp_path / "state" / "dead-letter.jsonl").records()) == []


def test_an_operator_moves_a_stuck_batch_to_the_dead_letter_or_drops_one(
        tmp_path, influxdb1, influx_db):
    with fault_proxy(influxdb1.url) as proxy:
        proxy.fault_for = lambda path, body: (500, {}) if b"grid," in body else None
        config = write_config(tmp_path, proxy.url, influx_db,
                              grid_source("a", series=2) + grid_source("b", series=3),
                              extra="max_attempts = 100")
        runs = [pusher("collect", name, "--since", "2026-01-01T00:00Z", "--until",
                       "2026-01-01T01:00Z", config=config) for name in ("a", "b")]
    # b's collect replayed a's batch first: its summary says that batch is stuck, with
    # the command that moves it aside.
    stuck = [line for line in runs[1].stderr.splitlines() if line.startswith("- spool: ")]
    assert len(stuck) == 1, runs[1].stderr
    assert re.fullmatch(r"- spool: batch \S+ \(2 points of a\) stuck: 2 failed attempts since "
                        r"\d{4}-\d\d-\d\d \d\d:\d\d UTC, last answer: .*HTTP 500.*", stuck[0])
    shown = json.loads(pusher("spool", "show", "--json", config=config).stdout)
    ids = {b["source"]: b["batch"] for b in shown["batches"] if b["attempts"]}
    assert shown["waiting"] == {"a": 2, "b": 3} and set(ids) == {"a", "b"}

    moved = pusher("spool", "dead-letter", ids["a"][:24], config=config)
    assert moved.returncode == 0, moved.stderr
    assert "2 points of a moved to" in moved.stderr
    dropped = pusher("spool", "drop", ids["b"], config=config)
    assert "3 points of b will not reach InfluxDB" in dropped.stderr
    [unknown] = pusher("spool", "drop", "nope", config=config).stderr.splitlines()
    assert unknown.startswith("pusher: error: no spooled batches match 'nope'")
    assert Spool(tmp_path / "state" / "spool").count_lines() == 0
    refused = list(DeadLetter(tmp_path / "state" / "dead-letter.jsonl").records())
    assert len(refused) == 2 and all("failed attempts; last answer: InfluxDB at" in r["reason"]
                                     for r in refused)
    # Once the cause is fixed, `spool retry` brings them back.
    config.write_text(config.read_text().replace(proxy.url, influxdb1.url))
    retried = pusher("spool", "retry", config=config)
    assert retried.returncode == 0, retried.stderr
    assert count(influxdb1, influx_db) == 2
