"""`pusher config`: the effective config, every default filled in, secrets masked, as TOML.

The TOML printed loads back as the same config (a test reads it back and prints it again).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping
from dataclasses import fields
from datetime import date, datetime, time
from typing import Any

from pusher.config import SOURCE_KEYS, Config, SourceConfig, redacted

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALARS = (str, int, float, bool, date, time)


def effective(config: Config) -> dict[str, Any]:
    """The config as pusher uses it: every key of every table, defaults filled in."""
    rollups = config.rollups
    table: dict[str, Any] = {
        "pusher": {"state_dir": str(config.state_dir), "timezone": config.timezone.key,
                   "spool_max_mb": config.spool_max_bytes / 2**20,
                   "timeout_grace": config.timeout_grace},
        "influx": {f.name: getattr(config.influx, f.name) for f in fields(config.influx)},
        "sources": {name: _source(config, spec) for name, spec in config.sources.items()},
        "rollups": {
            "timezone": rollups.timezone.key,
            **{key: str(getattr(rollups, key)) for key in
               ("hourly_retention", "daily_retention", "lookback", "every", "offset")},
            "measurements": {name: dict(rollup.fields)
                             for name, rollup in rollups.measurements.items()},
        },
    }
    # Tables read by others ([airflow], for the DAG file) as they are written.
    table.update({name: value for name, value in config.raw.items() if name not in table})
    shown: dict[str, Any] = redacted(table, redact=config.redact)
    return shown


def _source(config: Config, spec: SourceConfig) -> dict[str, Any]:
    from pusher.runs.catchup import CATCHUP_DEFAULTS
    from pusher.schedules import parse_schedule

    schedule = parse_schedule(spec.schedule, spec.granularity)
    timeout = schedule.run_timeout(spec.timeout, config.timezone, datetime.now().astimezone())
    return {
        "type": spec.type, "granularity": spec.granularity.value, "schedule": schedule.text,
        "jitter": spec.jitter, "timeout": timeout, "enabled": spec.enabled,
        "catchup_max": spec.catchup_max or CATCHUP_DEFAULTS[spec.granularity],
        "on_collision": spec.on_collision, **_options(spec),
    }


def _options(spec: SourceConfig) -> dict[str, Any]:
    """The options as given, then the source's defaults for the ones left out."""
    from pusher.sources import load_source, source_options

    try:
        source = load_source(spec.type)
        options = dict(source_options(source, spec))
        target = _target(source, options)
    except Exception:  # an unknown or broken type: `pusher validate` says what is wrong
        return dict(spec.options)
    for name, parameter in list(inspect.signature(target).parameters.items())[1:]:
        default = parameter.default
        # Only values a config can hold: not None, not an injected clock or session.
        if name not in options and name not in SOURCE_KEYS \
                and isinstance(default, (*_SCALARS, list, dict)):
            options[name] = default
    return options


def _target(source: Any, options: Mapping[str, Any]) -> Any:
    """For a python source, its callable (whose defaults are the options' defaults)."""
    if "callable" in options and getattr(source, "__name__", "") == "python_callable":
        from pusher.sources.python import resolve

        return resolve(options["callable"])
    return source


def to_json(config: Config) -> str:
    return json.dumps(effective(config), indent=2, default=str, ensure_ascii=False)


def to_toml(config: Config) -> str:
    """TOML text of the effective config."""
    lines: list[str] = []
    _table(lines, [], effective(config))
    return "\n".join(lines).strip() + "\n"


def _table(lines: list[str], path: list[str], table: Mapping[str, Any]) -> None:
    # Sections, sources and rollups.measurements get a [header]; deeper tables (tags,
    # headers, aggregate) are written inline; lists of tables (queries) as [[...]].
    headed = {k: v for k, v in table.items() if isinstance(v, Mapping) and len(path) < 2}
    listed = {k: v for k, v in table.items() if k not in headed and _is_table_list(v)}
    plain = {k: v for k, v in table.items() if k not in headed and k not in listed}
    if path and (plain or listed or not headed):
        lines += ["", f"[{_path(path)}]"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in plain.items()]
    for key, items in listed.items():
        for item in items:
            lines += ["", f"[[{_path([*path, key])}]]"]
            lines += [f"{_key(k)} = {_value(v)}" for k, v in item.items()]
    for key, value in headed.items():
        _table(lines, [*path, key], value)


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _path(path: list[str]) -> str:
    return ".".join(_key(part) for part in path)


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return _string(str(value))


def _string(text: str) -> str:
    if "\n" in text and "'''" not in text and not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text):
        return f"'''\n{text}'''"  # SQL and PromQL stay readable
    # JSON's escapes (\" \\ \n \t \uXXXX) are TOML's; DEL is the one JSON leaves bare.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")
