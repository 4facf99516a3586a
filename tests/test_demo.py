"""`bash scripts/demo.sh`, the README's first command, end to end on real servers.

On InfluxDB 2.x (the build cached by scripts/influxd2.sh), and on 1.x where no 2.x can be had
(no cached build, no influxd 2.x on PATH, no Go to build one). The install step is the test
command's own (scripts/test.sh ran it); ports are free ones, the demo's folder a temporary one.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from servers import free_port

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("prometheus", "objects", "events", "timings", "signups", "workers")
ROW = re.compile(r"^  (\w+)\s+(\w+)\s+(\d+)\s+(\d+)  \S+$")


def demo(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PUSHER_")}
    environment |= {"DEMO_ROOT": str(root), "PUSHER_DEMO_INSTALL": "0",
                    "DEMO_INFLUX_PORT": str(free_port()), "DEMO_INFLUX2_PORT": str(free_port()),
                    "DEMO_PROMETHEUS_PORT": str(free_port()),
                    "DEMO_INFLUX_RPC_PORT": str(free_port())} | env
    return subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh"), *args], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=600,
                          check=False)


@pytest.fixture
def demo_root(tmp_path):
    yield tmp_path
    subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh"), "stop"], check=False,
                   env=os.environ | {"DEMO_ROOT": str(tmp_path)}, capture_output=True)
    for pid_file in tmp_path.glob("*.pid"):  # if stop itself failed
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def landed(stdout: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(source, measurement) -> (hourly, daily) points, from the demo's closing table."""
    return {(m[1], m[2]): (int(m[3]), int(m[4]))
            for m in map(ROW.match, stdout.splitlines()) if m}


def assert_the_whole_job(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    verified = [line for line in lines if line.endswith(" 0 missing, 0 differ")]
    assert verified and verified[0].startswith("ok: ") and " 0 daily" not in verified[0]
    table = landed(result.stdout)
    assert {source for source, _ in table} == set(SOURCES)  # no source silently missing
    assert all(hourly > 0 and daily > 0 for hourly, daily in table.values()), table
    assert "  google_analytics (disabled)" in lines
    for step in ("pusher setup", "pusher collect --all --since 3d",
                 "pusher rollups backfill --since 3d", "pusher rollups verify --since 3d"):
        assert f"==> {step}" in result.stderr


def test_the_demo_on_influxdb2(demo_root):
    result = demo(demo_root)
    assert_the_whole_job(result)
    assert "examples/pusher-v2.toml" in result.stderr
    tasks = [line for line in result.stdout.splitlines() if line.startswith("  task ")]
    assert len(tasks) == 7 and all(line.endswith(": success") for line in tasks)
    assert "Grafana: provision grafana/" in result.stdout
    assert (demo_root / "influx-token").stat().st_mode & 0o777 == 0o600
    token = (demo_root / "influx-token").read_text()
    assert token not in result.stdout + result.stderr
    stopped = demo(demo_root, "stop")
    assert stopped.stdout == "demo servers stopped\n" and not list(demo_root.glob("*.pid"))


def test_the_demo_says_so_and_runs_on_influxdb1_without_a_2x(demo_root, tmp_path_factory):
    no_go = "/usr/local/bin:/usr/bin:/bin"  # Debian's: no Go >= 1.21, no cargo here
    result = demo(demo_root, PATH=no_go, HOME=str(demo_root),
                  PUSHER_INFLUXD_CACHE=str(tmp_path_factory.mktemp("no-influxd")))
    assert result.stderr.splitlines()[0] == (
        "pusher demo: no InfluxDB 2.x (no influxd 2.x cached or on PATH, no Go >= 1.21 with "
        "cargo to build one): running on InfluxDB 1.x; Grafana's dashboards need 2.x")
    assert_the_whole_job(result)
    assert "examples/pusher.toml" in result.stderr and "  task " not in result.stdout


def test_the_closing_table_names_a_source_that_landed_nothing(tmp_path, influxdb2,
                                                              influx_bucket):
    config = tmp_path / "pusher.toml"
    config.write_text(f'[influx]\nurl = "{influxdb2.url}"\napi = "v2"\norg = "acme"\n'
                      f'token = "{influxdb2.token}"\nbucket = "{influx_bucket}"\n'
                      '[sources.orders]\ntype = "sql"\nurl = "sqlite:///shop.sqlite"\n'
                      '[[sources.orders.queries]]\nsql = "SELECT 1 AS n"\n'
                      'measurement = "orders"\n')
    influxdb2.write(influx_bucket, "other,granularity=hourly n=1i")
    shown = subprocess.run([sys.executable,
                            str(ROOT / "examples" / "demo_steps.py"), "show", str(config)],
                           capture_output=True, text=True, timeout=120, check=False)
    assert shown.returncode == 1, shown.stderr
    assert landed(shown.stdout) == {("orders", "orders"): (0, 0)}
    assert shown.stdout.splitlines()[-1] == \
        "  ! source orders landed nothing: see its summary line above"
