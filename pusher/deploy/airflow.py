"""Airflow DAGs for pusher, as plain data: one DagSpec per enabled source (pure, no Airflow).

`platforms/airflow/pusher_dags.py` turns these specs into DAGs with `pusher.deploy.airflow_dags`
(which imports Airflow); everything Airflow-free lives here so that it is tested without
Airflow and read by `pusher validate` (the `[airflow]` table of pusher.toml):

    [airflow]
    start_date = "2026-11-01"         # the first data interval (default DEFAULT_START)
    catchup = false                   # Airflow's catch-up (default: pusher's own, see below)
    influx_conn_id = "influxdb_default"  # "" to take [influx] as written
    retries = 2                       # for transient failures only (exit 1)
    retry_delay = 300                 # seconds
    timeout_grace = 60                # seconds added to a run's timeout (default: [pusher]'s)
    [airflow.sources.NAME]            # per source: start_date, catchup, retries,
                                      # influx_conn_id, conn_id
    conn_id = "website_db"            # the source's URL/credentials from this Connection
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pusher.deploy.schedules import enabled_sources, timeout_grace, to_cron
from pusher.errors import ConfigError
from pusher.schedules import parse_schedule

# Only a lower bound when catch-up is pusher's (the default): Airflow schedules the
# latest interval first and pusher collects what its watermark says was missed.
DEFAULT_START = "2026-01-01"
DEFAULT_INFLUX_CONN = "influxdb_default"  # as apache-airflow-providers-influxdb names it
DEFAULT_GRACE = 60.0  # seconds after a run's own timeout before Airflow kills the task
_GLOBAL_KEYS = {"start_date", "catchup", "influx_conn_id", "retries", "retry_delay",
                "timeout_grace", "sources"}
_SOURCE_KEYS = {"start_date", "catchup", "retries", "conn_id", "influx_conn_id"}
# Airflow's rule for DAG ids (airflow.utils.helpers.KEY_REGEX), at most 250 characters.
_DAG_ID = re.compile(r"^[\w.-]+$", re.ASCII)
_NOT_ID = re.compile(r"[^\w.-]", re.ASCII)


@dataclass(frozen=True)
class DagSettings:
    """How one source's DAG runs; retry_delay, timeout_grace in seconds."""

    start_date: str = DEFAULT_START
    catchup: bool = False
    influx_conn_id: str = DEFAULT_INFLUX_CONN
    conn_id: str = ""
    retries: int = 2
    retry_delay: float = 300.0
    timeout_grace: float = DEFAULT_GRACE


@dataclass(frozen=True)
class DagSpec:
    """One source's DAG: schedule as cron in `timezone`; `error` set if it cannot run."""

    dag_id: str
    source: str
    source_type: str
    config: str
    schedule: str | None
    timezone: str
    settings: DagSettings
    execution_timeout: float = 0.0  # seconds: the run's timeout plus the grace
    run_timeout: float = 0.0  # seconds: the run's own (`pusher collect --timeout`)
    granularity: str = "hourly"
    error: str | None = None
    max_active_runs: int = 1  # scheduled runs in order: each moves the watermark


def dag_id_for(source: str) -> str:
    """`pusher_<source>`, made a valid Airflow DAG id; a changed name gets a stable suffix."""
    dag_id = f"pusher_{source}"
    if _DAG_ID.match(dag_id) and len(dag_id) <= 250:
        return dag_id
    # The suffix keeps "web shop" and "web_shop" apart and is the same on every parse, so
    # a DAG's id, and its history, never moves.
    digest = hashlib.sha256(source.encode()).hexdigest()[:8]
    return f"{_NOT_ID.sub('_', dag_id)[:240]}_{digest}"


def parse_settings(table: Any, file: str, sources: Mapping[str, Any] | None = None,
                   defaults: DagSettings = DagSettings()) -> dict[str, DagSettings]:
    """The `[airflow]` table as settings per source name ("" = the defaults for all)."""
    if not isinstance(table, dict):
        raise ConfigError("must be a table", file=file, key="airflow")
    _check(table, _GLOBAL_KEYS, file, "airflow")
    base = _settings(defaults, table, file, "airflow")
    per_source = table.get("sources", {})
    if not isinstance(per_source, dict):
        raise ConfigError("must be a table", file=file, key="airflow.sources")
    result = {"": base}
    for name, overrides in per_source.items():
        key = f"airflow.sources.{name}"
        if sources is not None and name not in sources:
            raise ConfigError(f"no source named {name!r}", file=file, key=key)
        if not isinstance(overrides, dict):
            raise ConfigError("must be a table", file=file, key=key)
        _check(overrides, _SOURCE_KEYS, file, key)
        result[name] = _settings(base, overrides, file, key)
    return result


