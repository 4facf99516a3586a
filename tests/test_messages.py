"""Messages a person can act on (issue 12 §5): one line per failed window, quiet start and
stop of `pusher run`, `pusher config` as TOML or JSON that loads back, and `pusher status`
naming its time zone. Through the real `pusher` command."""

import json
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from cli_helpers import run_pusher
from ops_helpers import write_config
from servers import free_port

PLUGINS = str(Path(__file__).parent / "plugins")


def down_config(tmp_path: Path, sources: str, timezone: str = "UTC") -> Path:
    """A config whose InfluxDB is down: these tests are about what pusher says."""
    return write_config(tmp_path, f"http://127.0.0.1:{free_port()}", "d", sources,
                        timezone=timezone)


def test_a_failing_query_logs_one_line_per_window(tmp_path):
    sqlite3.connect(tmp_path / "empty.sqlite").close()
    config = down_config(tmp_path, """
[sources.shop]
type = "sql"
url = "sqlite:///empty.sqlite"
[[sources.shop.queries]]
sql = "SELECT count(*) AS n FROM orders"
measurement = "orders"
""")
    done = run_pusher("collect", "shop", "--dry-run", "--since", "2026-01-01T00:00Z",
                      "--until", "2026-01-01T02:00Z", config=config)
    assert done.returncode == 1
    logged = [line for line in done.stderr.splitlines() if line.startswith("pusher: ")]
    assert logged == [
        f"pusher: ERROR: shop failed: hourly@2026-01-01T0{h}:00:00+00:00: queries[0] orders: "
        "OperationalError: no such table: orders" for h in (0, 1)]
    [summary] = [line for line in done.stderr.splitlines() if line.startswith("- shop ")]
    assert summary.startswith("- shop windows=2 readings=0 printed=0 refused=0 [failed: "
                              "hourly@2026-01-01T00:00:00+00:00: queries[0] orders: ")
    assert "(+1 more errors above)" in summary and "log" not in summary


def test_pusher_run_starts_and_stops_quietly_unless_asked(tmp_path):
    config = down_config(tmp_path, '[sources.counts]\ntype = "python"\n'
                                    'callable = "demo_readers:counts"\n')
    for verbose, expected in (([], False), (["-v"], True)):
        env = {"PYTHONPATH": PLUGINS, "PATH": "/usr/bin:/bin"}
        process = subprocess.Popen([sys.executable, "-m", "pusher", "--config", str(config),
                                    *verbose, "run"], env=env, stderr=subprocess.PIPE, text=True)
        heartbeat = tmp_path / "state" / "heartbeat"
        deadline = time.monotonic() + 60
        while not heartbeat.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        heartbeat.unlink()
        assert process.returncode == 0, err
        started = "pusher: INFO: pusher run: scheduling counts" in err
        stopped = "pusher: INFO: pusher run: stopped" in err
        assert (started, stopped) == (expected, expected), err
        assert "WARNING: pusher run" not in err


PROMETHEUS = """
[sources.prom]
type = "prometheus"
url = "http://127.0.0.1:9090"
headers = { Authorization = "Bearer ${TOKEN}" }
schedule = "every 15m"
[[sources.prom.queries]]
query = 'sum by (job) (increase(http_requests_total[$__range]))'
measurement = "requests"
tags = { env = "prod" }
[sources.db]
type = "sql"
url = "sqlite:///site.sqlite"
on_collision = "sum"
[[sources.db.queries]]
sql = '''
SELECT kind, count(*) AS n FROM events
WHERE created_at >= :start AND created_at < :end GROUP BY kind
'''
measurement = "events"
tags = ["kind"]
[rollups]
lookback = "2d"
[rollups.measurements]
events = { n = "sum" }
"""


def test_config_prints_toml_with_every_default_that_loads_back(tmp_path):
    config = down_config(tmp_path, PROMETHEUS, timezone="Europe/Paris")
    done = run_pusher("config", config=config, env={"TOKEN": "tok-123-secret"})
    assert done.returncode == 0 and done.stderr == ""
    shown = tomllib.loads(done.stdout)  # all of stdout is TOML
    assert "tok-123-secret" not in done.stdout
    assert shown["pusher"] == {"state_dir": str(tmp_path / "state"), "timezone": "Europe/Paris",
                               "spool_max_mb": 512.0, "timeout_grace": 60.0}
    assert shown["influx"]["batch_size"] == 5000 and shown["influx"]["verify_ssl"] is True
    prom, db = shown["sources"]["prom"], shown["sources"]["db"]
    assert {k: prom[k] for k in ("granularity", "schedule", "jitter", "timeout", "enabled",
                                 "catchup_max", "on_collision", "verify_ssl")} == {
        "granularity": "hourly", "schedule": "every 15m", "jitter": 0.0, "timeout": 900.0,
        "enabled": True, "catchup_max": 168, "on_collision": "refuse", "verify_ssl": True}
    assert prom["headers"] == {"Authorization": "Bearer ***"}
    assert prom["query_timeout"] == 30.0  # each request's bound (issue 17)
    assert prom["queries"][0]["tags"] == {"env": "prod"}
    assert db["url"] == f"sqlite:///{tmp_path / 'site.sqlite'}" and db["on_collision"] == "sum"
    assert db["queries"][0]["sql"].startswith("SELECT kind, count(*) AS n FROM events\n")
    assert shown["rollups"]["lookback"] == "2d" and shown["rollups"]["hourly_retention"] == "90d"
    # Printed again from what it printed (the token put back), it prints the same.
    again = tmp_path / "again" / "pusher.toml"
    again.parent.mkdir()
    again.write_text(done.stdout.replace("Bearer ***", "Bearer ${TOKEN}"))
    second = run_pusher("config", config=again, env={"TOKEN": "tok-123-secret"})
    assert second.stdout == done.stdout
    as_json = run_pusher("config", "--json", config=config, env={"TOKEN": "tok-123-secret"})
    assert json.loads(as_json.stdout) == shown


def test_status_names_its_time_zone(tmp_path):
    config = down_config(tmp_path, '[sources.counts]\ntype = "python"\n'
                                    'callable = "demo_readers:counts"\n',
                          timezone="America/Los_Angeles")
    done = run_pusher("status", config=config, env={"PYTHONPATH": PLUGINS})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "times in America/Los_Angeles ([pusher] timezone)"
