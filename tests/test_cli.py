"""The `pusher` command as cron runs it: exit codes, stdout/stderr discipline, no secrets."""

import json
import re
from pathlib import Path

import pytest
from cli_helpers import run_pusher
from servers import free_port

PLUGINS = str(Path(__file__).parent / "plugins")
SECRET = "Sup3r-S3cret-Passw0rd"


def config_file(tmp_path: Path, influx_url: str, db: str, sources: str, extra: str = "") -> Path:
    path = tmp_path / "pusher.toml"
    path.write_text(f"""
[pusher]
state_dir = "state"
[influx]
url = "{influx_url}"
api = "v1"
database = "{db}"
username = "pusher"
password = "${{INFLUX_PASSWORD}}"
retries = 0
{extra}
{sources}
""")
    return path


COUNTS = """
[sources.counts]
type = "python"
callable = "demo_readers:counts"
n = 3
"""


def pusher(*args, config=None, **env):
    return run_pusher(*args, config=config,
                      env={"PYTHONPATH": PLUGINS, "INFLUX_PASSWORD": SECRET, **env})


def test_sources_lists_types_without_any_config(tmp_path):
    result = run_pusher("sources", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "prometheus" in result.stdout and "python" in result.stdout


def test_sources_lists_configured_sources(tmp_path):
    result = pusher("sources", config=config_file(tmp_path, "http://127.0.0.1:1", "d", COUNTS))
    assert "counts" in result.stdout and "type=python" in result.stdout


def test_collect_writes_every_window_and_exits_0(tmp_path, influxdb1, influx_db):
    config = config_file(tmp_path, influxdb1.url, influx_db, COUNTS)
    result = pusher("-vv", "collect", "counts", "--since", "2026-01-01T00:00Z", "--until",
                    "2026-01-01T05:00Z", config=config)
    assert result.returncode == 0, result.stderr
    assert "- counts windows=5 readings=15 written=15 refused=0 [done]" in result.stderr
    rows = influxdb1.select('SELECT value FROM "demo" GROUP BY item', db=influx_db)
    assert len(rows) == 15
    assert {r["time"] for r in rows} == {1767225600 + 3600 * h for h in range(5)}
    assert SECRET not in result.stdout + result.stderr


def test_rerun_is_idempotent(tmp_path, influxdb1, influx_db):
    config = config_file(tmp_path, influxdb1.url, influx_db, COUNTS)
    for _ in range(2):
        result = pusher("collect", "counts", "--since", "2026-01-01", "--until",
                        "2026-01-01T03:00Z", config=config)
        assert result.returncode == 0
    assert len(influxdb1.select('SELECT value FROM "demo" GROUP BY item', db=influx_db)) == 9


def test_refused_reading_is_named_others_written_exit_1(tmp_path, influxdb1, influx_db):
    sources = '[sources.mixed]\ntype = "python"\ncallable = "demo_readers:with_bad"\n'
    config = config_file(tmp_path, influxdb1.url, influx_db, sources)
    result = pusher("collect", "mixed", "--since", "2026-01-01T00:00Z", "--until",
                    "2026-01-01T02:00Z", config=config)
    assert result.returncode == 1
    assert "refused=2" in result.stderr and "written=4" in result.stderr
    assert "field 'bad' is nan" in result.stderr
    dead = [json.loads(x) for x in (tmp_path / "state/dead-letter.jsonl").read_text().splitlines()]
    assert len(dead) == 2 and all("nan" in d["reason"] and d["source"] == "mixed" for d in dead)
    assert len(influxdb1.select('SELECT ok FROM "mixed" GROUP BY *', db=influx_db)) == 4


def test_failing_source_does_not_stop_the_others(tmp_path, influxdb1, influx_db):
    sources = COUNTS + '[sources.broken]\ntype = "python"\ncallable = "demo_readers:broken"\n'
    config = config_file(tmp_path, influxdb1.url, influx_db, sources)
    result = pusher("collect", "broken", "counts", config=config)
    assert result.returncode == 1
    assert "[failed: " in result.stderr and "the upstream API said no" in result.stderr
    assert "- counts windows=2 readings=6 written=6 refused=0 [done]" in result.stderr
    assert len(influxdb1.select('SELECT v FROM "partial"', db=influx_db)) == 2


def test_down_server_leaves_points_in_the_spool_until_next_run(tmp_path, influxdb1, influx_db):
    down = config_file(tmp_path, f"http://127.0.0.1:{free_port()}", influx_db, COUNTS)
    result = pusher("collect", "counts", config=down)
    assert result.returncode == 1
    assert "spooled=6" in result.stderr and "unreachable" in result.stderr
    assert list((tmp_path / "state/spool").glob("*.lp"))
    up = config_file(tmp_path, influxdb1.url, influx_db, "")
    result = pusher("collect", "--all", config=up)
    replayed = re.search(r"spool replayed written=(\d+)", result.stderr)
    assert replayed and int(replayed.group(1)) >= 6  # pusher's own run records may add some
    assert not list((tmp_path / "state/spool").glob("*.lp"))
    assert len(influxdb1.select('SELECT value FROM "demo" GROUP BY item', db=influx_db)) == 6


def test_dry_run_stdout_is_only_line_protocol(tmp_path):
    config = config_file(tmp_path, "http://127.0.0.1:1", "d", COUNTS)
    result = pusher("-vv", "collect", "counts", "--dry-run", config=config)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 6
    assert all(line.startswith("demo,granularity=hourly,item=item\\ ") for line in lines)
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["collect", "nope"], {}, "no source named 'nope' (configured: counts)"),
        (["collect"], {}, "name the sources to collect, or use --all"),
        (["collect", "counts", "--since", "yesterday-ish"], {}, "is not a time"),
        (["collect", "counts", "--since", "1h", "--until", "3h"], {}, "--since must be before"),
    ],
)
def test_usage_and_config_errors_exit_2_in_one_line(tmp_path, args, env, message):
    config = config_file(tmp_path, "http://127.0.0.1:1", "d", COUNTS)
    result = pusher(*args, config=config, **env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("pusher: error: ") and message in line


def test_missing_variable_exits_2_naming_file_and_key(tmp_path):
    config = config_file(tmp_path, "http://127.0.0.1:1", "d", COUNTS)
    result = run_pusher("collect", "counts", config=config, env={"PYTHONPATH": PLUGINS})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"pusher: error: {config}: influx.password: environment variable "
        "${INFLUX_PASSWORD} is not set")


def test_config_command_redacts_secrets(tmp_path):
    config = config_file(tmp_path, "http://127.0.0.1:1", "d", COUNTS)
    result = pusher("config", config=config)
    assert result.returncode == 0
    assert SECRET not in result.stdout and 'password = "***"' in result.stdout


def test_unknown_source_type_lists_available(tmp_path):
    config = config_file(tmp_path, "http://127.0.0.1:1", "d", '[sources.x]\ntype = "kafka"\n')
    result = pusher("collect", "x", config=config)
    assert result.returncode == 2
    assert "sources.x.type: unknown source type 'kafka' (available:" in result.stderr


def test_python_source_with_bad_callable_is_a_config_error(tmp_path):
    sources = '[sources.x]\ntype = "python"\ncallable = "demo_readers:nothing_here"\n'
    config = config_file(tmp_path, "http://127.0.0.1:1", "d", sources)
    result = pusher("collect", "x", config=config)
    assert result.returncode == 2
    assert "sources.x.callable: cannot import demo_readers:nothing_here" in result.stderr
