"""Config-time checks of the `google-analytics` source's options."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pusher.reading import Granularity
from pusher.sources.names import Declared, listed
from pusher.values import check_seconds, http_url_problem

TIME_DIMENSIONS = {"date": Granularity.DAILY, "dateHour": Granularity.HOURLY}
MAX_METRICS, MAX_DIMENSIONS = 10, 9  # what one GA4 runReport request accepts
MAX_PAGE_SIZE = 250_000
_PROPERTY = re.compile(r"(?:properties/)?(\d+)")


def property_name(value: str | int) -> str:
    """ "properties/N" from N, "N" or "properties/N"."""
    match = _PROPERTY.fullmatch(str(value).strip())
    if match is None or isinstance(value, bool):
        raise ValueError("property: must be a GA4 property id such as 123456789")
    return f"properties/{match.group(1)}"


def validate(options: Mapping[str, Any]) -> None:
    """Raise ValueError("key: problem") for a malformed `google-analytics` source."""
    for injected in ("http", "sleep"):
        if injected in options:
            raise ValueError(f"{injected}: is for tests, not a config option")
    property_name(options.get("property", ""))
    _check_names("metrics", options.get("metrics"), MAX_METRICS)
    dimensions = options.get("dimensions")
    _check_names("dimensions", dimensions, MAX_DIMENSIONS)
    times = [d for d in dimensions if d in TIME_DIMENSIONS]  # type: ignore[union-attr]
    if len(times) != 1:
        raise ValueError("dimensions: must include exactly one of date (daily points) "
                         "or dateHour (hourly points)")
    if not isinstance(options.get("dimension_filter", {}), dict):
        raise ValueError("dimension_filter: must be a table (a GA4 FilterExpression)")
    if not isinstance(options.get("measurement", "analytics"), str) or \
            not options.get("measurement", "analytics"):
        raise ValueError("measurement: must be a non-empty string")
    _check_credentials(options.get("credentials", "default"), options.get("endpoint"))
    _check_int("restate_days", options.get("restate_days", 3), 0, 60)
    _check_int("page_size", options.get("page_size", 10_000), 1, MAX_PAGE_SIZE)
    if "query_timeout" in options:
        check_seconds("query_timeout", options["query_timeout"])
    timezone = options.get("timezone")
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"timezone: unknown time zone {timezone!r}") from None


def names(options: Mapping[str, Any]) -> Iterator[Declared]:
    """The measurement, the metrics (field keys) and the dimensions other than the time
    one (tag keys), as a report's readings carry them. See sources/names.py."""
    yield "measurement", "measurement", options.get("measurement", "analytics")
    yield from listed("metrics", "field key", options["metrics"])
    yield from ((key, position, name) for key, position, name
                in listed("dimensions", "tag key", options["dimensions"])
                if name not in TIME_DIMENSIONS)


def resolve_paths(options: dict[str, Any], root: Path) -> dict[str, Any]:
    """A relative `credentials` file is relative to the config file's folder."""
    credentials = options.get("credentials")
    if isinstance(credentials, str) and credentials not in ("default", "anonymous", "") \
            and not Path(credentials).is_absolute():
        options["credentials"] = str(root / credentials)
    return options


def _check_names(key: str, names: object, most: int) -> None:
    if not isinstance(names, list) or not names or \
            not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"{key}: must be a non-empty list of GA4 API names")
    if len(names) > most:
        raise ValueError(f"{key}: at most {most} in one report")


def _check_credentials(credentials: object, endpoint: object) -> None:
    if endpoint is not None and (problem := http_url_problem(endpoint)):
        raise ValueError(f"endpoint: {problem}")
    if not isinstance(credentials, str) or not credentials:
        raise ValueError('credentials: must be a service-account JSON file, "default" '
                         'or "anonymous"')
    if credentials == "anonymous" and endpoint is None:
        raise ValueError('credentials: "anonymous" needs an endpoint (a proxy or emulator)')
    if credentials not in ("default", "anonymous") and not Path(credentials).is_file():
        raise ValueError("credentials: no such service-account JSON file")


def _check_int(key: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{key}: must be an integer from {low} to {high}")
