"""`pusher validate`: the config, every source and InfluxDB, each checked and told in one line.

A source type may carry a `check(options) -> str` attribute that reaches its system (a cheap
query, a connection) and returns a short description, raising on failure. Types without one
are loaded and their options checked, and the line says reaching them was not tried.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from pusher.config import Config, InfluxConfig
from pusher.errors import ConfigError
from pusher.influx_access import Grant, bucket_grants, check_access, least_privilege
from pusher.sources import checked_source


@dataclass
class Check:
    subject: str
    ok: bool
    message: str
    config_problem: bool = False

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.subject}: {self.message}"


def validate(config: Config) -> Iterator[Check]:
    """One Check for the config, each enabled source, and InfluxDB."""
    yield Check("config", True, f"{config.path}: {len(config.sources)} sources")
    for name, spec in config.sources.items():
        if spec.enabled:
            yield check_source(config, name)
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


def check_source(config: Config, name: str) -> Check:
    spec = config.sources[name]
    subject = f"source {name} ({spec.type})"
    file = str(config.path) if config.path else None
    try:
        source, options = checked_source(spec, file)
    except ConfigError as exc:
        return Check(subject, False, str(exc), config_problem=True)
    check = getattr(source, "check", None)
    if check is None:
        return Check(subject, True, "options valid; reaching it is not checked for this type")
    try:
        return Check(subject, True, str(check(dict(options))))
    except Exception as exc:
        return Check(subject, False, _reason(exc))


def check_influx(influx: InfluxConfig, session: requests.Session | None = None,
                 grants: Sequence[Grant] = ()) -> str:
    """Reach InfluxDB and prove the credentials work where points go; on 2.x, that the token
    has `grants` (default: collect's on the hourly bucket). Raises on any problem."""
    http = session or requests.Session()
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
        "q": f'SHOW RETENTION POLICIES ON "{influx.database}"'})
    body = _json(answer)
    result = body.get("results", [{}])[0]
    if "error" in body or "error" in result:
        raise RuntimeError(body.get("error") or result["error"])
    series = result.get("series") or [{"values": []}]
    policies = {row[0] for row in series[0].get("values", [])}
    wanted = {influx.retention_policy_for(g) for g in ("hourly", "daily")} - {""}
    if missing := sorted(wanted - policies):
        raise RuntimeError(f"database {influx.database!r} has no retention policy "
                           f"{missing[0]!r} (has {', '.join(sorted(policies))})")
    return (f"InfluxDB {version}, database {influx.database!r}, retention policies "
            f"{', '.join(sorted(wanted)) or 'default'} present")


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
