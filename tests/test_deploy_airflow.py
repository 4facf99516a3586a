"""The Airflow DAG factory without Airflow: its specs, DAG ids, settings, Connections, commands.

tests/test_airflow_real.py runs the same DAG file in a real Airflow; these tests check the
pure parts (pusher.deploy.airflow, .airflow_connections) and run each command a DAG run
would run through pusher for real.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from pusher.cli import cli
from pusher.deploy.airflow import DEFAULT_GRACE, DEFAULT_START, dag_id_for, dag_specs
from pusher.deploy.airflow_connections import influx_values, secrets_of, source_values
from pusher.deploy.airflow_dags import collect_argv, exit_verdict
from pusher.errors import ConfigError
from pusher.reading import Granularity

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "pusher.toml"
DAG_FILE = ROOT / "platforms" / "airflow" / "pusher_dags.py"
PARIS = ZoneInfo("Europe/Paris")
DAG_ID = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")  # Airflow's KEY_REGEX and length

RECORDER = '''
from pusher.reading import Reading

def windows(window, **options):
    yield Reading("seen", {"start": window.start.isoformat(), "end": window.end.isoformat()})
'''


@pytest.fixture
def dags(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("PUSHER_CONFIG", str(EXAMPLE))
    spec = importlib.util.spec_from_file_location("pusher_dags", DAG_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(tmp_path: Path, text: str, name: str = "pusher.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_dag_file_imports_without_airflow(dags: ModuleType):
    assert importlib.util.find_spec("airflow") is None
    assert dags.default_config() == EXAMPLE
    assert not [name for name in vars(dags) if name.startswith("pusher_")]


def test_copies_of_the_old_dag_file_still_import_what_they_used():
    from pusher.deploy.schedules import enabled_sources, to_cron

    jobs = enabled_sources({"sources": {"a": {"type": "python"}}}, "pusher.toml")
    assert [job.name for job in jobs] == ["a"]
    assert to_cron(None, Granularity.HOURLY).cron == "0 * * * *"


def test_one_dag_per_enabled_source_with_its_schedule():
    sources = tomllib.loads(EXAMPLE.read_text())["sources"]
    enabled = [n for n, s in sources.items() if s.get("enabled", True)]
    specs = dag_specs(EXAMPLE)
    assert [s.dag_id for s in specs] == [f"pusher_{n}" for n in enabled]
    for spec in specs:
        assert spec.error is None
        assert spec.schedule == "0 * * * *"  # @hourly, on the hour: Airflow names the hour
        assert spec.timezone == "Europe/Paris"
        assert spec.settings.catchup is False  # pusher's own catch-up, from the watermark
        assert spec.settings.start_date == DEFAULT_START
        assert spec.settings.influx_conn_id == "influxdb_default"
        assert spec.max_active_runs == 1
        # No timeout in the example: `pusher run`'s rule (the period, at least 600 s) + grace.
        assert spec.execution_timeout == 3600 + DEFAULT_GRACE


def test_settings_from_the_airflow_table_per_source(tmp_path: Path):
    config = write(tmp_path, '[pusher]\ntimezone = "UTC"\n'
                   '[airflow]\nstart_date = 2026-10-01\nretries = 4\ntimeout_grace = 30\n'
                   'influx_conn_id = ""\n'
                   '[airflow.sources.db]\ncatchup = true\nstart_date = "2026-11-15"\n'
                   'conn_id = "website_db"\n'
                   '[sources.db]\ntype = "sql"\ntimeout = 120\nschedule = "every 15m"\n'
                   '[sources.daily]\ntype = "python"\ngranularity = "daily"\n'
                   '[sources.often]\ntype = "python"\nschedule = "every 5m"\n')
    specs = {s.source: s for s in dag_specs(config, start_date="2020-01-01")}
    db, daily = specs["db"].settings, specs["daily"].settings
    assert (db.catchup, db.start_date, db.conn_id, db.retries) == (
        True, "2026-11-15", "website_db", 4)
    assert (daily.catchup, daily.start_date, daily.conn_id) == (False, "2026-10-01", "")
    assert db.influx_conn_id == daily.influx_conn_id == ""
    assert specs["db"].schedule == "*/15 * * * *"
    assert specs["db"].execution_timeout == 120 + 30  # the source's own timeout + grace
    assert specs["daily"].execution_timeout == 86400 + 30  # a day's run may last a day
    assert specs["daily"].schedule == "0 0 * * *"
    assert specs["often"].execution_timeout == 600 + 30  # never less than 600 s
    # The task gives the run its own timeout: the run stops its source and records it
    # before Airflow's execution_timeout (the grace later) stops the task (issue 17 §5).
    assert [specs[n].run_timeout for n in ("db", "daily", "often")] == [120, 86400, 600]


def test_the_grace_defaults_to_the_pusher_table(tmp_path: Path):
    config = write(tmp_path, '[pusher]\ntimeout_grace = 20\n'
                   '[sources.db]\ntype = "sql"\ntimeout = 120\n')
    [spec] = dag_specs(config)
    assert spec.execution_timeout == 140


def test_the_run_gets_its_timeout_on_the_command_line():
    start, end = datetime(2026, 11, 2, 1, tzinfo=UTC), datetime(2026, 11, 2, 2, tzinfo=UTC)
    argv = collect_argv("p.toml", "db", start, end, catch_up=True, timeout=120.0)
    assert argv[-8:] == ["db", "--timeout", "120", "--since", "2026-11-02T01:00:00+00:00",
                         "--until", "2026-11-02T02:00:00+00:00", "--catch-up"]


def test_pusher_dags_start_is_the_default_start_date(tmp_path: Path):
    config = write(tmp_path, '[sources.a]\ntype = "python"\n')
    [spec] = dag_specs(config, start_date="2026-11-20")
    assert spec.settings.start_date == "2026-11-20"


@pytest.mark.parametrize(("table", "key", "problem"), [
    ('[airflow]\ncatchup = "yes"\n', "airflow.catchup", "must be a bool"),
    ('[airflow]\nstartdate = "2026-01-01"\n', "airflow.startdate", "unknown key"),
    ('[airflow]\nstart_date = "soon"\n', "airflow.start_date", "must be an ISO date"),
    ('[airflow]\nretries = -1\n', "airflow.retries", "non-negative"),
    ('[airflow.sources.nope]\ncatchup = true\n', "airflow.sources.nope", "no source named"),
    ('[airflow.sources.a]\ntimeout_grace = 5\n', "airflow.sources.a.timeout_grace",
     "unknown key"),
    ('[airflow]\nsources = 3\n', "airflow.sources", "must be a table"),
])
def test_a_bad_airflow_table_is_a_config_error_for_pusher_too(
        tmp_path: Path, table: str, key: str, problem: str):
    config = write(tmp_path, f'[sources.a]\ntype = "python"\ncallable = "x:y"\n{table}')
    with pytest.raises(ConfigError) as raised:
        dag_specs(config)
    assert raised.value.key == key and problem in raised.value.problem
    result = CliRunner().invoke(cli, ["--config", str(config), "config"])
    assert result.exit_code == 2
    assert f"{config}: {key}: " in result.output and "Traceback" not in result.output


def test_pusher_accepts_a_good_airflow_table(tmp_path: Path):
    config = write(tmp_path, '[sources.a]\ntype = "python"\ncallable = "x:y"\n'
                   '[airflow]\ncatchup = true\n[airflow.sources.a]\nconn_id = "a_db"\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "config"])
    assert result.exit_code == 0, result.output
    assert 'conn_id = "a_db"' in result.output or "a_db" in result.output


@pytest.mark.parametrize("name", ["web shop", "café", "a/b", "x" * 260, "web_shop"])
def test_dag_ids_are_valid_stable_and_distinct(name: str):
    dag_id = dag_id_for(name)
    assert DAG_ID.match(dag_id), dag_id
    assert dag_id == dag_id_for(name)  # the same on every parse
    if DAG_ID.match(f"pusher_{name}") and len(name) < 240:
        assert dag_id == f"pusher_{name}"  # valid names are kept as they are
    else:
        assert dag_id.startswith("pusher_")
        assert dag_id != dag_id_for(name.replace(" ", "_") + "_")


def test_web_shop_and_web_underscore_shop_get_different_dags():
    assert dag_id_for("web shop") != dag_id_for("web_shop") == "pusher_web_shop"
    assert dag_id_for("web shop").startswith("pusher_web_shop_")


def test_a_source_that_cannot_be_a_dag_does_not_hide_the_others(tmp_path: Path):
    config = write(tmp_path, '[sources."web shop"]\ntype = "python"\n'
                   '[sources.odd]\ntype = "python"\nschedule = "every 7m"\n'
                   '[sources.slow]\ntype = "python"\ntimeout = "long"\n'
                   '[sources.bad]\ntype = "python"\ngranularity = "weekly"\n'
                   '[sources.off]\ntype = "python"\nenabled = false\n'
                   '[sources.ok]\ntype = "python"\n')
    specs = {s.source: s for s in dag_specs(config)}
    assert list(specs) == ["web shop", "odd", "slow", "bad", "ok"]
    assert specs["web shop"].error is None and specs["ok"].error is None
    assert specs["odd"].error == (f"{config}: sources.odd.schedule: 'every 7m' cannot be a "
                                  "cron schedule: use minutes that divide 60, hours that "
                                  "divide 24, or 1d")
    assert specs["slow"].error is not None and "sources.slow.timeout" in specs["slow"].error
    assert specs["bad"].error is not None and "sources.bad.granularity" in specs["bad"].error


@pytest.mark.parametrize(("text", "problem"), [
    (None, "no such file (set $PUSHER_CONFIG"),
    ("[sources\n", "cannot read: "),
    ('[pusher]\ntimezone = "Mars/Olympus"\n', "unknown time zone"),
    ('sources = 3\n', "sources: must be a table"),
])
def test_a_config_that_cannot_be_read_is_one_clear_error(
        tmp_path: Path, text: str | None, problem: str):
    config = tmp_path / "pusher.toml"
    if text is not None:
        config.write_text(text)
    with pytest.raises(ConfigError) as raised:
        dag_specs(config)
    assert str(raised.value).startswith(str(config)) and problem in str(raised.value)


def conn(**fields: object) -> SimpleNamespace:
    base: dict[str, object] = {"conn_type": "", "host": None, "port": None, "schema": None,
                               "login": None, "password": None, "extra_dejson": {}}
    return SimpleNamespace(**(base | fields))


def test_an_influxdb_connection_reads_like_the_providers_hook():
    # apache-airflow-providers-influxdb: schema is the scheme (default https), port 8086
    # (443 for https), extra token and org_name.
    assert influx_values(conn(conn_type="influxdb", host="influx", schema="http",
                              extra_dejson={"token": "t0k", "org_name": "acme"})) == {
        "url": "http://influx:8086", "token": "t0k", "org": "acme"}
    assert influx_values(conn(host="influx.example"))["url"] == "https://influx.example:443"
    assert influx_values(conn(host="h", port=9999, schema="http", login="u", password="p",
                              extra_dejson={"database": "metrics"})) == {
        "url": "http://h:9999", "username": "u", "password": "p", "database": "metrics"}


def test_a_sources_connection_becomes_its_url_or_credentials():
    pg = conn(conn_type="postgres", host="db", port=5432, schema="shop", login="reader",
              password="p@ss/w:rd")
    assert source_values("sql", pg) == {
        "url": "postgresql://reader:p%40ss%2Fw%3Ard@db:5432/shop"}
    assert source_values("sql", conn(conn_type="mysql", host="m", schema="x",
                                     extra_dejson={"sqlalchemy_scheme": "mysql+pymysql"})
                         ) == {"url": "mysql+pymysql://m/x"}
    assert source_values("prometheus", conn(host="prom", port=9090)) == {
        "url": "http://prom:9090"}
    assert source_values("prometheus", conn(host="prom", schema="https", login="u",
                                            password="p")) == {"url": "https://u:p@prom"}
    assert source_values("prometheus", conn(host="https://prom.example/p")) == {
        "url": "https://prom.example/p"}
    assert source_values("google-analytics", conn(extra_dejson={"key_path": "/k.json"})) == {
        "credentials": "/k.json"}
    assert secrets_of(conn(password="pw", extra_dejson={"token": "tk"})) == ["pw", "tk"]


def test_exit_codes_decide_retry_or_fail():
    assert exit_verdict(0) == "ok"
    assert exit_verdict(1) == "retry"  # a source or InfluxDB unreachable, points spooled
    assert exit_verdict(-9) == "retry"  # killed by a signal
    assert [exit_verdict(c) for c in (2, 126, 127)] == ["fail"] * 3


@pytest.mark.parametrize(("granularity", "start", "end", "expected"), [
    # An hourly DAG run of 01:00-02:00 Paris (00:00-01:00 UTC) collects that one hour.
    ("hourly", datetime(2026, 11, 2, 1, tzinfo=PARIS), datetime(2026, 11, 2, 2, tzinfo=PARIS),
     [("2026-11-02T00:00:00+00:00", "2026-11-02T01:00:00+00:00")]),
    # A daily run covers one Paris day, 23:00 UTC to 23:00 UTC.
    ("daily", datetime(2026, 11, 2, tzinfo=PARIS), datetime(2026, 11, 3, tzinfo=PARIS),
     [("2026-11-01T23:00:00+00:00", "2026-11-02T23:00:00+00:00")]),
    # The day the clocks go back lasts 25 hours; still one window.
    ("daily", datetime(2026, 10, 25, tzinfo=PARIS), datetime(2026, 10, 26, tzinfo=PARIS),
     [("2026-10-24T22:00:00+00:00", "2026-10-25T23:00:00+00:00")]),
])
def test_a_dag_runs_command_collects_exactly_its_interval(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        granularity: str, start: datetime, end: datetime, expected: list[tuple[str, str]]):
    (tmp_path / "airflow_recorder.py").write_text(RECORDER)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = write(tmp_path, f'[pusher]\nstate_dir = "state"\ntimezone = "Europe/Paris"\n'
                   f'[influx]\nurl = "http://127.0.0.1:9"\napi = "v1"\n'
                   f'[sources.recorder]\ntype = "python"\ngranularity = "{granularity}"\n'
                   f'callable = "airflow_recorder:windows"\n')
    argv = collect_argv(str(config), "recorder", start, end, catch_up=False)
    assert argv[:3] == [sys.executable, "-m", "pusher"]  # the worker's own interpreter
    result = CliRunner().invoke(cli, [*argv[3:], "--dry-run"])
    assert result.exit_code == 0, result.output
    seen = [line for line in result.stdout.splitlines() if line.startswith("seen,")]
    windows = [(line.split('start="')[1].split('"')[0], line.split('end="')[1].split('"')[0])
               for line in seen]
    assert windows == expected
    sys.modules.pop("airflow_recorder", None)


def test_the_web_shop_dag_id_in_the_docs():
    assert dag_id_for("web shop") == "pusher_web_shop_87c9a8b1"
    assert "pusher_web_shop_87c9a8b1" in (ROOT / "docs" / "deployment.md").read_text()


HANGING = '''
import os, signal, sys, time
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(sys.argv[2], "w").write(str(os.getpid()))
print("pusher: started", flush=True)
time.sleep(120)
'''


class TaskTimeout(Exception):
    """Stands in for AirflowTaskTimeout, which Airflow raises in the task from SIGALRM."""


@pytest.mark.parametrize("kind", ["polite", "stubborn"])
def test_a_stopped_task_never_leaves_pusher_running(tmp_path: Path, kind: str,
                                                    monkeypatch: pytest.MonkeyPatch):
    import os
    import signal

    from pusher.deploy import airflow_dags

    monkeypatch.setattr(airflow_dags, "STOP_GRACE", 1.0)
    pid_file = tmp_path / "pid"

    def timeout(*_: object) -> None:
        raise TaskTimeout

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(2)  # the run below would last 120 s
    try:
        with pytest.raises(TaskTimeout):
            airflow_dags.run_pusher([sys.executable, "-c", HANGING, kind, str(pid_file)],
                                    dict(os.environ))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # stopped and reaped, SIGTERM ignored or not
        os.kill(pid, 0)


def test_run_pusher_returns_the_exit_code_and_the_last_line():
    import os

    from pusher.deploy.airflow_dags import run_pusher

    code, last = run_pusher([sys.executable, "-c", "print('a'); print('pusher: why'); "
                             "print(); raise SystemExit(2)"], dict(os.environ))
    assert (code, last) == (2, "pusher: why")
