"""platforms/airflow/pusher_dags.py in a real Apache Airflow 3, writing to a real InfluxDB 2.x.

One Airflow home per module (SQLite, LocalExecutor): the DAG file parses with no import
error for a source named "web shop"; `airflow dags test` lands exactly the points of the
run's interval; a config error fails at once although retries are set; a backfill of 3
hours runs through the real scheduler; InfluxDB's URL, org and token come only from the
Airflow Connection `influxdb_default` and appear in no task log and no rendered template.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from airflow_helpers import ROOT, Airflow, airflow_venv
from ops_helpers import PLUGINS, count, grid_source, write_config
from servers import log_tail

from pusher.deploy.airflow import dag_id_for

# `url` comes from the Connection `shop_api`, password included: the point carries only
# a digest of it, so the test sees that it arrived without InfluxDB holding it.
RECORDER = '''
import hashlib
from pusher.reading import Reading

def windows(window, url=""):
    yield Reading("seen", {"start": window.start.isoformat(), "end": window.end.isoformat(),
                           "url": hashlib.sha256(url.encode()).hexdigest()[:16]})
'''
WEB_SHOP = dag_id_for("web shop")
SHOP_PASSWORD = "pa$$:w/rd-9f3e"
SHOP_URL = "http://reader:pa%24%24%3Aw%2Frd-9f3e@shop.example:8443"


@pytest.fixture(scope="module")
def bucket(influxdb2) -> str:
    name = f"airflow_{uuid.uuid4().hex[:8]}"
    influxdb2.create_bucket(name)
    return name


@pytest.fixture(scope="module")
def airflow(tmp_path_factory, influxdb2, bucket) -> Iterator[Airflow]:
    home = tmp_path_factory.mktemp("airflow")
    plugins = home / "plugins"
    plugins.mkdir()
    (plugins / "airflow_recorder.py").write_text(RECORDER)
    config = home / "pusher.toml"
    # No URL, org or token of the real server here: they come from the Connection.
    config.write_text(f'''
[pusher]
state_dir = "state"
timezone = "Europe/Paris"
[influx]
url = "http://127.0.0.1:9"
org = "not-this-org"
bucket = "{bucket}"
retries = 0
[airflow]
retries = 2              # a retry would wait retry_delay, 300 s: the config error must not
[airflow.sources."web shop"]
conn_id = "shop_api"
[sources."web shop"]
type = "python"
callable = "airflow_recorder:windows"
[sources.daily]
type = "python"
granularity = "daily"
callable = "airflow_recorder:windows"
[sources.broken]
type = "no-such-type"
[sources.odd]
type = "python"
schedule = "every 7m"
[sources.nocon]
type = "python"
callable = "airflow_recorder:windows"
[airflow.sources.nocon]
conn_id = "no_such_connection"
influx_conn_id = "no_such_influx"
''')
    airflow = Airflow(home, config, plugins)
    airflow.ok("db", "migrate")
    host, port = influxdb2.url.removeprefix("http://").split(":")
    connections = home / "connections.json"
    connections.write_text(json.dumps({
        "influxdb_default": {"conn_type": "influxdb", "host": host, "port": int(port),
                             "schema": "http", "extra": json.dumps({
                                 "token": influxdb2.token, "org_name": influxdb2.org})},
        "shop_api": {"conn_type": "http", "host": "shop.example", "port": 8443,
                     "login": "reader", "password": SHOP_PASSWORD}}))
    airflow.ok("connections", "import", str(connections))
    connections.unlink()
    airflow.outputs.clear()  # these commands hold the secrets by necessity; tasks must not
    airflow.ok("dags", "reserialize")
    yield airflow


def seen(influxdb2, bucket: str, start: str, stop: str
         ) -> list[tuple[str, str, str, str, str]]:
    """(time, granularity, start, end, url digest) of the recorder's points in [start, stop)."""
    rows = influxdb2.flux(f'from(bucket: "{bucket}") |> range(start: {start}, stop: {stop})'
                          ' |> filter(fn: (r) => r._measurement == "seen")'
                          ' |> pivot(rowKey: ["_time"], columnKey: ["_field"], '
                          'valueColumn: "_value")')
    return sorted((r["_time"], r["granularity"], r["start"], r["end"], r["url"]) for r in rows)


def digest(url: str) -> str:
    import hashlib

    return hashlib.sha256(url.encode()).hexdigest()[:16]


