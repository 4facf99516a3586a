"""$PUSHER_OVERRIDES: a JSON object of config tables laid over the file, taken literally.

This is how an Airflow task hands pusher the values of its Connections (URLs, tokens,
passwords) without writing them to a file, a command line or a log: the variable lives only
in the environment of the one pusher process. Values are not ${VAR}-substituted; secrets
among them are tracked like any other (keys named like `token`, passwords in URLs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pusher.errors import ConfigError

OVERRIDES_VAR = "PUSHER_OVERRIDES"


def overridden(data: Mapping[str, Any], text: str | None) -> Mapping[str, Any]:
    """`data` with $PUSHER_OVERRIDES laid over it: tables merge key by key."""
    if not text:
        return data
    import json

    try:
        overrides = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", file=f"${OVERRIDES_VAR}") from None
    if not isinstance(overrides, dict):
        raise ConfigError("must be a JSON object of config tables", file=f"${OVERRIDES_VAR}")
    return _merged(data, overrides)


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = _literal(value)
    return merged


def _literal(value: Any) -> Any:
    # "$$" is a "$" to the substitution that follows: overrides are taken as given.
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    return value
