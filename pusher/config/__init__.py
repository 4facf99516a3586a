"""pusher.toml -> frozen dataclasses, with ${VAR} from the environment and secrets tracked.

The config package: the `[pusher]`, `[influx]` and `[sources]` tables here, the `[rollups]`
table in pusher/config/rollups.py. May import pusher.deploy (the `[airflow]` table,
$PUSHER_OVERRIDES), pusher.points (precisions), schedules, values, secrets and below;
never the sources, writers, runs or anything that reads the config.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from pusher.config.import_path import add_import_folder
from pusher.config.rollups import RollupsConfig, parse_rollups
from pusher.deploy.overrides import OVERRIDES_VAR, overridden
from pusher.errors import ConfigError
from pusher.points.lineprotocol import PRECISIONS
from pusher.points.quoting import v1_name_problem, v2_bucket_problem
from pusher.reading import Granularity
from pusher.schedules import TIMEOUT_GRACE, parse_schedule
from pusher.secrets import (
    MissingVariable,
    Redactor,
    header_secrets,
    is_secret_position,
    redacted,
    substitute,
    url_secrets,
)
from pusher.values import (
    check_http_url,
    check_state_dir,
    number_at_least,
    optional,
    positive,
    spool_cap,
    timezone_named,
    typed,
    unknown_key,
)

__all__ = ["Config", "InfluxConfig", "SourceConfig", "find_config_path", "load_config",
           "parse_config", "redacted"]

DEFAULT_PATH = "pusher.toml"
# Keys every source has; everything else is passed to the source callable as options.
SOURCE_KEYS = ("type", "granularity", "schedule", "jitter", "timeout", "enabled", "catchup_max",
               "on_collision")
# What a run does with a reading that lands on the series, field and time of an earlier one.
ON_COLLISION = ("refuse", "last", "sum")
# A source name ends up in file names, tags, DAG ids and command lines: no path separator,
# no control character, no leading dot, dash or blank (spaces inside are fine: "web shop").
_SOURCE_NAME = re.compile(r"[^\s.\-/\\][^/\\\x00-\x1f\x7f]*(?<!\s)")


@dataclass(frozen=True)
class InfluxConfig:
    url: str = "http://127.0.0.1:8086"
    api: str = "v2"
    org: str = ""
    bucket: str = "pusher"
    daily_bucket: str = ""  # 2.x bucket for daily points; empty: the same as `bucket`
    token: str = field(default="", repr=False)
    database: str = "pusher"
    retention_policy: str = ""
    daily_retention_policy: str = ""  # 1.x, for daily points; empty: `retention_policy`
    username: str = ""
    password: str = field(default="", repr=False)
    precision: str = "s"
    batch_size: int = 5000
    timeout: float = 10.0
    retries: int = 5
    max_attempts: int = 5  # failed answers before a batch is split to find its bad lines
    max_age: float = 86400.0  # seconds a batch may keep failing before it is split
    gzip: bool = False
    verify_ssl: bool = True

    def bucket_for(self, granularity: str) -> str:
        """The 2.x bucket that points of `granularity` go to."""
        return self.daily_bucket or self.bucket if granularity == "daily" else self.bucket

    def retention_policy_for(self, granularity: str) -> str:
        """The 1.x retention policy that points of `granularity` go to ("" = the default)."""
        if granularity == "daily":
            return self.daily_retention_policy or self.retention_policy
        return self.retention_policy


@dataclass(frozen=True)
class SourceConfig:
    name: str
    type: str
    granularity: Granularity = Granularity.HOURLY
    schedule: str | None = None
    jitter: float = 0.0
    timeout: float | None = None
    enabled: bool = True
    catchup_max: int | None = None  # missed windows caught up at most; None: a default
    on_collision: str = "refuse"  # refuse | last | sum
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    root: Path = Path()  # the config file's folder: relative paths in options start there


@dataclass(frozen=True)
class Config:
    path: Path | None
    root: Path  # the config file's folder: relative paths in the config start there
    influx: InfluxConfig
    sources: Mapping[str, SourceConfig]
    state_dir: Path
    timezone: ZoneInfo
    spool_max_bytes: int = 512 * 1024 * 1024
    # Seconds a scheduler (pusher run, a CronJob's deadline, Airflow) waits past a run's
    # timeout before it kills the run: the run records its own timeout meanwhile.
    timeout_grace: float = TIMEOUT_GRACE
    redact: Redactor = field(default_factory=Redactor, repr=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    rollups: RollupsConfig = field(default_factory=RollupsConfig)


def find_config_path(explicit: str | None, env: Mapping[str, str]) -> Path:
    """--config, else $PUSHER_CONFIG, else ./pusher.toml."""
    return Path(explicit or env.get("PUSHER_CONFIG") or DEFAULT_PATH)


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and check a config file; every problem is a ConfigError naming file and key."""
    env = os.environ if env is None else env
    name = str(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("no such file (use --config or $PUSHER_CONFIG)", file=name) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=name) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=name) from None
    config = parse_config(data, env, path=path)
    add_import_folder(config.root)  # `callable = "my_metrics:fn"` beside the config file
    return config


