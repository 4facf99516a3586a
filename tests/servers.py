"""Real InfluxDB 1.x, Prometheus and PostgreSQL servers for tests (2.x: server_influxdb2.py)."""

import contextlib
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import requests

POLL_INTERVAL = 0.05
LOG_TAIL_LINES = 40
# A read-only InfluxQL statement may go over GET; everything else must be POSTed.
_INFLUXQL_READ = re.compile(r"^\s*(SELECT|SHOW|EXPLAIN)\b", re.IGNORECASE)
_INFLUXQL_INTO = re.compile(r"\bINTO\b", re.IGNORECASE)


class ServerError(RuntimeError):
    """A test server could not be found, started or stopped."""


class QueryError(RuntimeError):
    """A server answered a query with an error."""


class _PortTaken(Exception):
    """Another process bound our port between picking it and the server binding it."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_binary(name: str, env_var: str, package: str) -> str:
    """Locate an executable: $env_var first, then PATH; fail loudly, never skip."""
    path = os.environ.get(env_var) or shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        raise ServerError(
            f"{name} not found (looked at ${env_var} and PATH): "
            f"install it with `apt-get install {package}` or set {env_var}"
        )
    return path


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a server and every process in its group, then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _http_ok(url: str, status: int) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == status
    except requests.RequestException:
        return False


class _Server:
    """A server run in the foreground as our child process, logging to one file."""

    name = "server"
    ready_path = "/"
    ready_status = 200
    # The signal that asks for a prompt, clean shutdown.
    stop_signal = signal.SIGTERM

    def __init__(self, base_dir: Path, ready_timeout: float = 30.0) -> None:
        self.base_dir = Path(base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / f"{self.name}.log"
        self.port = free_port()
        self.ready_timeout = ready_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        # Ports may only move before the first successful start: restarts keep them.
        self._started_once = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write config files and create directories; called before every start."""
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def _popen_options(self) -> dict[str, Any]:
        # An own process group lets kill() take down helper processes too (PostgreSQL's
        # backends), and keeps a Ctrl-C on pytest from racing the fixtures' teardown.
        return {"cwd": self.base_dir, "process_group": 0}

    def _ready(self) -> bool:
        return _http_ok(self.url + self.ready_path, self.ready_status)

    def _reallocate_ports(self) -> None:
        self.port = free_port()

    def start(self) -> Self:
        """Start and wait until ready; a no-op if already running."""
        if self.running:
            return self
        # Picking a free port and the server binding it race with every other process on
        # the machine, so a first start that loses the race moves to fresh ports.
        attempts = 1 if self._started_once else 3
        for attempt in range(1, attempts + 1):
            try:
                self._start_once()
            except _PortTaken:
                if attempt == attempts:
                    raise self._fail(f"could not bind port {self.port}") from None
                self._reallocate_ports()
            else:
                self._started_once = True
                break
        return self

    def _start_once(self) -> None:
        self._prepare()
        # Remember where this start's output begins: the log accumulates across restarts.
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._proc = proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **self._popen_options(),
            )
        deadline = time.monotonic() + self.ready_timeout
        while not self._ready():
            code = proc.poll()
            if code is not None:
                self._proc = None
                with self.log_path.open("rb") as log:
                    log.seek(offset)
                    if b"address already in use" in log.read().lower():
                        raise _PortTaken
                raise self._fail(f"exited with code {code} while starting")
            if time.monotonic() > deadline:
                self.stop()
                raise self._fail(f"not ready after {self.ready_timeout:.0f}s")
            time.sleep(POLL_INTERVAL)
        # A foreign server that grabbed our port answers the poll while ours dies of the
        # bind error; catch the cases where it has died already.
        if proc.poll() is not None:
            self._proc = None
            raise _PortTaken

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down cleanly; SIGKILL if that takes longer than timeout seconds."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(self.stop_signal)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)

    def kill(self) -> None:
        """Die abruptly (SIGKILL), like a crash or an OOM kill; start() recovers."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            _kill_group(proc)

    def restart(self) -> Self:
        """Stop and start again on the same port(s) and data directory."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop for good (the end of a session)."""
        self.stop()

    def _fail(self, what: str) -> ServerError:
        return ServerError(f"{self.name} {what}; log {self.log_path}:\n{log_tail(self.log_path)}")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class InfluxDB1(_Server):
    """InfluxDB 1.x (`influxd run`): the 1.x write/query API and continuous queries."""

    name = "influxdb"
    ready_path = "/ping"
    ready_status = 204

    def __init__(self, base_dir: Path, ready_timeout: float = 30.0) -> None:
        super().__init__(base_dir, ready_timeout)
        self.binary = find_binary("influxd", "PUSHER_TEST_INFLUXD", "influxdb")
        # influxd always listens for backup/restore RPC too; the default 8088 would clash.
        self.rpc_port = free_port()
        self.config_path = self.base_dir / "influxdb.conf"

    def _reallocate_ports(self) -> None:
        super()._reallocate_ports()
        self.rpc_port = free_port()

    def _prepare(self) -> None:
        super()._prepare()
        # Debian's build reads `reporting-enabled`, upstream `reporting-disabled`; influxd
        # ignores unknown keys, so both are set. The _internal monitor store is off so
        # SHOW DATABASES lists only what tests create. CQs run every second, not every
        # minute, so rollup tests finish in seconds.
        self.config_path.write_text(
            f"""\
reporting-disabled = true
reporting-enabled = false
bind-address = "127.0.0.1:{self.rpc_port}"

[meta]
  dir = "{self.data_dir / "meta"}"

[data]
  dir = "{self.data_dir / "data"}"
  wal-dir = "{self.data_dir / "wal"}"
  query-log-enabled = false

[http]
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = false
  log-enabled = false

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = true
  log-enabled = true
  run-interval = "1s"

[logging]
  suppress-logo = true
"""
        )

    def _command(self) -> list[str]:
        return [self.binary, "run", "-config", str(self.config_path)]

    def query(
        self,
        q: str,
        db: str | None = None,
        method: str | None = None,
        epoch: str | None = None,
        check: bool = True,
    ) -> dict[str, Any]:
        """Run InfluxQL and return the parsed JSON; raise QueryError on any error if check."""
        if method is None:
            # influxd refuses writes (CREATE, DROP, SELECT ... INTO) over GET.
            is_read = _INFLUXQL_READ.match(q) and not _INFLUXQL_INTO.search(q)
            method = "GET" if is_read else "POST"
        params = {"q": q} | ({"db": db} if db else {}) | ({"epoch": epoch} if epoch else {})
        if method.upper() == "GET":
            resp = requests.get(f"{self.url}/query", params=params, timeout=30)
        else:
            resp = requests.post(f"{self.url}/query", data=params, timeout=30)
        try:
            body: dict[str, Any] = resp.json()
        except ValueError:
            body = {"error": resp.text}
        errors = [body["error"]] if "error" in body else []
        errors += [r["error"] for r in body.get("results", []) if "error" in r]
        if check and (errors or not resp.ok):
            raise QueryError(f"{q!r} -> HTTP {resp.status_code}: {errors or resp.text}")
        return body

    def select(self, q: str, db: str, epoch: str = "s") -> list[dict[str, Any]]:
        """Run one read query and return its rows as dicts, group-by tags included."""
        rows = []
        for series in self.query(q, db=db, epoch=epoch)["results"][0].get("series", []):
            tags = series.get("tags", {})
            rows += [tags | dict(zip(series["columns"], v, strict=True)) for v in series["values"]]
        return rows

    def create_database(self, name: str) -> None:
        self.query(f"CREATE DATABASE {quote_ident(name)}")