def _check(table: Mapping[str, Any], allowed: set[str], file: str, key: str) -> None:
    for name in table:
        if name not in allowed:
            raise ConfigError(f"unknown key (known: {', '.join(sorted(allowed))})",
                              file=file, key=f"{key}.{name}")


def _settings(base: DagSettings, table: Mapping[str, Any], file: str, key: str
              ) -> DagSettings:
    kinds: dict[str, type] = {"start_date": str, "catchup": bool, "influx_conn_id": str,
                              "conn_id": str, "retries": int, "retry_delay": float,
                              "timeout_grace": float}
    values: dict[str, Any] = {}
    for name, kind in kinds.items():
        if name not in table:
            continue
        value = table[name]
        if isinstance(value, date) and name == "start_date":
            value = value.isoformat()  # TOML's bare dates are dates, not strings
        if kind is float and type(value) is int:
            value = float(value)
        number = kind in (int, float)
        if type(value) is not kind or (isinstance(value, int | float) and value < 0):
            raise ConfigError(f"must be a {'non-negative ' if number else ''}{kind.__name__}, "
                              f"not {value!r}", file=file, key=f"{key}.{name}")
        values[name] = value
    if "start_date" in values:
        try:
            datetime.fromisoformat(values["start_date"])
        except ValueError:
            raise ConfigError(f"must be an ISO date, not {values['start_date']!r}",
                              file=file, key=f"{key}.start_date") from None
    return replace(base, **values)


def dag_specs(config: Path, start_date: str | None = None) -> list[DagSpec]:
    """One spec per enabled source; a source that cannot be a DAG gets a spec with `error`.

    Reads the file as written (no ${VAR}: secrets are not needed to schedule). A problem
    with the whole file (missing, not TOML, bad timezone or [airflow]) raises ConfigError.
    """
    file = str(config)
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("no such file (set $PUSHER_CONFIG on the DAG processor and the "
                          "workers)", file=file) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=file) from None
    base = data.get("pusher", {})
    timezone = str(base.get("timezone", "UTC") if isinstance(base, dict) else "UTC")
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {timezone!r}", file=file,
                          key="pusher.timezone") from None
    sources = data.get("sources", {})
    if not isinstance(sources, dict):
        raise ConfigError("must be a table", file=file, key="sources")
    defaults = DagSettings(start_date=start_date or DEFAULT_START,
                           timeout_grace=timeout_grace(data, file))
    settings = parse_settings(data.get("airflow", {}), file, sources, defaults)
    return [_spec(name, spec, data, file, timezone, tz, settings.get(name, settings[""]))
            for name, spec in sources.items()
            if not (isinstance(spec, dict) and spec.get("enabled", True) is False)]


def _spec(name: str, source: Any, data: Mapping[str, Any], file: str, timezone: str,
          tz: ZoneInfo, settings: DagSettings) -> DagSpec:
    spec = DagSpec(dag_id=dag_id_for(name), source=name, source_type="", config=file,
                   schedule=None, timezone=timezone, settings=settings)
    try:
        [job] = enabled_sources({"sources": {name: source}}, file)
    except ConfigError as exc:
        return replace(spec, error=str(exc))
    schedule = parse_schedule(job.schedule, job.granularity)
    # Measured at a fixed moment, not now: a DAG that changes between parses is a new
    # DAG version in Airflow 3 (a cron period can differ by weekday or around DST).
    run_timeout = schedule.run_timeout(job.timeout, tz, datetime(2026, 1, 5, tzinfo=tz))
    # The task passes the run its timeout, and Airflow stops the task only the grace
    # after it: the run records its own timeout first.
    return replace(spec, source_type=str(source.get("type", "")),
                   schedule=to_cron(job.schedule, job.granularity).cron,
                   granularity=job.granularity.value, run_timeout=run_timeout,
                   execution_timeout=run_timeout + settings.timeout_grace)