def parse_config(data: Mapping[str, Any], env: Mapping[str, str], path: Path | None = None
                 ) -> Config:
    file = str(path) if path else "<config>"
    secrets: set[str] = set()
    data = _substitute_all(overridden(data, env.get(OVERRIDES_VAR)), env, secrets, file, "")
    _check_keys(data, {"pusher", "influx", "sources", "rollups", "airflow"}, file, "")
    if "airflow" in data:
        from pusher.deploy.airflow import parse_settings  # read by the Airflow DAG file

        parse_settings(data["airflow"], file, _section(data, "sources", file))
    base = _section(data, "pusher", file)
    _check_keys(base, {"state_dir", "timezone", "spool_max_mb", "timeout_grace"}, file,
                "pusher")
    influx = _parse_influx(_section(data, "influx", file), file, secrets)
    root = path.absolute().parent if path else Path.cwd()
    sources = {
        name: _parse_source(name, spec, file, root)
        for name, spec in _section(data, "sources", file).items()
    }
    state_dir = check_state_dir(typed(base.get("state_dir", ".pusher"), str, file,
                                      "pusher.state_dir"), root, file, "pusher.state_dir")
    timezone = timezone_named(base.get("timezone", "UTC"), file, "pusher.timezone")
    return Config(
        path=path,
        root=root,
        influx=influx,
        sources=MappingProxyType(sources),
        state_dir=state_dir,
        timezone=timezone,
        spool_max_bytes=spool_cap(base.get("spool_max_mb", 512), file),
        timeout_grace=_grace(base, file),
        redact=Redactor(secrets),
        raw=MappingProxyType(dict(data)),
        rollups=parse_rollups(data.get("rollups", {}), timezone, file),
    )


def _grace(base: Mapping[str, Any], file: str) -> float:
    grace = optional(base, "timeout_grace", float, file, "pusher", at_least=0.0)
    return TIMEOUT_GRACE if grace is None else float(grace)


