"""The `prometheus` source type: PromQL evaluated at each window's end, many windows a request.

A window's reading is the query's value at the window's end with `$__range` = the window's
length, stamped (by the pipeline) with the window's start. `read_windows` asks each query
once for a whole span of equal windows (prometheus_spans) instead of once per window; the
lines that come out are the same, byte for byte, in the same order.
"""

from __future__ import annotations

import inspect
import logging
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from pusher.deadline import TimedOut
from pusher.errors import SourceError
from pusher.reading import NoData, Reading, Skipped, Window
from pusher.sources import per_query
from pusher.sources.names import Declared, tagged
from pusher.sources.prometheus_api import Client, Series, ServerLimit, StepError
from pusher.sources.prometheus_spans import Span, plan_spans
from pusher.values import check_nan_rule, check_seconds, http_url_problem, unknown_key

log = logging.getLogger(__name__)
QUERY_KEYS = {"query", "measurement", "field", "tags", "name_tag", "query_timeout"}
QUERY_TIMEOUT = 30.0  # seconds a request may take, unless `query_timeout` says otherwise


def prometheus(
    window: Window,
    url: str,
    queries: list[Mapping[str, Any]],
    query_timeout: float = QUERY_TIMEOUT,
    headers: Mapping[str, str] | None = None,
    verify_ssl: bool = True,
    nan: str = "skip",
    session: requests.Session | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[Reading | Skipped | NoData]:
    """Prometheus range queries; a sample's labels become tags, its value one field.

    NaN and infinite samples (`rate()` over no traffic is 0/0) mean "no value" in PromQL:
    skipped and counted (`nan = "skip"`), or handed on to be refused (`nan = "refuse"`).
    """
    [readings] = read_windows([window], url=url, queries=queries, query_timeout=query_timeout,
                              headers=headers, verify_ssl=verify_ssl, nan=nan,
                              session=session, clock=clock)
    yield from readings


def read_windows(windows: Sequence[Window], **options: Any
                 ) -> list[Iterator[Reading | Skipped | NoData]]:
    """The readings of each window, in order; nothing is asked until a window is read.

    Takes the options of `prometheus`. Each query is asked once per span (at most 11,000
    windows of one length), when the span's first window is read; a failing query fails
    the windows it failed for (raised after the other queries' readings), as when each
    window is asked alone.
    """
    given = inspect.signature(prometheus).bind(None, **options)  # one list of options
    given.apply_defaults()
    option = given.arguments
    client = Client(option["session"] or requests.Session(), option["url"],
                    option["query_timeout"], option["headers"], option["verify_ssl"])
    skip = option["nan"] == "skip"
    parsed = [Query.parse(number, spec, skip) for number, spec in enumerate(option["queries"])]
    per_window = []
    for span in plan_spans(windows, option["clock"]()):
        answers = SpanAnswers(client, parsed, span)
        per_window += [answers.readings(step) for step in range(len(span.windows))]
    return per_window


prometheus.read_windows = read_windows  # type: ignore[attr-defined]
# Every request is bounded by deadline.bound() (prometheus_api.Client._get).
prometheus.honours_deadline = True  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Query:
    """One [[queries]] table: the PromQL and how its samples become readings."""

    number: int
    promql: str
    measurement: str
    field: str
    tags: Mapping[str, str]
    name_tag: str
    skip_nan: bool = True  # NaN and infinite samples are no value: skipped, counted
    timeout: float | None = None  # seconds: its own query_timeout, else the source's

    @classmethod
    def parse(cls, number: int, spec: Mapping[str, Any], skip_nan: bool = True) -> Query:
        return cls(number, spec["query"], spec["measurement"], spec.get("field", "value"),
                   dict(spec.get("tags", {})), spec.get("name_tag", "metric"), skip_nan,
                   spec.get("query_timeout"))

    def for_range(self, seconds: int) -> str:
        return self.promql.replace("$__range", f"{seconds}s")

    def tags_of(self, labels: Mapping[str, str]) -> dict[str, str]:
        """Static tags, then the series' labels (`__name__` as the name tag)."""
        tags = dict(self.tags)
        for label, value in labels.items():
            tags[self.name_tag if label == "__name__" else label] = value
        return tags

    def __str__(self) -> str:
        return f"queries[{self.number}] {self.measurement}"


class SpanAnswers:
    """Every query's samples over one span, bucketed by window; asked on first use."""

    def __init__(self, client: Client, queries: Sequence[Query], span: Span):
        self.client, self.queries, self.span = client, queries, span
        self._answers: list[QueryAnswer] | None = None

    def readings(self, step: int) -> Iterator[Reading | Skipped | NoData]:
        """The readings of the span's window number `step`, as if it were asked alone;
        a query without a sample there is said (NoData), NaN samples are counted."""
        if self._answers is None:
            self._answers = [QueryAnswer.ask(self.client, query, self.span)
                             for query in self.queries]
        failures, skipped = [], 0
        for query, answer in zip(self.queries, self._answers, strict=True):
            measurement, field_name = query.measurement, query.field
            tags = answer.tags
            for number, value in zip(answer.series[step], answer.values[step], strict=True):
                yield Reading(measurement, {field_name: value}, tags[number])
            skipped += answer.skipped.get(step, 0)
            if step in answer.errors:
                failures.append(f"{query}: {answer.errors[step]}")
            elif not answer.series[step] and step not in answer.skipped:
                yield NoData(measurement)
        if skipped:
            yield Skipped(skipped)
        if failures:
            timed_out = any(isinstance(answer.errors.get(step), TimedOut)
                            for answer in self._answers)
            raise (TimedOut if timed_out else SourceError)("; ".join(failures))


@dataclass
class QueryAnswer:
    """One query over one span: per window, its samples in Prometheus' series order.

    Kept as two arrays per window (the series' number in `tags`, the value): 12 bytes a
    sample while the span's windows are read, instead of about 120 as Python objects.
    """

    series: list[array[int]]
    values: list[array[float]]
    tags: list[dict[str, str]]  # per series of the answer(s)
    errors: dict[int, SourceError]  # window number -> why the query failed for it
    # window number -> NaN or infinite samples left out
    skipped: dict[int, int] = field(default_factory=dict)

    @classmethod
    def ask(cls, client: Client, query: Query, span: Span) -> QueryAnswer:
        answer = cls([array("I") for _ in span.windows], [array("d") for _ in span.windows],
                     [], {})
        answer.fill(client, query, span, 0)
        return answer

    def fill(self, client: Client, query: Query, span: Span, offset: int) -> None:
        """Ask for `span` (its first window is number `offset`), splitting where refused."""
        try:
            series = client.query_range(query.for_range(span.seconds), span.first_end,
                                        span.last_end, span.seconds, query.timeout)
            self._bucket(query, series, span, offset)
        except ServerLimit as exc:  # too many steps or samples: halves may pass
            if len(span.windows) == 1:
                return self._failed(query, span, offset, exc)
            first, second = span.halves()
            self.fill(client, query, first, offset)
            self.fill(client, query, second, offset + len(first.windows))
        except StepError as exc:  # fails at some steps: only those windows may fail
            if len(span.windows) == 1:
                return self._failed(query, span, offset, exc)
            for number, alone in enumerate(span.alone()):
                self.fill(client, query, alone, offset + number)
        except SourceError as exc:
            self._failed(query, span, offset, exc)

    def _bucket(self, query: Query, answer: Iterable[Series], span: Span, offset: int) -> None:
        try:
            self._place(query, answer, span, offset)
        except SourceError:
            for window in range(offset, offset + len(span.windows)):
                del self.series[window][:], self.values[window][:]  # all of it, or none
                self.skipped.pop(window, None)
            raise

    def _place(self, query: Query, answer: Iterable[Series], span: Span, offset: int) -> None:
        series, values, steps = self.series, self.values, len(span.windows)
        first, seconds, skip = span.first_end, span.seconds, query.skip_nan
        for labels, samples in answer:
            number = len(self.tags)
            self.tags.append(query.tags_of(labels))
            for stamp, value in samples:
                step = round((stamp - first) / seconds)
                if not 0 <= step < steps:
                    raise SourceError(f"the answer holds a sample at {stamp}, which is not "
                                      "one of the steps asked for")
                try:
                    number_value = float(value)
                except ValueError:
                    raise SourceError(f"the answer holds {value!r}, not a number") from None
                if number_value - number_value != 0.0 and skip:  # NaN, +Inf, -Inf
                    self.skipped[offset + step] = self.skipped.get(offset + step, 0) + 1
                    continue
                series[offset + step].append(number)
                values[offset + step].append(number_value)

    def _failed(self, query: Query, span: Span, offset: int, exc: SourceError) -> None:
        log.warning("%s (%s): %s", f"queries[{query.number}]", query.measurement, exc)
        for number in range(offset, offset + len(span.windows)):
            self.errors[number] = exc


def _validate(options: Mapping[str, Any]) -> None:
    for injected in ("session", "clock"):
        if injected in options:
            raise ValueError(f"{injected}: is for tests, not a config option")
    if problem := http_url_problem(options.get("url")):
        raise ValueError(f"url: {problem}")
    if not isinstance(options.get("verify_ssl", True), bool):
        raise ValueError("verify_ssl: must be true or false")
    check_nan_rule(options)
    _check_strings("headers", options.get("headers", {}))
    check_seconds("query_timeout", options.get("query_timeout", QUERY_TIMEOUT))
    queries = options.get("queries")
    if not isinstance(queries, list) or not queries:
        raise ValueError("queries: must be a non-empty list of [[...queries]] tables")
    for number, spec in enumerate(queries):
        _check_query(f"queries[{number}]", spec)


def _check_query(where: str, spec: object) -> None:
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: must be a table")
    for key in sorted(set(spec) - QUERY_KEYS):
        raise ValueError(f"{where}.{key}: {unknown_key(key, QUERY_KEYS)}")
    for key in ("query", "measurement", "field", "name_tag"):
        if key in spec or key in ("query", "measurement"):
            value = spec.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{where}.{key}: is required (a non-empty string)")
    _check_strings(f"{where}.tags", spec.get("tags", {}))
    if "query_timeout" in spec:
        check_seconds(f"{where}.query_timeout", spec["query_timeout"])


def _check_strings(where: str, table: object) -> None:
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise ValueError(f"{where}: must be a table of strings")


prometheus.validate_options = _validate  # type: ignore[attr-defined]


def _names(options: Mapping[str, Any]) -> Iterator[Declared]:
    """Each query's measurement, field, static tags and name tag (see sources/names.py)."""
    for number, spec in enumerate(options["queries"]):
        where = f"queries[{number}]"
        yield f"{where}.measurement", "measurement", spec["measurement"]
        yield f"{where}.field", "field key", spec.get("field", "value")
        yield from tagged(f"{where}.tags", spec.get("tags", {}))
        yield f"{where}.name_tag", "tag key", spec.get("name_tag", "metric")


prometheus.names = _names  # type: ignore[attr-defined]


def _check(options: Mapping[str, Any]) -> str:
    """For `pusher validate`: the server answers its API (and takes our headers)."""
    client = Client(requests.Session(), options["url"],
                    float(options.get("query_timeout", QUERY_TIMEOUT)),
                    options.get("headers"), bool(options.get("verify_ssl", True)))
    return f"Prometheus {client.build_info().get('version', '?')} answers"


prometheus.check = _check  # type: ignore[attr-defined]
# For `pusher validate`: each query alone, through the query API, on a recent window.
prometheus.probes = lambda options: per_query(prometheus, options)  # type: ignore[attr-defined]


def _measurements(options: Mapping[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """For `dashboards render`: each query's measurement and its one field."""
    for spec in options["queries"]:
        yield spec["measurement"], [spec.get("field", "value")]


prometheus.measurements = _measurements  # type: ignore[attr-defined]
