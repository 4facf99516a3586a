"""The Airflow DAG factory: its specs, and that a run's command collects exactly its interval.

Airflow itself (apache-airflow 3.3: 130 packages, ~290 MB, ~95 s to install) is not in
CI: these tests check the pure spec building and run each rendered command through
pusher for real. docs/deployment.md says how the DAG file was checked with Airflow.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
import tomllib
from datetime import datetime
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from pusher.cli import cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "pusher.toml"
DAG_FILE = ROOT / "deploy" / "airflow" / "pusher_dags.py"
PARIS = ZoneInfo("Europe/Paris")

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


def test_the_dag_file_imports_without_airflow(dags: ModuleType):
    assert importlib.util.find_spec("airflow") is None
    assert dags.default_config() == EXAMPLE
    assert not [name for name in vars(dags) if name.startswith("pusher_")]


def test_one_dag_per_enabled_source_with_its_schedule(dags: ModuleType):
    sources = tomllib.loads(EXAMPLE.read_text())["sources"]
    enabled = [n for n, s in sources.items() if s.get("enabled", True)]
    specs = dags.dag_specs(EXAMPLE)
    assert [s["dag_id"] for s in specs] == [f"pusher_{n}" for n in enabled]
    for spec in specs:
        assert spec["schedule"] == "0 * * * *"  # @hourly, on the hour: Airflow names the hour
        assert spec["timezone"] == "Europe/Paris"
        assert spec["catchup"] is True
        assert spec["max_active_runs"] == 1
        name = spec["dag_id"].removeprefix("pusher_")
        assert spec["command"] == (
            f"pusher --config {EXAMPLE} collect {name} "
            "--since '{{ data_interval_start.isoformat() }}' "
            "--until '{{ data_interval_end.isoformat() }}'")


def test_schedules_and_shell_quoting(dags: ModuleType, tmp_path: Path):
    config = tmp_path / "my config.toml"
    config.write_text('[pusher]\ntimezone = "UTC"\n'
                      '[sources."odd name"]\ntype = "python"\ngranularity = "daily"\n'
                      '[sources.quarter]\ntype = "python"\nschedule = "every 15m"\n'
                      '[sources.off]\ntype = "python"\nenabled = false\n')
    specs = {s["dag_id"]: s for s in dags.dag_specs(config, "2026-01-01")}
    assert list(specs) == ["pusher_odd name", "pusher_quarter"]
    assert specs["pusher_odd name"]["schedule"] == "0 0 * * *"
    assert specs["pusher_quarter"]["schedule"] == "*/15 * * * *"
    assert shlex.split(specs["pusher_odd name"]["command"])[:5] == [
        "pusher", "--config", str(config), "collect", "odd name"]


def rendered(command: str, start: datetime, end: datetime) -> list[str]:
    """The command as Airflow's template would render it, split like bash would."""
    # pendulum's isoformat() has the same form as datetime's for these moments.
    text = (command.replace("{{ data_interval_start.isoformat() }}", start.isoformat())
            .replace("{{ data_interval_end.isoformat() }}", end.isoformat()))
    return shlex.split(text)


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
        dags: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        granularity: str, start: datetime, end: datetime, expected: list[tuple[str, str]]):
    (tmp_path / "airflow_recorder.py").write_text(RECORDER)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / "pusher.toml"
    config.write_text(f'[pusher]\nstate_dir = "state"\ntimezone = "Europe/Paris"\n'
                      f'[influx]\nurl = "http://127.0.0.1:9"\napi = "v1"\n'
                      f'[sources.recorder]\ntype = "python"\ngranularity = "{granularity}"\n'
                      f'callable = "airflow_recorder:windows"\n')
    [spec] = dags.dag_specs(config)
    args = rendered(spec["command"], start, end)
    assert args[0] == "pusher"
    result = CliRunner().invoke(cli, [*args[1:], "--dry-run"])
    assert result.exit_code == 0, result.output
    seen = [line for line in result.stdout.splitlines() if line.startswith("seen,")]
    windows = [(line.split('start="')[1].split('"')[0], line.split('end="')[1].split('"')[0])
               for line in seen]
    assert windows == expected
    sys.modules.pop("airflow_recorder", None)
