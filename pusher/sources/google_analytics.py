"""The `google-analytics` source type: GA4 Data API reports, re-fetched over recent days.

GA keeps revising a day's numbers for 24-48 hours, so every run asks again for the last
`restate_days` days before its window as well; the points overwrite the earlier ones
(same series, same timestamp). Sampling, thresholding and a nearly spent quota are
yielded as `Note`s: they appear in the run summary.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from pusher.deadline import TimedOut, bound, seconds_text, time_left, timed_out
from pusher.errors import SourceError
from pusher.reading import Granularity, Note, Reading, Window
from pusher.sources.google_analytics_options import (
    TIME_DIMENSIONS,
    names,
    property_name,
    resolve_paths,
    validate,
)

log = logging.getLogger(__name__)
SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_DELAYS = (2.0, 8.0, 30.0)  # seconds; then the run fails with one clear line
HTTP_TIMEOUT = 60.0  # seconds a request may take, unless `query_timeout` says otherwise
QUOTA_WARNING = 0.1  # note a quota once less than this share of it is left
# Building a client parses a large discovery document: one per credentials+endpoint.
_SERVICES: dict[tuple[str, str | None], Any] = {}


def google_analytics(
    window: Window,
    property: str | int,
    metrics: Sequence[str],
    dimensions: Sequence[str],
    measurement: str = "analytics",
    dimension_filter: Mapping[str, Any] | None = None,
    credentials: str = "default",
    endpoint: str | None = None,
    restate_days: int = 3,
    page_size: int = 10_000,
    timezone: str | None = None,
    query_timeout: float = HTTP_TIMEOUT,
    http: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Reading | Note]:
    """Google Analytics 4 reports (Data API): metrics become fields, other dimensions tags."""
    yield from _report(window, {
        "property": property, "metrics": metrics, "dimensions": dimensions,
        "measurement": measurement, "dimension_filter": dimension_filter,
        "credentials": credentials, "endpoint": endpoint, "restate_days": restate_days,
        "page_size": page_size, "timezone": timezone, "query_timeout": query_timeout,
        "http": http, "sleep": sleep})


def _report(window: Window, options: Mapping[str, Any], max_pages: int | None = None
            ) -> Iterator[Reading | Note]:
    """The readings of the report `options` (google_analytics' arguments) asks for."""
    service = _service(options["credentials"], options["endpoint"], options["http"])
    name = property_name(options["property"])
    dimensions, restate_days = options["dimensions"], options["restate_days"]
    time_dimension = next(d for d in dimensions if d in TIME_DIMENSIONS)
    # GA's dates are in the property's time zone: the option's, else unknown until the
    # answer names it (metadata.timeZone).
    zone = ZoneInfo(options["timezone"]) if options["timezone"] else None
    body = _request_body(options["metrics"], dimensions, options["dimension_filter"],
                         options["page_size"], requested_dates(window, restate_days, zone))
    offset, pages = 0, 0
    while True:
        request = service.properties().runReport(property=name, body={**body, "offset": offset})
        page = execute(request, name, options["sleep"], options["query_timeout"])
        pages += 1
        page_zone = zone or _response_zone(page)
        dates = requested_dates(window, restate_days, page_zone)
        yield from _readings(page, options["measurement"], time_dimension, page_zone, dates,
                             window.end)
        yield from notes(page)
        received = len(page.get("rows", []))
        offset += received
        if received == 0 or offset >= int(page.get("rowCount", 0)) or pages == max_pages:
            break
    log.debug("%s: %d rows in %d pages", name, offset, pages)


def requested_dates(window: Window, restate_days: int, zone: tzinfo | None) -> tuple[date, date]:
    """The property's dates that cover the window and the `restate_days` days before it.

    With the property's zone unknown, the UTC dates are widened by a day on each side:
    every zone is within a day of UTC (UTC-12 to UTC+14), so no hour of the window is left
    out; the rows of the extra days are dropped once the answer names the zone.
    """
    first = (window.start.astimezone(zone or UTC) - timedelta(days=restate_days)).date()
    last = (window.end - timedelta(microseconds=1)).astimezone(zone or UTC).date()
    if zone is None:
        return first - timedelta(days=1), last + timedelta(days=1)
    return first, last


def _request_body(metrics: Sequence[str], dimensions: Sequence[str],
                  dimension_filter: Mapping[str, Any] | None, page_size: int,
                  dates: tuple[date, date]) -> dict[str, Any]:
    first, last = dates
    body: dict[str, Any] = {
        "dateRanges": [{"startDate": first.isoformat(), "endDate": last.isoformat()}],
        "metrics": [{"name": m} for m in metrics],
        "dimensions": [{"name": d} for d in dimensions],
        "limit": page_size,
        "returnPropertyQuota": True,
        # A stable order keeps offset pagination consistent between pages.
        "orderBys": [{"dimension": {"dimensionName": d}} for d in dimensions],
    }
    if dimension_filter:
        body["dimensionFilter"] = dict(dimension_filter)
    return body


def _readings(page: Mapping[str, Any], measurement: str, time_dimension: str, zone: tzinfo,
              dates: tuple[date, date], until: datetime) -> Iterator[Reading]:
    dimensions = [h["name"] for h in page.get("dimensionHeaders", [])]
    metrics = [(h["name"], h.get("type") == "TYPE_INTEGER") for h in page.get("metricHeaders", [])]
    at = dimensions.index(time_dimension)
    granularity = TIME_DIMENSIONS[time_dimension]
    for row in page.get("rows", []):
        values = [v.get("value", "") for v in row.get("dimensionValues", [])]
        moment = parse_time(values[at], granularity, zone)
        if moment >= until:
            continue  # beyond this window (later hours of today): a later run writes them
        if not dates[0] <= moment.astimezone(zone).date() <= dates[1]:
            continue  # a day asked for only while the property's zone was unknown
        fields = {name: metric_value(v.get("value", "0"), integer)
                  for (name, integer), v in zip(metrics, row.get("metricValues", []), strict=True)}
        tags = {d: v for i, (d, v) in enumerate(zip(dimensions, values, strict=True)) if i != at}
        yield Reading(measurement, fields, tags, time=moment, granularity=granularity)


def parse_time(value: str, granularity: Granularity, zone: tzinfo) -> datetime:
    """GA's "20261127" (date) or "2026112713" (dateHour), in `zone`, as UTC."""
    try:
        hour = int(value[8:10]) if granularity is Granularity.HOURLY else 0
        local = datetime(int(value[:4]), int(value[4:6]), int(value[6:8]), hour, tzinfo=zone)
    except ValueError:
        raise SourceError(f"Google Analytics returned the time {value!r}") from None
    return local.astimezone(UTC)


def metric_value(value: str, integer: bool) -> int | float:
    """A metric value typed by its header: TYPE_INTEGER as int, every other type as float."""
    number = float(value)
    return round(number) if integer else number


def _response_zone(page: Mapping[str, Any]) -> tzinfo:
    name = page.get("metadata", {}).get("timeZone")
    try:
        return ZoneInfo(name) if name else UTC
    except (ValueError, KeyError):
        log.warning("unknown time zone %r in the response: dates taken as UTC", name)
        return UTC


def notes(page: Mapping[str, Any]) -> Iterator[Note]:
    """What the report says about its own accuracy and the quota left, as run notes."""
    metadata = page.get("metadata", {})
    if metadata.get("subjectToThresholding"):
        yield Note("GA: thresholding applied (rows with few users withheld)")
    for sampling in metadata.get("samplingMetadatas", []):
        read, space = int(sampling.get("samplesReadCount", 0)), \
            int(sampling.get("samplingSpaceSize", 0))
        yield Note(f"GA: sampled data ({read / space:.1%} of events read)" if space
                   else "GA: sampled data")
    if metadata.get("dataLossFromOtherRow"):
        yield Note("GA: some rows grouped into (other)")
    for quota, status in page.get("propertyQuota", {}).items():
        consumed, remaining = int(status.get("consumed", 0)), int(status.get("remaining", 0))
        total = consumed + remaining
        if total and remaining < QUOTA_WARNING * total:
            yield Note(f"GA quota {quota}: {remaining} of {total} left")


def execute(request: Any, name: str, sleep: Callable[[float], None],
            timeout: float = HTTP_TIMEOUT) -> dict[str, Any]:
    """Run one API request, each attempt within `timeout` seconds and the run's time left;
    back off on quota and server errors, then fail in one line."""
    from googleapiclient.errors import HttpError
    from httplib2 import HttpLib2Error

    for delay in (*RETRY_DELAYS, None):
        try:
            response: dict[str, Any] = _attempt(request, bound(timeout))
            return response
        except HttpError as exc:
            status = int(exc.resp.status)
            if status not in RETRY_STATUSES or delay is None:
                raise SourceError(http_problem(status, exc.content, name)) from None
            if delay >= time_left():
                raise TimedOut(f"{http_problem(status, exc.content, name)}; no retry: the "
                               f"run has {seconds_text(time_left())}s left") from None
            log.info("%s: HTTP %d, retrying in %.0fs", name, status, delay)
            sleep(delay)
        except (HttpLib2Error, OSError) as exc:
            raise SourceError(f"cannot reach Google Analytics: {type(exc).__name__}: {exc}") \
                from None
        except Exception as exc:  # google.auth errors: refresh, missing default credentials
            if type(exc).__module__.startswith("google.auth"):
                raise SourceError(f"Google Analytics credentials: {first_line(exc)}") from None
            raise
    raise AssertionError("unreachable")


def _attempt(request: Any, seconds: float) -> dict[str, Any]:
    """One request, whole within `seconds` (a trickling answer too)."""
    from pusher.bounded import RequestTimedOut, call_within

    try:
        answer: dict[str, Any] = call_within(seconds, partial(request.execute, num_retries=0),
                                             cancel=partial(_drop_connections, request.http))
    except (RequestTimedOut, TimeoutError):  # ours, or httplib2's socket timeout first
        raise timed_out(seconds, "no answer from Google Analytics: ") from None
    return answer


def _drop_connections(http: Any) -> None:
    """Shut down an httplib2 client's connections: a request given up on ends at once."""
    from pusher.bounded import shut

    inner = getattr(http, "http", http)  # google_auth_httplib2.AuthorizedHttp wraps one
    connections = getattr(inner, "connections", None)
    if isinstance(connections, dict):
        for connection in list(connections.values()):
            # httplib2 reconnects once after a dropped connection: not this one.
            connection.connect = _given_up
            shut(getattr(connection, "sock", None))
        connections.clear()


def _given_up() -> None:
    raise ConnectionAbortedError("pusher gave up on this request")


def http_problem(status: int, content: bytes, name: str) -> str:
    """One line for an API error answer."""
    try:
        error = json.loads(content)["error"]
        message, state = first_line(error.get("message", "")), error.get("status", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        message, state = "", ""
    detail = f" ({state})" if state else ""
    if status == 429 or state == "RESOURCE_EXHAUSTED":
        return (f"Google Analytics quota exhausted for {name} (HTTP {status}, gave up after "
                f"{len(RETRY_DELAYS)} retries): {message}")
    if status == 403:
        return (f"Google Analytics denied access to {name} (HTTP 403{detail}): {message} "
                "- grant the credentials' account Viewer access to the property")
    if status == 401:
        return f"Google Analytics rejected the credentials (HTTP 401{detail}): {message}"
    if status >= 500:
        return (f"Google Analytics server error (HTTP {status}{detail}, after "
                f"{len(RETRY_DELAYS)} retries): {message}")
    return f"Google Analytics refused the request for {name} (HTTP {status}{detail}): {message}"


def first_line(value: object) -> str:
    lines = str(value).strip().splitlines()
    return lines[0] if lines else ""


def _service(credentials: str, endpoint: str | None, http: Any) -> Any:
    key = (credentials, endpoint)
    if http is None and key in _SERVICES:
        return _SERVICES[key]
    from google_auth_httplib2 import AuthorizedHttp
    from googleapiclient.discovery import build
    from httplib2 import Http

    authorized = AuthorizedHttp(_credentials(credentials), http=http or Http(timeout=HTTP_TIMEOUT))
    # The discovery document shipped with the package: no request for it, works offline.
    service = build("analyticsdata", "v1beta", http=authorized, static_discovery=True,
                    cache_discovery=False,
                    client_options={"api_endpoint": endpoint} if endpoint else None)
    if http is None:
        _SERVICES[key] = service
    return service


def _credentials(spec: str) -> Any:
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.auth.exceptions import GoogleAuthError
    from google.oauth2 import service_account

    try:
        if spec == "anonymous":
            return AnonymousCredentials()
        if spec == "default":
            return google.auth.default(scopes=[SCOPE])[0]
        return service_account.Credentials.from_service_account_file(spec, scopes=[SCOPE])
    except (GoogleAuthError, ValueError, OSError) as exc:
        raise SourceError(f"Google Analytics credentials: {first_line(exc)}") from None


google_analytics.validate_options = validate  # type: ignore[attr-defined]
google_analytics.honours_deadline = True  # type: ignore[attr-defined]
google_analytics.resolve_paths = resolve_paths  # type: ignore[attr-defined]
google_analytics.names = names  # type: ignore[attr-defined]


def _check(options: Mapping[str, Any]) -> str:
    """For `pusher validate`: the credentials load and the Data API client builds (no request;
    the probe asks for a one-row report)."""
    credentials = str(options.get("credentials", "default"))
    _service(credentials, options.get("endpoint"), None)
    return (f"credentials {credentials!r} loaded, client for "
            f"{property_name(options['property'])} built")


google_analytics.check = _check  # type: ignore[attr-defined]


def _probes(options: Mapping[str, Any]) -> list[tuple[str, Callable[[Window], Any]]]:
    """For `pusher validate`: one request for a one-row report of the window's day(s)."""
    asked = inspect.signature(google_analytics).bind(None, **options)
    asked.apply_defaults()
    one_row = {**asked.arguments, "page_size": 1, "restate_days": 0}
    return [("report", lambda window: _report(window, one_row, max_pages=1))]


google_analytics.probes = _probes  # type: ignore[attr-defined]


def _measurements(options: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """For `dashboards render`: the metrics are the fields."""
    return [(options.get("measurement", "analytics"), list(options["metrics"]))]


google_analytics.measurements = _measurements  # type: ignore[attr-defined]
