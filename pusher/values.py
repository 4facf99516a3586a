"""Checks of config values that parse but cannot work: each raises ConfigError naming the key.

Sources reuse the `*_problem` functions for their own options (they raise ValueError with
"key: problem", which the registry turns into a ConfigError).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pusher.errors import ConfigError
from pusher.secrets import is_secret_position


def unknown_key(key: str, known: Iterable[str]) -> str:
    """"unknown key", with the closest known key as a suggestion when one is close."""
    import difflib  # only for a mistake: every command starts faster

    hint = difflib.get_close_matches(key, sorted(known), n=1)
    return f"unknown key (did you mean {hint[0]!r}?)" if hint else "unknown key"


def http_url_problem(url: object) -> str | None:
    """Why `url` cannot be an http(s) endpoint (no host, a bad port), or None."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        return f"is not a usable URL ({exc})"
    if not parts.hostname:
        return "names no host (e.g. http://127.0.0.1:8086)"
    if any(c.isspace() for c in url):
        return "contains a blank"
    return None


def number_problem(value: float, least: float | None) -> str | None:
    """Why a number is unusable: not finite, or below `least` (None: must be above zero)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if least is None and value <= 0:
        return "must be greater than 0"
    if least is not None and value < least:
        return f"must be at least {least:g}"
    return None


def check_seconds(key: str, value: object) -> None:
    """A source option in seconds (`query_timeout`): ValueError("key: problem") unless it is
    a finite number above zero."""
    if type(value) not in (int, float):
        raise ValueError(f"{key}: must be a number of seconds, not {value!r}")
    if problem := number_problem(value, None):  # type: ignore[arg-type]
        raise ValueError(f"{key}: {problem}")


def check_http_url(url: object, file: str, key: str) -> None:
    if problem := http_url_problem(url):
        raise ConfigError(problem, file=file, key=key)


def positive(value: float, file: str, key: str) -> None:
    if problem := number_problem(value, None):
        raise ConfigError(problem, file=file, key=key)


def number_at_least(value: float, least: float, file: str, key: str) -> None:
    if problem := number_problem(value, least):
        raise ConfigError(problem, file=file, key=key)


def check_state_dir(value: str, root: Path, file: str, key: str) -> Path:
    """The state directory (relative to `root`); it, or the first part of its path that
    exists, must be a directory."""
    if not value.strip():
        raise ConfigError("must not be empty", file=file, key=key)
    path = root / value
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                raise ConfigError(f"{part} is a file, not a directory", file=file, key=key)
            break
    return path


def typed(value: Any, kind: type, file: str, key: str) -> Any:
    """`value` if it is of `kind` (an int is taken for a float), else a ConfigError."""
    if kind is float and type(value) is int:
        return float(value)
    if type(value) is not kind:
        # A secret's value is not repeated, even in an error.
        shown = "" if is_secret_position(key) else f" {value!r}"
        raise ConfigError(f"must be {TYPE_NAMES.get(kind, kind.__name__)}, "
                          f"not {type(value).__name__}{shown}", file=file, key=key)
    return value


TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


UNSET = object()


def optional(spec: Mapping[str, Any], name: str, kind: type, file: str, key: str,
              at_least: Any = UNSET) -> Any:
    """The typed value of an optional key; numbers checked (at_least=None: above zero)."""
    if name not in spec:
        return None
    value = typed(spec[name], kind, file, f"{key}.{name}")
    if at_least is None:
        positive(value, file, f"{key}.{name}")
    elif at_least is not UNSET:
        number_at_least(value, at_least, file, f"{key}.{name}")
    return value


def spool_cap(value: Any, file: str) -> int:
    megabytes = typed(value, float, file, "pusher.spool_max_mb")
    positive(megabytes, file, "pusher.spool_max_mb")
    return int(megabytes * 1024 * 1024)


def timezone_named(name: Any, file: str, key: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown timezone {name!r}", file=file, key=key) from None


def check_nan_rule(options: Mapping[str, Any]) -> None:
    """A source's `nan` option: "skip" (default) or "refuse"; ValueError("nan: problem")."""
    rule = options.get("nan", "skip")
    if rule not in ("skip", "refuse"):
        raise ValueError(f'nan: must be "skip" (leave NaN and infinities out, counted) or '
                         f'"refuse" (dead-letter them), not {rule!r}')
