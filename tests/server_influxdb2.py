"""A real InfluxDB 2.x OSS server for tests: onboarded, with helpers for buckets, tokens, Flux.

The binary is built by scripts/influxd2.sh (the README's test command does it); tests find
it through $PUSHER_TEST_INFLUXD2, else the build cache, else an `influxd` 2.x on PATH.
"""

import csv
import io
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import requests
from servers import QueryError, ServerError, _Server

VERSION = "v2.7.12"
ROOT = Path(__file__).resolve().parent.parent
ORG = "acme"
OPERATOR_TOKEN = "pusher-test-operator-token"  # a throw-away test server


def find_influxd2() -> str:
    """The influxd 2.x binary: $PUSHER_TEST_INFLUXD2, the build cache, then PATH."""
    cache = Path(os.environ.get("PUSHER_INFLUXD_CACHE") or ROOT / ".local" / "influxd")
    candidates = [os.environ.get("PUSHER_TEST_INFLUXD2", ""), str(cache / f"influxd-{VERSION}")]
    candidates.append(shutil.which("influxd") or "")
    for path in filter(None, candidates):
        if os.access(path, os.X_OK) and _is_v2(path):
            return path
    raise ServerError(
        "influxd 2.x not found (looked at $PUSHER_TEST_INFLUXD2, the build cache "
        f"{cache} and PATH): build it with `bash scripts/influxd2.sh`"
    )


def _is_v2(path: str) -> bool:
    done = subprocess.run([path, "version"], capture_output=True, text=True, timeout=30)
    return done.returncode == 0 and done.stdout.startswith("InfluxDB v2.")


