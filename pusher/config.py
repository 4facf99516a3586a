"""pusher.toml -> frozen dataclasses, with ${VAR} from the environment and secrets tracked."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pusher.errors import ConfigError
from pusher.lineprotocol import PRECISIONS
from pusher.overrides import OVERRIDES_VAR, overridden
from pusher.reading import Granularity
from pusher.rollups.config import RollupsConfig, parse_rollups
from pusher.schedules import parse_schedule
from pusher.secrets import (
    REDACTED,
    MissingVariable,
    Redactor,
    is_secret_name,
    substitute,
    url_password,
)

DEFAULT_PATH = "pusher.toml"
# Keys every source has; everything else is passed to the source callable as options.
SOURCE_KEYS = ("type", "granularity", "schedule", "jitter", "timeout", "enabled", "catchup_max")


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
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Config:
    path: Path | None
    influx: InfluxConfig
    sources: Mapping[str, SourceConfig]
    state_dir: Path
    timezone: ZoneInfo
    spool_max_bytes: int = 512 * 1024 * 1024
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
    return parse_config(data, env, path=path)


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
    _check_keys(base, {"state_dir", "timezone", "spool_max_mb"}, file, "pusher")
    influx = _parse_influx(_section(data, "influx", file), file, secrets)
    sources = {
        name: _parse_source(name, spec, file, secrets)
        for name, spec in _section(data, "sources", file).items()
    }
    root = path.parent if path else Path.cwd()
    state_dir = root / str(base.get("state_dir", ".pusher"))
    timezone = _timezone(base.get("timezone", "UTC"), file, "pusher.timezone")
    return Config(
        path=path,
        influx=influx,
        sources=MappingProxyType(sources),
        state_dir=state_dir,
        timezone=timezone,
        spool_max_bytes=_spool_cap(base.get("spool_max_mb", 512), file),
        redact=Redactor(secrets),
        raw=MappingProxyType(dict(data)),
        rollups=parse_rollups(data.get("rollups", {}), timezone, file),
    )


def _substitute_all(value: Any, env: Mapping[str, str], secrets: set[str], file: str,
                    key: str) -> Any:
    if isinstance(value, str):
        try:
            text = substitute(value, env, secrets)
        except MissingVariable as exc:
            raise ConfigError(f"environment variable ${{{exc.args[0]}}} is not set",
                              file=file, key=key) from None
        last = key.rsplit(".", 1)[-1]
        if is_secret_name(last) and text:
            secrets.add(text)
        if (password := url_password(text)) is not None and password:
            secrets.add(password)
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
            import difflib  # only for a mistake: every command starts faster

            hint = difflib.get_close_matches(key, list(allowed), n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"unknown key{suggestion}", file=file, key=_join(prefix, key))


def _parse_influx(table: Mapping[str, Any], file: str, secrets: set[str]) -> InfluxConfig:
    known = {f.name: f for f in fields(InfluxConfig)}
    _check_keys(table, set(known), file, "influx")
    values: dict[str, Any] = {}
    for key, value in table.items():
        default = known[key].default
        values[key] = _typed(value, type(default), file, f"influx.{key}")
    config = InfluxConfig(**values)
    if config.api not in ("v1", "v2"):
        raise ConfigError(f"must be \"v1\" or \"v2\", not {config.api!r}", file=file,
                          key="influx.api")
    if config.precision not in PRECISIONS:
        raise ConfigError(f"must be one of {', '.join(PRECISIONS)}", file=file,
                          key="influx.precision")
    if config.batch_size < 1:
        raise ConfigError("must be at least 1", file=file, key="influx.batch_size")
    if config.max_attempts < 1:
        raise ConfigError("must be at least 1", file=file, key="influx.max_attempts")
    if config.max_age <= 0:
        raise ConfigError("must be positive (seconds)", file=file, key="influx.max_age")
    if not config.url.startswith(("http://", "https://")):
        raise ConfigError("must start with http:// or https://", file=file, key="influx.url")
    secrets.update(s for s in (config.token, config.password) if s)
    return config


def _typed(value: Any, kind: type, file: str, key: str) -> Any:
    if kind is float and type(value) is int:
        return float(value)
    if type(value) is not kind:
        raise ConfigError(f"must be {_TYPE_NAMES.get(kind, kind.__name__)}, "
                          f"not {type(value).__name__} {value!r}", file=file, key=key)
    return value


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _parse_source(name: str, spec: Any, file: str, secrets: set[str]) -> SourceConfig:
    key = f"sources.{name}"
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
    schedule = _optional(spec, "schedule", str, file, key)
    try:
        parse_schedule(schedule, granularity)
    except ValueError as exc:
        raise ConfigError(str(exc), file=file, key=f"{key}.schedule") from None
    return SourceConfig(
        name=name,
        type=kind,
        granularity=granularity,
        schedule=schedule,
        jitter=float(_optional(spec, "jitter", float, file, key) or 0.0),
        timeout=_optional(spec, "timeout", float, file, key),
        enabled=bool(_optional(spec, "enabled", bool, file, key) is not False),
        catchup_max=_optional(spec, "catchup_max", int, file, key),
        options=MappingProxyType(options),
    )


def _optional(spec: Mapping[str, Any], name: str, kind: type, file: str, key: str) -> Any:
    if name not in spec:
        return None
    return _typed(spec[name], kind, file, f"{key}.{name}")


def _spool_cap(value: Any, file: str) -> int:
    megabytes = _typed(value, float, file, "pusher.spool_max_mb")
    if megabytes <= 0:
        raise ConfigError("must be positive", file=file, key="pusher.spool_max_mb")
    return int(megabytes * 1024 * 1024)


def _timezone(name: Any, file: str, key: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown timezone {name!r}", file=file, key=key) from None


def redacted(value: Any, key: str = "", redact: Redactor | None = None) -> Any:
    """A copy of a config table safe to print: secret keys and known secret values hidden."""
    if isinstance(value, Mapping):
        return {k: redacted(v, _join(key, k), redact) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v, key, redact) for v in value]
    if isinstance(value, str):
        if value and is_secret_name(key.rsplit(".", 1)[-1]):
            return REDACTED
        return redact(value) if redact else value
    return value
