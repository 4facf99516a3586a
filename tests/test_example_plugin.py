"""The example third-party plugin (examples/pusher-crawler): found by entry point, and right.

The package must be installed next to pusher, as CI does:
    pip install -e examples/pusher-crawler
"""

import json
import sqlite3
import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
import sqlalchemy
from cli_helpers import run_pusher

from pusher.reading import Granularity, Window
from pusher.sources import available_types

PLUGIN_DIR = Path(__file__).parent.parent / "examples" / "pusher-crawler"
WINDOW = Window.containing(datetime(2026, 11, 27, 10, 30, tzinfo=UTC), Granularity.HOURLY)
INSTALL_HINT = "install the example plugin first: pip install -e examples/pusher-crawler"


def workers(active: int, idle: int) -> list[dict]:
    busy = [{"id": f"w{n}", "stage": "browser"} for n in range(active)]
    return busy + [{"id": f"i{n}"} for n in range(idle)]


# (spider, workers, minutes after the window start): the latest per spider counts.
SNAPSHOTS = [
    ("eu", workers(9, 1), -1),    # before the window
    ("eu", workers(2, 8), 0),     # at the start: in, but not the latest
    ("eu", workers(3, 7), 55),    # eu's latest
    ("us", workers(4, 4), 30),    # us's latest
    ("us", workers(8, 0), 60),    # at the end: outside
]


def worker_states():
    try:
        distribution("pusher-crawler")
    except PackageNotFoundError:
        pytest.fail(INSTALL_HINT)
    from pusher_crawler import worker_states

    return worker_states


def test_the_entry_point_is_declared_and_discovered_without_changing_pusher():
    declared = tomllib.loads((PLUGIN_DIR / "pyproject.toml").read_text())
    group = declared["project"]["entry-points"]["pusher.sources"]
    assert group == {"worker-states": "pusher_crawler:worker_states"}
    worker_states()
    assert available_types()["worker-states"].value == "pusher_crawler:worker_states"
    setup_cfg = (Path(__file__).parent.parent / "setup.cfg").read_text()
    assert "pusher_crawler" not in setup_cfg and "worker-states" not in setup_cfg


def test_pusher_sources_lists_it(tmp_path):
    worker_states()
    done = run_pusher("sources", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if ln.strip().startswith("worker-states"))
    assert "Crawler workers active, idle and total" in line
    assert "[pusher_crawler:worker_states]" in line


@pytest.fixture
def crawler_db(tmp_path):
    path = tmp_path / "crawler.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE worker_statuses (spider TEXT, workers TEXT, created_at TEXT)")
        db.executemany("INSERT INTO worker_statuses VALUES (?, ?, ?)", [
            (spider, json.dumps(w), (WINDOW.start + timedelta(minutes=m)).strftime(
                "%Y-%m-%d %H:%M:%S")) for spider, w, m in SNAPSHOTS])
    db.close()
    return f"sqlite:///{path}"


def test_latest_snapshot_per_spider_in_the_window_sqlite(crawler_db):
    readings = list(worker_states()(WINDOW, url=crawler_db))
    assert len(readings) == 1
    assert readings[0].measurement == "workers"
    assert readings[0].fields == {"active": 3 + 4, "idle": 7 + 4, "total": 18}


def test_a_window_without_snapshots_writes_nothing(crawler_db):
    earlier = Window.containing(WINDOW.start - timedelta(days=1), Granularity.HOURLY)
    assert list(worker_states()(earlier, url=crawler_db)) == []


def test_same_answer_on_postgresql_with_jsonb(postgres):
    table = f"workers_{uuid.uuid4().hex[:8]}"
    engine = sqlalchemy.create_engine(postgres.sqlalchemy_url)
    with engine.begin() as db:
        db.exec_driver_sql(f"CREATE TABLE {table} (spider text, workers jsonb, "
                           "created_at timestamptz)")
        db.exec_driver_sql(f"INSERT INTO {table} VALUES (%s, %s, %s)", [
            (spider, json.dumps(w), WINDOW.start + timedelta(minutes=m))
            for spider, w, m in SNAPSHOTS])
    engine.dispose()
    readings = list(worker_states()(WINDOW, url=postgres.sqlalchemy_url, table=table))
    assert readings[0].fields == {"active": 7, "idle": 11, "total": 18}


def test_collect_dry_run(tmp_path, crawler_db):
    worker_states()
    config = tmp_path / "pusher.toml"
    config.write_text(f"""
[pusher]
state_dir = "state"
[influx]
url = "http://127.0.0.1:1"
api = "v1"
database = "db"
[sources.workers]
type = "worker-states"
url = "{crawler_db}"
""")
    done = run_pusher("collect", "workers", "--dry-run", "--since", WINDOW.start.isoformat(),
                      "--until", WINDOW.end.isoformat(), config=config)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"workers,granularity=hourly active=7i,idle=11i,total=18i "
                           f"{int(WINDOW.start.timestamp())}\n")


def test_a_bad_table_name_is_a_config_error(tmp_path, crawler_db):
    worker_states()
    config = tmp_path / "pusher.toml"
    config.write_text(f"""
[influx]
url = "http://127.0.0.1:1"
api = "v1"
database = "db"
[sources.workers]
type = "worker-states"
url = "{crawler_db}"
table = "x; DROP TABLE users"
""")
    done = run_pusher("collect", "workers", "--dry-run", config=config)
    assert done.returncode == 2
    assert "sources.workers.table: must be a plain table name" in done.stderr
