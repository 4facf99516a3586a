"""The demo's steps that are not pusher commands (scripts/demo.sh runs them).

    python examples/demo_steps.py onboard URL TOKEN_FILE   a fresh InfluxDB 2.x: org acme,
                                                           an operator token kept in TOKEN_FILE
    python examples/demo_steps.py run-tasks CONFIG         run each rollup task of CONFIG once,
                                                           through the tasks API, and wait
    python examples/demo_steps.py show CONFIG              what landed, per source and
                                                           measurement: hourly and daily points

`show` exits 1 when an enabled source landed nothing: a first run never hides a source.
"""

from __future__ import annotations

import csv
import io
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import requests

from pusher.config import Config, load_config
from pusher.sources import load_source

ORG = "acme"
POLL_DEADLINE = 120.0  # seconds: a ceiling for polling a task run, not a timing


def onboard(url: str, token_file: Path) -> None:
    """Set a fresh 2.x server up once (org, first bucket, operator token); later runs reuse it."""
    if not requests.get(f"{url}/api/v2/setup", timeout=10).json().get("allowed"):
        if not token_file.exists():
            sys.exit(f"{url} is set up already, but {token_file} is gone: "
                     "`bash scripts/demo.sh stop`, remove .local/demo and start again")
        return
    token = secrets.token_urlsafe(32)
    answer = requests.post(f"{url}/api/v2/setup", timeout=30, json={
        "username": "demo", "password": secrets.token_urlsafe(16), "org": ORG,
        "bucket": "pusher", "token": token})
    answer.raise_for_status()
    token_file.touch(mode=0o600)
    token_file.write_text(token)


def _api(config: Config, method: str, path: str, **kwargs: Any) -> requests.Response:
    influx = config.influx
    headers = {"Authorization": f"Token {influx.token}"} | kwargs.pop("headers", {})
    answer = requests.request(method, f"{influx.url.rstrip('/')}{path}", timeout=60,
                              headers=headers, **kwargs)
    answer.raise_for_status()
    return answer


def run_tasks(config: Config) -> None:
    """Start a run of each of the config's rollup tasks now, and wait for it."""
    daily = config.influx.bucket_for("daily")
    tasks = _api(config, "GET", "/api/v2/tasks", params={"org": config.influx.org,
                                                         "limit": 500}).json()["tasks"]
    ours = [t for t in tasks if t["name"].startswith("pusher_rollup_")
            and f'to(bucket: "{daily}"' in t["flux"]]
    for task in ours:
        run = _api(config, "POST", f"/api/v2/tasks/{task['id']}/runs", json={}).json()
        status = _wait(config, task["id"], run["id"])
        print(f"  task {task['name']}: {status}")
        if status != "success":
            sys.exit(f"task {task['name']} {status}: see its runs in InfluxDB")


def _wait(config: Config, task_id: str, run_id: str) -> str:
    deadline = time.monotonic() + POLL_DEADLINE
    while time.monotonic() < deadline:
        answer = requests.get(f"{config.influx.url}/api/v2/tasks/{task_id}/runs/{run_id}",
                              headers={"Authorization": f"Token {config.influx.token}"},
                              timeout=60)
        # A finished run is briefly 404 while it moves to the _tasks bucket.
        if answer.ok and answer.json()["status"] in ("success", "failed", "canceled"):
            return str(answer.json()["status"])
        time.sleep(0.2)
    return "still running"


def _flux_counts(config: Config, measurement: str) -> dict[str, tuple[int, str]]:
    """granularity -> (points, latest time) of `measurement`, from both buckets."""
    found: dict[str, tuple[int, str]] = {}
    for granularity in ("hourly", "daily"):
        bucket = config.influx.bucket_for(granularity)
        query = (f'from(bucket: "{bucket}") |> range(start: -30d)'
                 f' |> filter(fn: (r) => r._measurement == "{measurement}" and '
                 f'r.granularity == "{granularity}")'
                 ' |> group(columns: ["_field"]) |> sort(columns: ["_time"])'
                 ' |> reduce(identity: {n: 0, last: ""}, fn: (r, accumulator) => '
                 '({n: accumulator.n + 1, last: string(v: r._time)}))')
        text = _api(config, "POST", "/api/v2/query", params={"org": config.influx.org},
                    json={"query": query, "type": "flux",
                          "dialect": {"annotations": [], "header": True}},
                    headers={"Accept": "application/csv"}).text
        rows = [r for r in csv.DictReader(io.StringIO(text)) if r.get("n")]
        if rows:
            latest = max(r["last"] for r in rows)  # RFC 3339 with nanoseconds: to seconds
            found[granularity] = (max(int(r["n"]) for r in rows), latest[:19] + "Z")
    return found


def _influxql_counts(config: Config, measurement: str) -> dict[str, tuple[int, str]]:
    """granularity -> (points, latest time), from the hourly and daily retention policies."""
    influx, found = config.influx, {}
    for granularity in ("hourly", "daily"):
        policy = influx.retention_policy_for(granularity)
        source = f'"{policy}"."{measurement}"' if policy else f'"{measurement}"'
        answer = requests.get(f"{influx.url}/query", timeout=30, params={
            "db": influx.database, "q": f"SELECT count(*) FROM {source}; "
                                        f"SELECT * FROM {source} ORDER BY time DESC LIMIT 1"})
        answer.raise_for_status()
        counts, latest = (r.get("series", [{}])[0].get("values", [[None]])[0]
                          for r in answer.json()["results"])
        numbers = [v for v in counts[1:] if isinstance(v, int)]
        if numbers:
            found[granularity] = (max(numbers), str(latest[0]))
    return found


def show(config: Config) -> int:
    """Print the table of what landed; 1 if an enabled source landed nothing."""
    count = _influxql_counts if config.influx.api == "v1" else _flux_counts
    where = (f"database {config.influx.database!r}" if config.influx.api == "v1" else
             f"org {config.influx.org!r}, buckets {config.influx.bucket!r} and "
             f"{config.influx.bucket_for('daily')!r}")
    print(f"\nWhat landed in InfluxDB ({config.influx.url}, {where}):")
    print(f"  {'source':<12} {'measurement':<15} {'hourly':>7} {'daily':>7}  latest point")
    silent = []
    for name, spec in config.sources.items():
        if not spec.enabled:
            print(f"  {name:<12} (disabled)")
            continue
        declared = getattr(load_source(spec.type), "measurements", None)
        landed = 0
        for measurement, _ in declared(dict(spec.options)) if declared else []:
            counts = count(config, measurement)
            hourly, daily = (counts.get(g, (0, "-"))[0] for g in ("hourly", "daily"))
            latest = max((c[1] for c in counts.values()), default="-")
            landed += hourly + daily
            print(f"  {name:<12} {measurement:<15} {hourly:>7} {daily:>7}  {latest}")
        if not landed:
            silent.append(name)
    for name in silent:
        print(f"  ! source {name} landed nothing: see its summary line above")
    return 1 if silent else 0


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "onboard":
        onboard(argv[1], Path(argv[2]))
        return 0
    if len(argv) == 2 and argv[0] in ("run-tasks", "show"):
        config = load_config(Path(argv[1]))
        if argv[0] == "show":
            return show(config)
        run_tasks(config)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
