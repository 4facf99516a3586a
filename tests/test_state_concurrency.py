"""State files two processes touch at once: nothing lost, nothing overwritten, no shared names."""

import json
import subprocess
from datetime import UTC, datetime

import requests
from fault_proxy import fault_proxy
from ops_helpers import command, count, environment, grid_source, pusher, write_config
from servers import free_port

from pusher.config import load_config
from pusher.runs.catchup import finish
from pusher.runs.collect import Outputs, run_context
from pusher.runs.pipeline import RunRecord
from pusher.writers.deadletter import DeadLetter
from pusher.writers.spool import Spool

CLASH = '[sources.clash]\ntype = "python"\ncallable = "ops_readers:clashing"\nseries = 2000\n'


def test_spool_retry_racing_a_collect_that_refuses_loses_no_refused_line(
        tmp_path, influxdb1, influx_db):
    # v is an integer in this database's shard for 2026-01-01: every clash point is refused.
    requests.post(f"{influxdb1.url}/write", params={"db": influx_db},
                  data="clash,k=first v=1i 1767225600000000000", timeout=10).raise_for_status()
    config = write_config(tmp_path, influxdb1.url, influx_db, CLASH, extra="batch_size = 20")
    collect = subprocess.Popen(command("collect", "clash", "--since", "2026-01-01T00:00Z",
                                       "--until", "2026-01-01T01:00Z", config=config),
                               env=environment(), stderr=subprocess.PIPE, text=True)
    retries_during_collect = 0
    while collect.poll() is None:
        result = pusher("spool", "retry", config=config)
        assert "Traceback" not in result.stderr, result.stderr
        retries_during_collect += collect.poll() is None
    _, stderr = collect.communicate()
    assert "readings=2000" in stderr, stderr
    assert retries_during_collect >= 1
    pusher("spool", "flush", config=config)

    refused = {r["line"] for r in DeadLetter(tmp_path / "state/dead-letter.jsonl").records()
               if r.get("line", "").startswith("clash,")}
    spooled = {line for batch in Spool(tmp_path / "state/spool").pending()
               for line in batch.lines if line.startswith("clash,")}
    assert len(refused | spooled) == 2000  # each refused line is somewhere, none lost
    assert count(influxdb1, influx_db, measurement="clash") == 1


def test_two_runs_ending_in_the_same_second_keep_both_run_points(tmp_path, influxdb1,
                                                                 influx_db):
    config = load_config(write_config(tmp_path, influxdb1.url, influx_db, grid_source()))
    ended = datetime(2026, 1, 1, 12, 0, 0, 400000, tzinfo=UTC)
    outputs = Outputs(config, False, None)  # type: ignore[arg-type]
    context = run_context(config, outputs)
    spec = config.sources["grid"]
    for duration in (1.0, 2.0):  # two runs, both ending at `ended`
        finish(context, spec, RunRecord("grid", duration=duration), None, ended)
    outputs.close()
    rows = influxdb1.select('SELECT "duration" FROM "pusher_runs"', db=influx_db)
    assert [(row["time"], row["duration"]) for row in rows] == [
        (int(ended.timestamp()), 1.0), (int(ended.timestamp()) + 1, 2.0)]


def test_sources_x_dot_y_and_x_underscore_y_share_no_state_file(tmp_path, influxdb1,
                                                                influx_db):
    sources = (grid_source('"x.y"', series=2) + grid_source("x_y", series=3))
    down = write_config(tmp_path, f"http://127.0.0.1:{free_port()}", influx_db, sources)
    for name in ("x.y", "x_y"):
        pusher("collect", name, "--since", "2026-01-01T00:00Z", "--until",
               "2026-01-01T01:00Z", config=down)
    shown = json.loads(pusher("spool", "show", "--json", config=down).stdout)
    assert shown["waiting"] == {"x.y": 3, "x_y": 4}  # points and each run's own point
    names = {p.name.split("-", 3)[3] for p in (tmp_path / "state/spool").glob("*.lp")}
    assert names == {"x%2Ey.lp", "x_y.lp"}

    up = write_config(tmp_path, influxdb1.url, influx_db, sources)
    for name in ("x.y", "x_y"):
        done = pusher("backfill", name, "--since", "2026-01-02T00:00Z", "--until",
                      "2026-01-02T02:00Z", config=up)
        assert done.returncode == 0, done.stderr
    assert {p.name for p in (tmp_path / "state/backfill").glob("*.json")} == {
        "x%2Ey.json", "x_y.json"}
    assert Spool(tmp_path / "state/spool").count_lines() == 0  # both spools replayed
    # Both write grid,k=k000N: 3 series in 3 windows.
    assert count(influxdb1, influx_db) == 3 * 3


def test_a_line_refused_twice_is_listed_once(tmp_path):
    """Killed between the dead-letter record and the ack, a batch's refusal is repeated."""
    dead = DeadLetter(tmp_path / "dead-letter.jsonl")
    for _ in range(2):
        dead.add("grid", "HTTP 400: field type conflict", line="grid v=\"x\" 1")
    dead.add("grid", "field 'v' is nan", reading="Reading(grid, v=nan)")
    assert [r.get("line") or r.get("reading") for r in dead.records()] == [
        'grid v="x" 1', "Reading(grid, v=nan)"]


def test_a_batch_another_run_spools_during_a_replay_is_not_this_runs_to_count(
        tmp_path, influxdb1, influx_db):
    """Found with parallel Airflow backfills: a run's replay at start counted the batches the
    other runs were spooling and posting meanwhile as left in the spool, and the run exited 1
    with every point of its own written and nothing said. What a replay leaves is what it
    found and could not deliver."""
    config = write_config(tmp_path, "PROXY", influx_db, grid_source(series=3))
    spool = Spool(tmp_path / "state" / "spool")
    spool.put("earlier", ["seed,granularity=hourly v=1i 1767225600"])  # an earlier run's

    def another_run_spools(path: str, body: bytes) -> None:
        if b"seed," in body and not list(spool.directory.glob("*other*")):
            spool.put("other", ["other,granularity=hourly v=2i 1767225600"])

    with fault_proxy(influxdb1.url) as proxy:
        proxy.fault_for = another_run_spools
        config.write_text(config.read_text().replace("PROXY", proxy.url))
        result = pusher("collect", "grid", "--since", "2026-01-01T00:00Z", "--until",
                        "2026-01-01T01:00Z", config=config)
    assert result.returncode == 0, result.stderr
    assert "- spool replayed written=1 refused=0 left=0" in result.stderr, result.stderr
    assert "written=3" in result.stderr
    # The other run's batch is still there, for that run (or the next replay) to deliver.
    assert [b.source for b in spool.pending()] == ["other"]
    assert count(influxdb1, influx_db, measurement="seed", field="v") == 1