class InfluxDB2(_Server):
    """InfluxDB 2.x OSS, onboarded with org `acme`, bucket `pusher` and an operator token."""

    name = "influxdb2"
    ready_path = "/health"

    def __init__(self, base_dir: Path, ready_timeout: float = 60.0) -> None:
        super().__init__(base_dir, ready_timeout)
        self.binary = find_influxd2()
        self.org = ORG
        self.token = OPERATOR_TOKEN
        self.org_id = ""

    def _command(self) -> list[str]:
        data = self.data_dir
        return [
            self.binary,
            f"--bolt-path={data / 'influxd.bolt'}",
            f"--engine-path={data / 'engine'}",
            f"--sqlite-path={data / 'influxd.sqlite'}",
            f"--http-bind-address=127.0.0.1:{self.port}",
            "--reporting-disabled",
            "--log-level=warn",
            # Flux queries in tests are small; the defaults would queue them behind each other.
            "--query-concurrency=16",
            "--query-queue-size=64",
        ]

    def start(self) -> Self:
        first = not self._started_once
        super().start()
        if first:
            self._onboard()
        return self

    def _onboard(self) -> None:
        body = {"username": "operator", "password": "operator-password", "org": self.org,
                "bucket": "onboarding", "token": self.token, "retentionPeriodSeconds": 0}
        resp = requests.post(f"{self.url}/api/v2/setup", json=body, timeout=30)
        if resp.status_code != 201:
            raise self._fail(f"onboarding answered {resp.status_code}: {resp.text}")
        self.org_id = resp.json()["org"]["id"]

    # --- the API, as the operator ---------------------------------------------------------

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any
            ) -> requests.Response:
        """One API call; raises QueryError on an error status."""
        headers = {"Authorization": f"Token {token or self.token}"} | kwargs.pop("headers", {})
        resp = requests.request(method, f"{self.url}{path}", headers=headers, timeout=60,
                                **kwargs)
        if resp.status_code >= 300:
            raise QueryError(f"{method} {path} -> HTTP {resp.status_code}: {resp.text}")
        return resp

    def create_bucket(self, name: str, retention_seconds: int = 0) -> str:
        """Create a bucket; returns its ID."""
        rules = [{"type": "expire", "everySeconds": retention_seconds}] if retention_seconds \
            else []
        resp = self.api("POST", "/api/v2/buckets",
                        json={"name": name, "orgID": self.org_id, "retentionRules": rules})
        bucket_id: str = resp.json()["id"]
        return bucket_id

    def bucket_id(self, name: str) -> str | None:
        resp = requests.get(f"{self.url}/api/v2/buckets", params={"name": name, "org": self.org},
                            headers={"Authorization": f"Token {self.token}"}, timeout=30)
        if resp.status_code == 404:
            return None
        buckets = resp.json().get("buckets", [])
        return buckets[0]["id"] if buckets else None

    def create_token(self, permissions: list[tuple[str, str, str | None]]) -> str:
        """A token with exactly these (action, resource type, bucket name or None) grants."""
        grants = []
        for action, kind, bucket in permissions:
            # The org itself is the resource `orgs/<id>`; everything else lives in the org.
            resource: dict[str, Any] = {"type": kind, "id": self.org_id} if kind == "orgs" \
                else {"type": kind, "orgID": self.org_id}
            if bucket is not None:
                bucket_id = self.bucket_id(bucket)
                if bucket_id is None:
                    raise QueryError(f"no bucket {bucket!r} to grant {action} on")
                resource["id"] = bucket_id
            grants.append({"action": action, "resource": resource})
        resp = self.api("POST", "/api/v2/authorizations",
                        json={"orgID": self.org_id, "permissions": grants})
        token: str = resp.json()["token"]
        return token

    def buckets(self) -> dict[str, dict[str, Any]]:
        """Every bucket of the org by name (the operator sees them all)."""
        resp = self.api("GET", "/api/v2/buckets", params={"org": self.org, "limit": 100})
        return {b["name"]: b for b in resp.json()["buckets"]}

    def tasks(self) -> dict[str, list[dict[str, Any]]]:
        """Every task of the org, by name (names need not be unique in 2.x)."""
        resp = self.api("GET", "/api/v2/tasks", params={"orgID": self.org_id, "limit": 500})
        found: dict[str, list[dict[str, Any]]] = {}
        for task in resp.json()["tasks"]:
            found.setdefault(task["name"], []).append(task)
        return found

    def run_task(self, task_id: str, scheduled_for: datetime, deadline: float = 120.0
                 ) -> dict[str, Any]:
        """Start a manual run whose `now()` is `scheduled_for`; wait until it has ended.

        Polls the run (the server's scheduler picks manual runs up within a second or
        two); the deadline is a ceiling for polling, not a timed assertion.
        """
        when = scheduled_for.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        run = self.api("POST", f"/api/v2/tasks/{task_id}/runs",
                       json={"scheduledFor": when}).json()
        path = f"/api/v2/tasks/{task_id}/runs/{run['id']}"
        end = time.monotonic() + deadline
        while True:
            resp = requests.get(f"{self.url}{path}", timeout=60,
                                headers={"Authorization": f"Token {self.token}"})
            # 404 for a moment: a finished run moves from the scheduler to the _tasks bucket.
            if resp.status_code != 404:
                run = self.api("GET", path).json() if resp.status_code >= 300 else resp.json()
                if run["status"] in ("success", "failed", "canceled"):
                    return run
            if time.monotonic() > end:
                raise QueryError(f"run {run['id']} of task {task_id} still {run['status']}")
            time.sleep(0.1)

    def run_log(self, task_id: str, run_id: str) -> str:
        resp = self.api("GET", f"/api/v2/tasks/{task_id}/runs/{run_id}/logs")
        return "\n".join(event["message"] for event in resp.json().get("events", []))

    def write(self, bucket: str, lines: str, precision: str = "s") -> None:
        self.api("POST", "/api/v2/write", data=lines.encode(),
                 params={"org": self.org, "bucket": bucket, "precision": precision})

    def flux(self, query: str) -> list[dict[str, str]]:
        """Run a Flux query; returns the rows of every table as dicts of strings."""
        resp = self.api("POST", "/api/v2/query", params={"org": self.org},
                        json={"query": query, "type": "flux",
                              "dialect": {"annotations": [], "header": True}},
                        headers={"Accept": "application/csv"})
        rows: list[dict[str, str]] = []
        header: list[str] | None = None
        for record in csv.reader(io.StringIO(resp.text)):
            if not record or not any(record):
                header = None  # a blank line separates tables with different columns
                continue
            if header is None:
                header = record
                continue
            if record == header:
                continue
            rows.append({k: v for k, v in zip(header, record, strict=True) if k})
        return rows
