"""`pusher validate`: the config, every source and InfluxDB, each checked and told in one line.

A source is proved as collect would use it: its `check(options) -> str` attribute, where it
has one, reaches its system (a connection, a status endpoint) and returns a short
description, raising on failure; then each of its probes (pusher.sources.source_probes: one
per query for prometheus and sql, a one-row report for google-analytics) reads a tiny recent
window and says what it would write (pusher/checks/probe.py). InfluxDB is checked for where points
go: the database or buckets exist, and the credentials may write there (and read back).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from pusher.bounded import BoundedSession
from pusher.checks.influx_access import Grant, bucket_grants, check_access, least_privilege
from pusher.checks.probe import probe_window, run_probe
from pusher.config import Config, InfluxConfig
from pusher.deadline import Deadline, within
from pusher.errors import ConfigError
from pusher.points.lineprotocol import Encoder
from pusher.points.quoting import influxql_ident
from pusher.sources import checked_source, source_probes
from pusher.writers import SETUP_HINT, one_line, with_setup_hint

CHECK_TIMEOUT = 30.0  # seconds a source's check may take, its requests and connects


@dataclass
class Check:
    subject: str
    ok: bool
    message: str
    config_problem: bool = False

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.subject}: {self.message}"


def validate(config: Config, now: datetime | None = None) -> Iterator[Check]:
    """Checks for the config, each enabled source (and each of its probes), and InfluxDB."""
    yield Check("config", True, f"{config.path}: {len(config.sources)} sources")
    for name, spec in config.sources.items():
        if spec.enabled:
            yield from check_source(config, name, now or datetime.now(UTC))
        else:
            yield Check(f"source {name}", True, "disabled, not checked")
    yield check_target(config)


def check_target(config: Config, session: requests.Session | None = None) -> Check:
    """InfluxDB reachable, and the credentials may do what collect does (no more)."""
    subject = f"influx {config.influx.url}"
    try:
        return Check(subject, True, check_influx(config.influx, session,
                                                 least_privilege(config)))
    except Exception as exc:
        return Check(subject, False, _reason(exc))


def check_source(config: Config, name: str, now: datetime) -> Iterator[Check]:
    """The source's options, its system reached, then one Check per probe."""
    spec = config.sources[name]
    subject = f"source {name} ({spec.type})"
    file = str(config.path) if config.path else None
    try:
        source, options = checked_source(spec, file)
    except ConfigError as exc:
        yield Check(subject, False, str(exc), config_problem=True)
        return
    check = getattr(source, "check", None)
    try:
        # A check is cheap: a server that does not answer it in this time is a failure.
        with within(Deadline(CHECK_TIMEOUT)):
            described = str(check(dict(options))) if check else "options valid"
        yield Check(subject, True, described)
        probes = source_probes(source, options)
    except Exception as exc:
        yield Check(subject, False, _reason(exc))
        return  # not reached: each probe would fail the same way
    window = probe_window(now, spec.granularity)
    encoder = Encoder(config.influx.precision)
    for label, read in probes:
        with within(Deadline(CHECK_TIMEOUT)):  # each probe, like the check
            result = run_probe(label, read, window, encoder)
        yield Check(f"{subject} {label}".rstrip(), result.ok, result.describe())


def check_influx(influx: InfluxConfig, session: requests.Session | None = None,
                 grants: Sequence[Grant] = ()) -> str:
    """Reach InfluxDB and prove the credentials work where points go; on 2.x, that the token
    has `grants` (default: collect's on the hourly bucket). Raises on any problem."""
    http = session or BoundedSession()
    http.verify = influx.verify_ssl
    base = influx.url.rstrip("/")
    if influx.api == "v1":
        return _check_v1(http, base, influx)
    return _check_v2(http, base, influx, grants or bucket_grants(influx.bucket))


def _check_v1(http: requests.Session, base: str, influx: InfluxConfig) -> str:
    ping = http.get(f"{base}/ping", timeout=influx.timeout)
    if ping.status_code != 204:
        raise RuntimeError(f"/ping answered HTTP {ping.status_code}")
    version = ping.headers.get("X-Influxdb-Version", "?")
    auth = (influx.username, influx.password) if influx.username or influx.password else None
    # Listing the database's retention policies needs valid credentials, and proves both
    # the database and the policies the points go to exist.
    answer = http.get(f"{base}/query", auth=auth, timeout=influx.timeout, params={
        "q": f"SHOW RETENTION POLICIES ON {influxql_ident(influx.database)}"})
    body = _json(answer)
    result = body.get("results", [{}])[0]
    if "error" in body or "error" in result:
        raise RuntimeError(with_setup_hint(str(body.get("error") or result["error"])))
    series = result.get("series") or [{"values": []}]
    policies = {row[0] for row in series[0].get("values", [])}
    wanted = {influx.retention_policy_for(g) for g in ("hourly", "daily")} - {""}
    if missing := sorted(wanted - policies):
        raise RuntimeError(f"database {influx.database!r} has no retention policy "
                           f"{missing[0]!r} (has {', '.join(sorted(policies))}): {SETUP_HINT}")
    for policy in sorted(wanted) or [""]:
        _write_nothing(http, base, influx, policy, auth)
    return (f"InfluxDB {version}, database {influx.database!r}, retention policies "
            f"{', '.join(sorted(wanted)) or 'default'} present, the credentials may write")


def _write_nothing(http: requests.Session, base: str, influx: InfluxConfig, policy: str,
                   auth: tuple[str, str] | None) -> None:
    """A write of zero points: 204 when the credentials may write there (1.x checks the
    permission before it reads the body), 403 when they may not."""
    params = {"db": influx.database} | ({"rp": policy} if policy else {})
    answer = http.post(f"{base}/write", params=params, data=b"", auth=auth,
                       timeout=influx.timeout)
    if answer.status_code == 204:
        return
    where = f"database {influx.database!r}" + (f", retention policy {policy!r}" if policy
                                               else "")
    raise RuntimeError(f"the credentials may not write to {where}: HTTP "
                       f"{answer.status_code}: {_message(answer)}")


def _message(answer: requests.Response) -> str:
    try:
        return one_line(str(answer.json().get("error", answer.text)))
    except (ValueError, AttributeError):
        return one_line(answer.text or answer.reason or "")


def _check_v2(http: requests.Session, base: str, influx: InfluxConfig,
              grants: Sequence[Grant]) -> str:
    health = _json(http.get(f"{base}/health", timeout=influx.timeout))
    if health.get("status") != "pass":
        raise RuntimeError(f"/health says {health.get('status', 'nothing')}: "
                           f"{health.get('message', '')}")
    if problems := check_access(http, influx, grants):
        raise RuntimeError("; ".join(problems))
    allowed = ", ".join(str(g) for g in grants)
    return f"InfluxDB {health.get('version', '?')}, org {influx.org!r}: the token may {allowed}"


def _json(response: requests.Response) -> dict[str, Any]:
    if response.status_code in (401, 403):
        raise RuntimeError(f"HTTP {response.status_code}: credentials refused")
    try:
        body = response.json()
    except ValueError:
        raise RuntimeError(f"HTTP {response.status_code}: not an InfluxDB answer") from None
    if response.status_code >= 300:
        raise RuntimeError(f"HTTP {response.status_code}: "
                           f"{body.get('error') or body.get('message') or body}")
    return body if isinstance(body, dict) else {}


def _reason(exc: Exception) -> str:
    if isinstance(exc, requests.RequestException):
        return f"unreachable ({type(exc).__name__})"
    return str(exc) or type(exc).__name__