def test_no_import_error_and_one_dag_per_source(airflow: Airflow):
    assert airflow.json("dags", "list-import-errors") == []
    dags = {d["dag_id"] for d in airflow.json("dags", "list")}
    assert dags == {WEB_SHOP, "pusher_daily", "pusher_broken", "pusher_odd", "pusher_nocon"}
    assert WEB_SHOP.startswith("pusher_web_shop_")


def test_a_missing_config_is_one_import_error_naming_it(airflow: Airflow, tmp_path: Path):
    missing = tmp_path / "nowhere.toml"
    env = airflow.env | {"PUSHER_CONFIG": str(missing)}
    done = airflow.run("dags", "list-import-errors", "--local", "-o", "json", env=env)
    [error] = json.loads(done.stdout.strip().splitlines()[-1])
    assert f"{missing}: no such file (set $PUSHER_CONFIG" in error["error"]


def test_dags_test_lands_exactly_the_points_of_its_interval(airflow: Airflow, influxdb2,
                                                            bucket: str):
    # A manual run at 02:00 Paris covers the hour before: 01:00-02:00 Paris, 00:00-01:00 UTC.
    airflow.ok("dags", "test", WEB_SHOP, "2026-11-02T02:00:00+01:00")
    assert seen(influxdb2, bucket, "2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z") == [
        ("2026-11-02T00:00:00Z", "hourly", "2026-11-02T00:00:00+00:00",
         "2026-11-02T01:00:00+00:00", digest(SHOP_URL))]
    # The daily DAG's run at midnight Paris covers the Paris day before it.
    airflow.ok("dags", "test", "pusher_daily", "2026-11-11T00:00:00+01:00")
    assert seen(influxdb2, bucket, "2026-11-09T00:00:00Z", "2026-11-12T00:00:00Z") == [
        ("2026-11-09T23:00:00Z", "daily", "2026-11-09T23:00:00+00:00",
         "2026-11-10T23:00:00+00:00", digest(""))]


@pytest.mark.parametrize(("dag_id", "problem"), [
    # pusher itself refuses the config (exit 2) when the task runs...
    ("pusher_broken", "pusher exited 2: usage or config error (not retried): pusher: "),
    # ...or the source could not be a DAG at all: its placeholder says why.
    ("pusher_odd", "sources.odd.schedule: 'every 7m' cannot be a cron schedule"),
    # ...or a Connection it names does not exist.
    ("pusher_nocon", "no Airflow Connection 'no_such_connection' "
                     "(airflow.sources.nocon.conn_id)"),
])
def test_a_config_error_fails_at_once_without_retries(airflow: Airflow, dag_id: str,
                                                      problem: str):
    # retries = 2, retry_delay = 300 s: a retried failure would outlast this bound.
    done = airflow.run("dags", "test", dag_id, "2026-11-02T02:00:00+01:00", timeout=600)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert problem in output and f"sources.{dag_id.removeprefix('pusher_')}." in output
    if dag_id == "pusher_nocon":  # an InfluxDB Connection that is not there is no error
        assert "no Airflow Connection 'no_such_influx': [influx] as written" in output
    [(state, tries, max_tries)] = airflow.db(
        "SELECT state, try_number, max_tries FROM task_instance WHERE dag_id = ?", dag_id)
    assert (state, tries) == ("failed", 1)
    assert max_tries == (0 if dag_id == "pusher_odd" else 2)


