"""`collect --since --until --catch-up` and $PUSHER_OVERRIDES, what Airflow's task uses.

A scheduled Airflow run collects its data interval plus, with --catch-up, the windows
missed since the source's watermark (Airflow without catch-up creates only the latest
run after an outage). Connections reach pusher as $PUSHER_OVERRIDES, taken literally and
never printed.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ops_helpers import PLUGINS, command, environment, write_config

from pusher.config import load_config
from pusher.runs.collect import Outputs, run_sources
from pusher.runs.history import Watermarks

T0 = datetime(2026, 11, 2, 5, 30, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("plugins_on_path")
SOURCE = '[sources.grid]\ntype = "python"\ncallable = "ops_readers:grid"\nseries = 1\n'


@pytest.fixture
def plugins_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(PLUGINS)


def collect(config_path: Path, since=None, until=None, now=T0, catch_up=False) -> list[str]:
    config = load_config(config_path)
    outputs = Outputs(config, False, io.StringIO())
    try:
        [record] = run_sources(config, ["grid"], outputs, since, until, now, catch_up)
    finally:
        outputs.close()
    assert record.ok, record.summary()
    return record.notes


def hours(server, db: str) -> list[int]:
    rows = server.select('SELECT "v" FROM "grid"', db=db)
    return sorted({datetime.fromtimestamp(r["time"], UTC).hour for r in rows})


def test_catch_up_adds_the_windows_missed_since_the_watermark(tmp_path, influxdb1, influx_db):
    config = write_config(tmp_path, influxdb1.url, influx_db, SOURCE)
    collect(config)  # a regular run at 05:30: 04:00 and 05:00; watermark 05:00
    assert Watermarks(tmp_path / "state").get("grid") == T0.replace(minute=0)
    # Five hours later, a scheduled Airflow run for 09:00-10:00 with pusher's catch-up.
    later = T0 + timedelta(hours=5)
    notes = collect(config, later.replace(hour=9, minute=0), later.replace(minute=0),
                    later, catch_up=True)
    assert hours(influxdb1, influx_db) == [4, 5, 6, 7, 8, 9]
    assert notes == ["catching up 4 missed windows"]
    assert Watermarks(tmp_path / "state").get("grid") == later.replace(minute=0)


def test_without_catch_up_an_interval_is_collected_alone(tmp_path, influxdb1, influx_db):
    config = write_config(tmp_path, influxdb1.url, influx_db, SOURCE)
    collect(config)
    later = T0 + timedelta(hours=5)
    collect(config, later.replace(hour=9, minute=0), later.replace(minute=0), later)
    assert hours(influxdb1, influx_db) == [4, 5, 9]


def test_catch_up_of_an_interval_behind_the_watermark_is_that_interval(
        tmp_path, influxdb1, influx_db):
    # A cleared (re-run) old scheduled run: the watermark is past it, nothing else is due.
    config = write_config(tmp_path, influxdb1.url, influx_db, SOURCE)
    collect(config)
    notes = collect(config, T0.replace(hour=1, minute=0), T0.replace(hour=2, minute=0),
                    T0, catch_up=True)
    assert hours(influxdb1, influx_db) == [1, 4, 5] and notes == []


def test_catch_up_without_a_watermark_is_the_interval(tmp_path, influxdb1, influx_db):
    config = write_config(tmp_path, influxdb1.url, influx_db, SOURCE)
    collect(config, T0.replace(hour=2, minute=0), T0.replace(hour=3, minute=0), T0,
            catch_up=True)
    assert hours(influxdb1, influx_db) == [2]


def overrides_config(tmp_path: Path) -> Path:
    # The file points nowhere and holds no secret: the overrides bring both.
    path = tmp_path / "pusher.toml"
    path.write_text('[pusher]\nstate_dir = "state"\n'
                    '[influx]\nurl = "http://127.0.0.1:9"\norg = "nobody"\nbucket = "b"\n'
                    'token = "${INFLUX_TOKEN:-none}"\nretries = 0\n' + SOURCE)
    return path


def run(config: Path, *args: str, overrides: object) -> tuple[int, str]:
    import subprocess

    env = environment() | {"PUSHER_OVERRIDES": json.dumps(overrides)}
    done = subprocess.run(command(*args, config=config), capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    return done.returncode, done.stdout + done.stderr


def test_overrides_bring_the_influx_target_and_token(tmp_path, influxdb2, influx_bucket):
    config = overrides_config(tmp_path)
    token = influxdb2.token
    code, output = run(config, "collect", "grid", "--since", "2026-11-02T05:00Z",
                       "--until", "2026-11-02T06:00Z", overrides={"influx": {
                           "url": influxdb2.url, "token": token, "org": influxdb2.org,
                           "bucket": influx_bucket}})
    assert code == 0, output
    assert "written=1" in output and token not in output
    rows = influxdb2.flux(f'from(bucket: "{influx_bucket}") |> range(start: 2026-11-02T05:00:00Z'
                          ', stop: 2026-11-02T06:00:00Z) |> filter(fn: (r) => r._measurement '
                          '== "grid")')
    assert [r["_value"] for r in rows] == [str(int(T0.replace(minute=0).timestamp()))]


def test_overrides_are_literal_and_secret(tmp_path):
    config = overrides_config(tmp_path)
    code, output = run(config, "config", overrides={
        "influx": {"token": "s3cr$t-${HOME}"},
        "sources": {"grid": {"series": 7, "note": "costs $5, not ${HOME}"}}})
    assert code == 0, output
    assert "s3cr" not in output and 'token = "***"' in output
    assert "series = 7" in output and 'note = "costs $5, not ${HOME}"' in output


def test_bad_overrides_are_a_config_error(tmp_path):
    config = overrides_config(tmp_path)
    for overrides, problem in ((None, "must be a JSON object"),
                               ({"influx": {"api": "v3"}}, "influx.api")):
        code, output = run(config, "config", overrides=overrides)
        assert code == 2 and problem in output and "Traceback" not in output
    import subprocess

    env = environment() | {"PUSHER_OVERRIDES": "{not json"}
    done = subprocess.run(command("config", config=config), capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().endswith("$PUSHER_OVERRIDES: not valid JSON: Expecting "
                                        "property name enclosed in double quotes")


def test_the_catch_up_flag_of_the_command(tmp_path, influxdb1, influx_db):
    import subprocess

    from pusher.reading import Granularity, Window

    config = write_config(tmp_path, influxdb1.url, influx_db, SOURCE)
    hour = Window.containing(datetime.now(UTC), Granularity.HOURLY).start
    Watermarks(tmp_path / "state").set("grid", hour - timedelta(hours=4))
    args = ["collect", "grid", "--since", (hour - timedelta(hours=1)).isoformat(),
            "--until", hour.isoformat()]
    done = subprocess.run(command(*args, "--catch-up", config=config), capture_output=True,
                          text=True, env=environment(), timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "windows=4" in done.stderr  # the asked-for hour and the 3 missed before it
    assert Watermarks(tmp_path / "state").get("grid") == hour
