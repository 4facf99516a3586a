"""deploy/airflow/pusher_dags.py in a real Apache Airflow 3, writing to a real InfluxDB 2.x.

One Airflow home per module (SQLite, LocalExecutor): the DAG file parses with no import
error for a source named "web shop"; `airflow dags test` lands exactly the points of the
run's interval; a config error fails at once although retries are set; a backfill of 3
hours runs through the real scheduler; InfluxDB's URL, org and token come only from the
Airflow Connection `influxdb_default` and appear in no task log and no rendered template.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_helpers import Airflow

from pusher.deploy.airflow import dag_id_for

RECORDER = '''
from pusher.reading import Reading

def windows(window, **options):
    yield Reading("seen", {"start": window.start.isoformat(), "end": window.end.isoformat()})
'''
WEB_SHOP = dag_id_for("web shop")


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
''')
    airflow = Airflow(home, config, plugins)
    airflow.ok("db", "migrate")
    host, port = influxdb2.url.removeprefix("http://").split(":")
    airflow.ok("connections", "add", "influxdb_default", "--conn-type", "influxdb",
               "--conn-host", host, "--conn-port", port, "--conn-schema", "http",
               "--conn-extra", json.dumps({"token": influxdb2.token,
                                           "org_name": influxdb2.org}))
    airflow.outputs.clear()  # the line above holds the token by necessity; tasks must not
    airflow.ok("dags", "reserialize")
    yield airflow


def seen(influxdb2, bucket: str, start: str, stop: str) -> list[tuple[str, str, str, str]]:
    """(time, granularity, start, end) of the recorder's points in [start, stop)."""
    rows = influxdb2.flux(f'from(bucket: "{bucket}") |> range(start: {start}, stop: {stop})'
                          ' |> filter(fn: (r) => r._measurement == "seen")'
                          ' |> pivot(rowKey: ["_time"], columnKey: ["_field"], '
                          'valueColumn: "_value")')
    return sorted((r["_time"], r["granularity"], r["start"], r["end"]) for r in rows)


def test_no_import_error_and_one_dag_per_source(airflow: Airflow):
    assert airflow.json("dags", "list-import-errors") == []
    dags = {d["dag_id"] for d in airflow.json("dags", "list")}
    assert dags == {WEB_SHOP, "pusher_daily", "pusher_broken", "pusher_odd"}
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
         "2026-11-02T01:00:00+00:00")]
    # The daily DAG's run at midnight Paris covers the Paris day before it.
    airflow.ok("dags", "test", "pusher_daily", "2026-11-11T00:00:00+01:00")
    assert seen(influxdb2, bucket, "2026-11-09T00:00:00Z", "2026-11-12T00:00:00Z") == [
        ("2026-11-09T23:00:00Z", "daily", "2026-11-09T23:00:00+00:00",
         "2026-11-10T23:00:00+00:00")]


@pytest.mark.parametrize(("dag_id", "problem"), [
    # pusher itself refuses the config (exit 2) when the task runs...
    ("pusher_broken", "pusher exited 2: usage or config error (not retried)"),
    # ...or the source could not be a DAG at all: its placeholder says why.
    ("pusher_odd", "sources.odd.schedule: 'every 7m' cannot be a cron schedule"),
])
def test_a_config_error_fails_at_once_without_retries(airflow: Airflow, dag_id: str,
                                                      problem: str):
    # retries = 2, retry_delay = 300 s: a retried failure would outlast this bound.
    done = airflow.run("dags", "test", dag_id, "2026-11-02T02:00:00+01:00", timeout=200)
    assert done.returncode != 0
    assert problem in done.stdout + done.stderr
    [(state, tries, max_tries)] = airflow.db(
        "SELECT state, try_number, max_tries FROM task_instance WHERE dag_id = ?", dag_id)
    assert (state, tries) == ("failed", 1)
    assert max_tries == (2 if dag_id == "pusher_broken" else 0)


def test_a_backfill_of_three_hours(airflow: Airflow, influxdb2, bucket: str):
    with airflow.servers():
        # A backfill's runs stay queued while the DAG is paused, as new DAGs are.
        airflow.ok("dags", "unpause", WEB_SHOP)
        airflow.ok("backfill", "create", "--dag-id", WEB_SHOP,
                   "--from-date", "2026-11-05T00:00:00+00:00",
                   "--to-date", "2026-11-05T02:00:00+00:00")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            states = [s for (s,) in airflow.db("SELECT state FROM dag_run WHERE dag_id = ? "
                                               "AND run_type = 'backfill'", WEB_SHOP)]
            if len(states) == 3 and all(s in ("success", "failed") for s in states):
                break
            time.sleep(1)
        assert states == ["success"] * 3
    assert seen(influxdb2, bucket, "2026-11-04T00:00:00Z", "2026-11-06T00:00:00Z") == [
        (f"2026-11-05T0{h}:00:00Z", "hourly", f"2026-11-05T0{h}:00:00+00:00",
         f"2026-11-05T0{h + 1}:00:00+00:00") for h in range(3)]


def test_the_connections_token_is_in_no_log_and_no_rendered_template(
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
    leaks = [t[:200] for t in texts if influxdb2.token in t]
    assert leaks == []