def test_a_backfill_of_three_hours(airflow: Airflow, influxdb2, bucket: str):
    # A backfill's runs stay queued while the DAG is paused, as new DAGs are. Both are
    # asked before the scheduler starts: SQLite takes one writer at a time.
    airflow.ok("dags", "unpause", WEB_SHOP)
    airflow.ok("backfill", "create", "--dag-id", WEB_SHOP,
               "--from-date", "2026-11-05T00:00:00+00:00",
               "--to-date", "2026-11-05T02:00:00+00:00")
    with airflow.servers():
        deadline = time.monotonic() + 900  # a bound for a hang; a loaded machine needs minutes
        while time.monotonic() < deadline:
            states = [s for (s,) in airflow.db("SELECT state FROM dag_run WHERE dag_id = ? "
                                               "AND run_type = 'backfill'", WEB_SHOP)]
            # Unpausing made the latest interval's scheduled run; one more comes if the test
            # runs across the top of an hour (seen on a loaded machine: 21:5x to 22:1x).
            scheduled = airflow.db("SELECT state, data_interval_start, data_interval_end FROM "
                                   "dag_run WHERE dag_id = ? AND run_type = 'scheduled' "
                                   "ORDER BY data_interval_start", WEB_SHOP)
            runs = states + [r[0] for r in scheduled]
            if len(states) == 3 and scheduled and all(s in ("success", "failed") for s in runs):
                break
            time.sleep(2)
        assert states == ["success"] * 3, (states, airflow.db(
            "SELECT run_id, state, try_number FROM task_instance WHERE dag_id = ?", WEB_SHOP),
            log_tail(airflow.home / "scheduler.log"))
    # The scheduled runs, with pusher's catch-up: whole consecutive hours, the last of them
    # the last whole hour (5 minutes' slack for the top of an hour passing since the loop).
    assert 1 <= len(scheduled) <= 2
    assert [state for state, _, _ in scheduled] == ["success"] * len(scheduled)
    hours = [(_hours(start), _hours(end)) for _, start, end in scheduled]
    assert all(end - start == 1 for start, end in hours)
    assert all(later[0] == earlier[1] for earlier, later in itertools.pairwise(hours))
    assert 0 <= time.time() / 3600 - hours[-1][1] < 1 + 5 / 60
    # (The next hour's run may have begun its log since the loop: logs are matched by end.)
    logs = [p.read_text() for p in airflow.log_files() if "scheduled__" in str(p)]
    for _, _, end in scheduled:
        assert [log for log in logs if f"--until {_iso(end)} --catch-up" in log]
    assert seen(influxdb2, bucket, "2026-11-04T00:00:00Z", "2026-11-06T00:00:00Z") == [
        (f"2026-11-05T0{h}:00:00Z", "hourly", f"2026-11-05T0{h}:00:00+00:00",
         f"2026-11-05T0{h + 1}:00:00+00:00", digest(SHOP_URL)) for h in range(3)]


def _hours(stamp: str) -> float:
    """Hours since the epoch of a timestamp as Airflow's SQLite stores it (UTC)."""
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp() / 3600


def _iso(stamp: str) -> str:
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC).isoformat()


def test_the_connections_secrets_are_in_no_log_and_no_rendered_template(
        airflow: Airflow, influxdb2, bucket: str):
    if not airflow.outputs:  # run alone: make a run to look at
        airflow.ok("dags", "test", WEB_SHOP, "2026-11-07T02:00:00+01:00")
    logs = [p.read_text(errors="replace") for p in airflow.log_files()]
    rendered = [r for (r,) in airflow.db("SELECT rendered_fields FROM "
                                         "rendered_task_instance_fields")]
    texts = airflow.outputs + logs + rendered
    # What is looked at is real: pusher's summaries, and the task's rendered arguments.
    assert any("- web shop windows=1 readings=1 written=1" in t for t in texts)
    assert any('"influx_conn_id": "influxdb_default"' in r for r in rendered)
    assert influxdb2.token not in (airflow.home / "pusher.toml").read_text()
    for secret in (influxdb2.token, SHOP_PASSWORD, SHOP_URL):
        assert [t[:200] for t in texts if secret in t] == []


TASK = '''
import sys
from datetime import datetime
from pusher.deploy.airflow_dags import collect_task
collect_task("grid", sys.argv[1], "python", influx_conn_id="", conn_id="", catch_up=False,
             data_interval_start=datetime.fromisoformat("2026-11-02T05:00:00+00:00"),
             data_interval_end=datetime.fromisoformat("2026-11-02T06:00:00+00:00"))
'''


def test_the_workers_own_config_path_wins(tmp_path: Path, influxdb1, influx_db):
    # The DAG processor read the config at one path; this worker has it at another.
    config = write_config(tmp_path, influxdb1.url, influx_db, grid_source(series=2))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}:{PLUGINS}"}
    python = str(airflow_venv() / "bin" / "python")
    elsewhere = subprocess.run([python, "-c", TASK, "/etc/nowhere/pusher.toml"],
                               env=env, capture_output=True, text=True, timeout=300)
    assert elsewhere.returncode != 0
    assert "AirflowFailException: pusher exited 2" in elsewhere.stderr
    assert "/etc/nowhere/pusher.toml: no such file" in elsewhere.stderr
    here = subprocess.run([python, "-c", TASK, "/etc/nowhere/pusher.toml"],
                          env=env | {"PUSHER_CONFIG": str(config)}, capture_output=True,
                          text=True, timeout=300)
    assert here.returncode == 0, here.stderr[-2000:]
    assert count(influxdb1, influx_db) == 2