def quote_ident(name: str) -> str:
    """Quote an InfluxQL identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Prometheus(_Server):
    """Prometheus scraping itself (job "prometheus") and any extra targets every second."""

    name = "prometheus"
    ready_path = "/-/ready"

    def __init__(
        self,
        base_dir: Path,
        extra_targets: dict[str, list[str]] | None = None,
        ready_timeout: float = 30.0,
    ) -> None:
        super().__init__(base_dir, ready_timeout)
        self.binary = find_binary("prometheus", "PUSHER_TEST_PROMETHEUS", "prometheus")
        self.extra_targets = extra_targets or {}
        self.config_path = self.base_dir / "prometheus.yml"

    def _prepare(self) -> None:
        super()._prepare()
        jobs = {"prometheus": [f"127.0.0.1:{self.port}"]} | self.extra_targets
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": targets}]}
                for job, targets in jobs.items()
            ],
        }
        # JSON is valid YAML, so no YAML library is needed.
        self.config_path.write_text(json.dumps(config, indent=2))

    def _command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Evaluate an instant query now and return data.result."""
        resp = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=30)
        body = resp.json()
        if body.get("status") != "success":
            raise QueryError(f"{promql!r} -> HTTP {resp.status_code}: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for_samples(self, query: str = "up", timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll an instant query until it returns something (first scrape takes ~6s)."""
        deadline = time.monotonic() + timeout
        while not (result := self.query(query)):
            if time.monotonic() > deadline:
                raise self._fail(f"returned nothing for {query!r} within {timeout:.0f}s")
            time.sleep(POLL_INTERVAL * 4)
        return result

    def wait_for_samples_this_hour(self, metric: str, count: int = 2,
                                   timeout: float = 60.0) -> None:
        """Poll until the elapsed part of the current hour holds `count` samples of `metric`:
        what increase() over the current window needs (an hour's first scrape comes a few
        seconds after it starts; if the hour turns meanwhile, the last one holds them)."""
        self._wait_for_count(metric, count, timeout, lambda: int(time.time()) % 3600 + 1,
                             "this hour")

    def wait_for_samples_since(self, metric: str, since: datetime, count: int = 1,
                               timeout: float = 60.0) -> None:
        """Poll until [since, now] holds `count` samples of `metric`: a window that began
        less than a scrape interval (1 s) ago holds none yet, whatever the hour is after."""
        self._wait_for_count(metric, count, timeout,
                             lambda: int(time.time() - since.timestamp()) + 1,
                             f"since {since.isoformat()}")

    def _wait_for_count(self, metric: str, count: int, timeout: float,
                        elapsed: Callable[[], int], where: str) -> None:
        deadline = time.monotonic() + timeout
        while not self.query(f"count_over_time({metric}[{elapsed()}s]) >= {count}"):
            if time.monotonic() > deadline:
                raise self._fail(f"fewer than {count} samples of {metric} {where}")
            time.sleep(POLL_INTERVAL * 4)


class PostgreSQL(_Server):
    """A throw-away PostgreSQL cluster with one password-protected role and database."""

    name = "postgresql"
    # SIGTERM is "smart" shutdown, which waits for every client (a leftover connection
    # pool) to hang up; SIGINT is "fast": it disconnects them.
    stop_signal = signal.SIGINT

    def __init__(
        self,
        base_dir: Path,
        user: str = "pusher",
        password: str = "pusher",
        dbname: str = "pusher",
        ready_timeout: float = 30.0,
    ) -> None:
        super().__init__(base_dir, ready_timeout)
        self.bindir = _postgres_bindir()
        self.user, self.password, self.dbname = user, password, dbname
        self._owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        self._private_dir: Path | None = None
        if self._owner is not None:
            # PostgreSQL refuses to run as root, and the postgres user cannot enter
            # pytest's base temp dir (/tmp/pytest-of-root is 0700): the cluster lives in a
            # private dir in /tmp instead. The log stays in base_dir (we open it).
            self._private_dir = Path(tempfile.mkdtemp(prefix="pusher-pg-"))
            os.chown(self._private_dir, self._owner.pw_uid, self._owner.pw_gid)
            self.data_dir = self._private_dir / "data"
        # Kept short: a unix socket path must fit in 107 bytes.
        self.socket_dir = (self._private_dir or self.base_dir) / "sock"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.dbname}"

    @property
    def url(self) -> str:
        return self.dsn

    @property
    def sqlalchemy_url(self) -> str:
        return self.dsn.replace("postgresql://", "postgresql+psycopg2://", 1)

    def _popen_options(self) -> dict[str, Any]:
        if self._owner is None:
            return super()._popen_options()
        # Run as postgres directly (not via runuser/pg_ctl) so the server stays our
        # child: we choose its signals and reap it.
        owner = {"user": self._owner.pw_uid, "group": self._owner.pw_gid, "extra_groups": []}
        return super()._popen_options() | {"cwd": self._private_dir} | owner

    def _prepare(self) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        # Only the cluster owner may enter the socket dir: local connections are trusted.
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        if self._owner is not None:
            os.chown(self.socket_dir, self._owner.pw_uid, self._owner.pw_gid)

    def _initdb(self) -> None:
        # Password auth over TCP (what pusher uses); trust on the private socket, for
        # creating the role.
        options = "-U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C"
        cmd = [str(self.bindir / "initdb"), f"--pgdata={self.data_dir}", *options.split()]
        done = subprocess.run(
            [*cmd, "--no-sync", "--no-instructions"],
            capture_output=True,
            text=True,
            timeout=120,
            **self._popen_options(),
        )
        if done.returncode != 0:
            raise ServerError(f"initdb failed:\n{done.stdout}{done.stderr}")

    def _command(self) -> list[str]:
        # fsync off saves time and loses nothing when only the server dies (kill()); unlike
        # synchronous_commit=off, which loses the last commits on a crash.
        settings = "listen_addresses=127.0.0.1 fsync=off"
        options = [arg for setting in settings.split() for arg in ("-c", setting)]
        dirs = ["-D", str(self.data_dir), "-k", str(self.socket_dir)]
        return [str(self.bindir / "postgres"), *dirs, "-p", str(self.port), *options]

    def _ready(self) -> bool:
        # pg_isready says yes only once connections are accepted, not while starting up.
        cmd = [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(cmd, timeout=10).returncode == 0

    def start(self) -> Self:
        first = not self._started_once
        super().start()
        if first:
            superuser = f"host={self.socket_dir} port={self.port} user=postgres dbname=postgres"
            role = f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}'"
            database = f"CREATE DATABASE {self.dbname} OWNER {self.user}"
            self._psql(superuser, role)
            self._psql(superuser, database)
        return self

    def close(self) -> None:
        super().close()
        if self._private_dir is not None:
            shutil.rmtree(self._private_dir, ignore_errors=True)

    def psql(self, sql: str) -> str:
        """Run SQL as the test role over TCP; return unaligned, tuples-only output."""
        return self._psql(self.dsn, sql)

    def _psql(self, conninfo: str, sql: str) -> str:
        # -X: ignore ~/.psqlrc, which could change the output format.
        cmd = [str(self.bindir / "psql"), "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-d", conninfo]
        done = subprocess.run([*cmd, "-c", sql], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise QueryError(f"{sql!r}: {done.stderr.strip()}")
        return done.stdout


def _postgres_bindir() -> Path:
    """Find the server tools: $PUSHER_TEST_PG_BINDIR, Debian's versioned dir, then PATH."""
    candidates = [os.environ.get("PUSHER_TEST_PG_BINDIR", "")]
    # Debian keeps the server tools off PATH, one directory per major version.
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates.append(os.path.dirname(shutil.which("initdb") or ""))
    for bindir in filter(None, candidates):
        if all(
            os.access(Path(bindir, tool), os.X_OK)
            for tool in ("initdb", "postgres", "pg_isready", "psql")
        ):
            return Path(bindir)
    raise ServerError(
        "PostgreSQL server tools (initdb, postgres, pg_isready, psql) not found: "
        "install them with `apt-get install postgresql` or set PUSHER_TEST_PG_BINDIR"
    )


def _version_key(bindir: str) -> list[int]:
    """Sort key for /usr/lib/postgresql/<version>/bin: 15 > 9.6."""
    return [int(n) for n in re.findall(r"\d+", Path(bindir).parent.name)]
