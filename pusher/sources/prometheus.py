"""The `prometheus` source type: PromQL evaluated at each window's end."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from pusher.errors import SourceError
from pusher.reading import Reading, Window

log = logging.getLogger(__name__)
QUERY_KEYS = {"query", "measurement", "field", "tags", "name_tag"}


def prometheus(
    window: Window,
    url: str,
    queries: list[Mapping[str, Any]],
    timeout: float = 30.0,
    headers: Mapping[str, str] | None = None,
    verify_ssl: bool = True,
    session: requests.Session | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[Reading]:
    """Prometheus range queries; a sample's labels become tags, its value one field."""
    http = session or requests.Session()
    now = clock()
    failures = []
    for number, spec in enumerate(queries):
        try:
            yield from _run_query(http, url, spec, window, now, timeout, headers, verify_ssl)
        except SourceError as exc:
            log.warning("queries[%d] (%s): %s", number, spec["measurement"], exc)
            failures.append(f"queries[{number}] {spec['measurement']}: {exc}")
    if failures:
        raise SourceError("; ".join(failures))


def _run_query(http: requests.Session, url: str, spec: Mapping[str, Any], window: Window,
               now: datetime, timeout: float, headers: Mapping[str, str] | None, verify: bool
               ) -> Iterator[Reading]:
    # One step per window: the sample at the window's end describes the whole window
    # (e.g. increase(x[$__range])); the pipeline stamps it with the window's start. The
    # current window is read up to now, and overwritten by the next run.
    end = min(window.end, now)
    seconds = max(1, int((end - window.start).total_seconds()))
    params = {
        "query": spec["query"].replace("$__range", f"{seconds}s"),
        "start": f"{end.timestamp():.3f}",
        "end": f"{end.timestamp():.3f}",
        "step": f"{seconds}s",
    }
    body = _get(http, f"{url.rstrip('/')}/api/v1/query_range", params, timeout, headers, verify)
    measurement, field = spec["measurement"], spec.get("field", "value")
    static_tags = dict(spec.get("tags", {}))
    name_tag = spec.get("name_tag", "metric")
    for series in body["data"]["result"]:
        tags = dict(static_tags)
        for label, value in series.get("metric", {}).items():
            tags[name_tag if label == "__name__" else label] = value
        for _stamp, value in series.get("values", []):
            yield Reading(measurement, {field: float(value)}, tags)


def _get(http: requests.Session, url: str, params: Mapping[str, str], timeout: float,
         headers: Mapping[str, str] | None, verify: bool) -> dict[str, Any]:
    try:
        response = http.get(url, params=params, timeout=timeout, headers=headers,
                            verify=verify)
    except requests.RequestException as exc:
        raise SourceError(f"cannot reach Prometheus: {type(exc).__name__}") from exc
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        raise SourceError(f"HTTP {response.status_code}: not a Prometheus API answer") from None
    if body.get("status") != "success":
        raise SourceError(f"HTTP {response.status_code}: {body.get('errorType', 'error')}: "
                          f"{body.get('error', 'no reason given')}")
    return body


def _validate(options: Mapping[str, Any]) -> None:
    url = options.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError("url: must be an http:// or https:// URL")
    queries = options.get("queries")
    if not isinstance(queries, list) or not queries:
        raise ValueError("queries: must be a non-empty list of [[...queries]] tables")
    for number, spec in enumerate(queries):
        where = f"queries[{number}]"
        if not isinstance(spec, dict):
            raise ValueError(f"{where}: must be a table")
        unknown = set(spec) - QUERY_KEYS
        if unknown:
            raise ValueError(f"{where}.{sorted(unknown)[0]}: unknown key "
                             f"(known: {', '.join(sorted(QUERY_KEYS))})")
        for key in ("query", "measurement"):
            if not isinstance(spec.get(key), str) or not spec[key]:
                raise ValueError(f"{where}.{key}: is required (a string)")
        if not isinstance(spec.get("tags", {}), dict):
            raise ValueError(f"{where}.tags: must be a table of strings")


prometheus.validate_options = _validate  # type: ignore[attr-defined]


def _check(options: Mapping[str, Any]) -> str:
    """For `pusher validate`: the server answers its API (and takes our headers)."""
    url = f"{options['url'].rstrip('/')}/api/v1/status/buildinfo"
    body = _get(requests.Session(), url, {}, float(options.get("timeout", 10.0)),
                options.get("headers"), bool(options.get("verify_ssl", True)))
    return f"Prometheus {body.get('data', {}).get('version', '?')} answers"


prometheus.check = _check  # type: ignore[attr-defined]


def _measurements(options: Mapping[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """For `dashboards render`: each query's measurement and its one field."""
    for spec in options["queries"]:
        yield spec["measurement"], [spec.get("field", "value")]


prometheus.measurements = _measurements  # type: ignore[attr-defined]