def _substitute_all(value: Any, env: Mapping[str, str], secrets: set[str], file: str,
                    key: str) -> Any:
    if isinstance(value, str):
        try:
            text = substitute(value, env, secrets)
        except MissingVariable as exc:
            raise ConfigError(f"environment variable ${{{exc.args[0]}}} is not set",
                              file=file, key=key) from None
        if text and is_secret_position(key):
            secrets.update(header_secrets(text))
        secrets.update(url_secrets(text))
        return text
    if isinstance(value, dict):
        return {k: _substitute_all(v, env, secrets, file, _join(key, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_all(v, env, secrets, file, f"{key}[{i}]") for i, v in enumerate(value)]
    return value


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _section(data: Mapping[str, Any], name: str, file: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError("must be a table", file=file, key=name)
    return value


def _check_keys(table: Mapping[str, Any], allowed: set[str] | tuple[str, ...], file: str,
                prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(unknown_key(key, allowed), file=file, key=_join(prefix, key))


def _parse_influx(table: Mapping[str, Any], file: str, secrets: set[str]) -> InfluxConfig:
    known = {f.name: f for f in fields(InfluxConfig)}
    _check_keys(table, set(known), file, "influx")
    values: dict[str, Any] = {}
    for key, value in table.items():
        default = known[key].default
        values[key] = typed(value, type(default), file, f"influx.{key}")
    config = InfluxConfig(**values)
    if config.api not in ("v1", "v2"):
        raise ConfigError(f"must be \"v1\" or \"v2\", not {config.api!r}", file=file,
                          key="influx.api")
    if config.precision not in PRECISIONS:
        raise ConfigError(f"must be one of {', '.join(PRECISIONS)}", file=file,
                          key="influx.precision")
    number_at_least(config.batch_size, 1, file, "influx.batch_size")
    number_at_least(config.retries, 0, file, "influx.retries")
    number_at_least(config.max_attempts, 1, file, "influx.max_attempts")
    positive(config.max_age, file, "influx.max_age")
    positive(config.timeout, file, "influx.timeout")
    check_http_url(config.url, file, "influx.url")
    for key in ("bucket", "database"):
        if not getattr(config, key).strip():
            raise ConfigError("must not be empty", file=file, key=f"influx.{key}")
    _check_names(config, file)
    secrets.update(s for s in (config.token, config.password) if s)
    return config


def _check_names(config: InfluxConfig, file: str) -> None:
    """Refuse a database, retention policy or bucket name that InfluxDB itself refuses:
    `pusher setup` could not create it and no point could land there."""
    for key, problem_of in (("database", v1_name_problem),
                            ("retention_policy", v1_name_problem),
                            ("daily_retention_policy", v1_name_problem),
                            ("bucket", v2_bucket_problem),
                            ("daily_bucket", v2_bucket_problem)):
        name = getattr(config, key)
        if (name or key in ("database", "bucket")) and (problem := problem_of(name)):
            raise ConfigError(f"{name!r} {problem}", file=file, key=f"influx.{key}")


def _parse_source(name: str, spec: Any, file: str, root: Path) -> SourceConfig:
    key = f"sources.{name}"
    if not _SOURCE_NAME.fullmatch(name):
        raise ConfigError("is not a usable source name: no / or \\, no control character, "
                          "not starting with . or - or ending with a blank", file=file, key=key)
    if not isinstance(spec, dict):
        raise ConfigError("must be a table", file=file, key=key)
    kind = spec.get("type")
    if not isinstance(kind, str) or not kind:
        raise ConfigError("is required (the source type, see `pusher sources`)",
                          file=file, key=f"{key}.type")
    try:
        granularity = Granularity.parse(spec.get("granularity", "hourly"))
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc), file=file, key=f"{key}.granularity") from None
    options = {k: v for k, v in spec.items() if k not in SOURCE_KEYS}
    schedule = optional(spec, "schedule", str, file, key)
    try:
        parse_schedule(schedule, granularity)
    except ValueError as exc:
        raise ConfigError(str(exc), file=file, key=f"{key}.schedule") from None
    on_collision = optional(spec, "on_collision", str, file, key) or "refuse"
    if on_collision not in ON_COLLISION:
        raise ConfigError(f"must be one of {', '.join(map(repr, ON_COLLISION))}, not "
                          f"{on_collision!r}", file=file, key=f"{key}.on_collision")
    return SourceConfig(
        name=name,
        type=kind,
        granularity=granularity,
        schedule=schedule,
        jitter=optional(spec, "jitter", float, file, key, at_least=0.0) or 0.0,
        timeout=optional(spec, "timeout", float, file, key, at_least=None),
        enabled=bool(optional(spec, "enabled", bool, file, key) is not False),
        catchup_max=optional(spec, "catchup_max", int, file, key, at_least=1),
        on_collision=on_collision,
        options=MappingProxyType(options),
        root=root,
    )
