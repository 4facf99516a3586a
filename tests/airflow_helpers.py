"""A real Apache Airflow for the DAG file's tests: its own venv, home, SQLite database, CLI.

The venv comes from scripts/airflow.sh (installed by `scripts/install.sh test`); pusher is
imported from this checkout (first on PYTHONPATH), whichever checkout installed the venv.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import requests
from servers import free_port, log_tail

ROOT = Path(__file__).resolve().parent.parent


def airflow_venv() -> Path:
    """The venv scripts/airflow.sh installed; fails (never skips) when it is missing."""
    found = subprocess.run(["bash", str(ROOT / "scripts" / "airflow.sh"), "--check"],
                           capture_output=True, text=True, check=False)
    if found.returncode != 0:
        raise RuntimeError("Apache Airflow is not installed: run `bash scripts/install.sh test`")
    return Path(found.stdout.strip())


class Airflow:
    """One AIRFLOW_HOME with a DAGs folder holding platforms/airflow/pusher_dags.py."""

    def __init__(self, home: Path, config: Path, plugins: Path) -> None:
        self.venv = airflow_venv()
        self.home = home
        self.port = free_port()
        (home / "dags").mkdir(parents=True, exist_ok=True)
        dag_file = ROOT / "platforms" / "airflow" / "pusher_dags.py"
        (home / "dags" / dag_file.name).write_text(dag_file.read_text())
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith(("AIRFLOW", "PUSHER_", "PYTHON"))}
        self.env = clean | {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL":
                f"http://127.0.0.1:{self.port}/execution/",
            "PYTHONPATH": f"{ROOT}{os.pathsep}{plugins}",
            "PUSHER_CONFIG": str(config),
        }
        self.outputs: list[str] = []  # everything the CLI printed (task logs of `dags test`)

    def run(self, *args: str, timeout: float = 600, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(self.venv / "bin" / "airflow"), *args], capture_output=True,
                              text=True, env=env or self.env, timeout=timeout, check=False)
        self.outputs.append(done.stdout + done.stderr)
        return done

    def ok(self, *args: str, timeout: float = 600) -> str:
        done = self.run(*args, timeout=timeout)
        assert done.returncode == 0, (args, done.stdout[-3000:], done.stderr[-3000:])
        return done.stdout

    def json(self, *args: str) -> Any:
        out = self.ok(*args, "-o", "json")
        # The JSON is the last line; Airflow may print warnings before it.
        return json.loads(out.strip().splitlines()[-1])

    def db(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        # Read-only and short: Airflow's own processes are writing the same file.
        conn = sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True, timeout=30)
        try:
            return list(conn.execute(query, params))
        finally:
            conn.close()

    def log_files(self) -> list[Path]:
        return sorted(p for p in (self.home / "logs").rglob("*") if p.is_file())

    @contextmanager
    def servers(self) -> Iterator[None]:
        """The API server, then the scheduler (its tasks report to the API), stopped after."""
        procs: list[tuple[subprocess.Popen[bytes], Any]] = []
        try:
            for name, args, ready in (
                    ("api-server", ["--port", str(self.port), "--workers", "1"], "metadatabase"),
                    ("scheduler", [], "scheduler")):
                log = open(self.home / f"{name}.log", "wb")  # noqa: SIM115 (closed below)
                procs.append((subprocess.Popen(
                    [str(self.venv / "bin" / "airflow"), name, *args], env=self.env,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log))
                self._wait_healthy(procs, ready)
            yield
        finally:
            for proc, log in procs:
                _stop(proc)
                log.close()

    def _wait_healthy(self, procs: list[tuple[subprocess.Popen[bytes], Any]], part: str
                      ) -> None:
        url = f"http://127.0.0.1:{self.port}/api/v2/monitor/health"
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            for proc, log in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[1]} exited: {log_tail(Path(log.name))}")
            try:
                if requests.get(url, timeout=2).json()[part]["status"] == "healthy":
                    return
            except (requests.RequestException, ValueError, KeyError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Airflow's {part} not healthy: "
                           f"{log_tail(self.home / 'api-server.log')}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group (API workers, executor children), then KILL what is left."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with suppress(subprocess.TimeoutExpired):
        proc.wait(30)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
