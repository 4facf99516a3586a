"""examples/demo_data.py and the example config's SQL sources reading what it generates."""

import importlib.util
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from cli_helpers import run_pusher

ROOT = Path(__file__).parent.parent
SCRIPT = ROOT / "examples" / "demo_data.py"
EXAMPLE_CONFIG = ROOT / "examples" / "pusher.toml"
NOW = datetime(2026, 11, 27, 15, 20, tzinfo=UTC)
TABLES = ("users", "profiles", "api_keys", "events", "event_timings", "worker_statuses")


def load_demo():
    spec = importlib.util.spec_from_file_location("demo_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dump(path: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as db:
        tables = {t: db.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in TABLES}
    db.close()
    return tables


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "website.sqlite"
    load_demo().generate(path, days=2, seed=1, now=NOW)
    return path


def test_same_seed_same_data_other_seed_other_data(demo_db, tmp_path):
    demo = load_demo()
    again, other = tmp_path / "again.sqlite", tmp_path / "other.sqlite"
    demo.generate(again, days=2, seed=1, now=NOW)
    demo.generate(other, days=2, seed=2, now=NOW)
    assert dump(again) == dump(demo_db)
    assert dump(other) != dump(demo_db)


def test_every_table_has_rows_spread_over_the_days_up_to_now(demo_db):
    with sqlite3.connect(demo_db) as db:
        for table in TABLES:
            first, last, count = db.execute(
                f"SELECT min(created_at), max(created_at), count(*) FROM {table}").fetchone()
            assert count > 0, table
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", last), table
            assert last < NOW.strftime("%Y-%m-%d %H:%M:%S"), table
        assert first <= (NOW - timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
        kinds = {k for (k,) in db.execute("SELECT DISTINCT kind FROM events")}
        stages = {s for (s,) in db.execute("SELECT DISTINCT stage FROM event_timings")}
    db.close()
    assert kinds == {"signup", "login", "screenshot", "api_call"}
    assert stages == {"browser", "checks", "thumbs", "total", "queue_delay"}


def test_command_line(tmp_path):
    path = tmp_path / "sub" / "website.sqlite"
    done = subprocess.run([sys.executable, str(SCRIPT), str(path), "--days", "1", "--seed", "4",
                           "--now", "2026-11-27T12:00:00"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{path}: ") and " events, " in done.stdout
    assert dump(path)["users"]


def test_example_config_collects_the_demo_database(demo_db, influxdb1, influx_db):
    hour = datetime(2026, 11, 27, 13, tzinfo=UTC)
    names = ["objects", "events", "timings", "signups", "workers"]
    done = run_pusher("collect", *names, "--dry-run", "--since", hour.isoformat(),
                      "--until", (hour + timedelta(hours=1)).isoformat(), config=EXAMPLE_CONFIG,
                      env={"PUSHER_DEMO_DB": f"sqlite:///{demo_db}"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    stamp = f" {int(hour.timestamp())}"
    assert lines and all(line.endswith(stamp) for line in lines)
    measurements = {line.split(",", 1)[0] for line in lines}
    assert measurements == {"objects", "events", "timings", "signups", "workers"}
    answer = requests.post(f"{influxdb1.url}/write", params={"db": influx_db, "precision": "s"},
                           data="\n".join(lines), timeout=30)
    assert answer.status_code == 204, answer.text
    stored = influxdb1.select('SELECT "count" FROM "events" GROUP BY "kind"', db=influx_db)
    with sqlite3.connect(demo_db) as db:
        expected = dict(db.execute(
            "SELECT kind, count(*) FROM events WHERE created_at >= ? AND created_at < ? "
            "GROUP BY kind", ("2026-11-27 13:00:00", "2026-11-27 14:00:00")).fetchall())
    db.close()
    assert {row["kind"]: row["count"] for row in stored} == expected
    timings = influxdb1.select('SELECT * FROM "timings"', db=influx_db)
    assert {row["stage"] for row in timings} == {"browser", "checks", "thumbs", "total",
                                                 "queue_delay"}
