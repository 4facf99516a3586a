"""The `sql` source type: SQLAlchemy queries over each window; columns become tags and fields.

Each query may use the window as bound parameters `:start` and `:end` (half-open:
`created_at >= :start AND created_at < :end`). They are aware UTC datetimes, except on
SQLite, which has no time type: there they are the text 'YYYY-MM-DD HH:MM:SS' in UTC, which
compares correctly with times stored as UTC text in that form (with or without fractions
of a second, as SQLAlchemy's DateTime stores them). PostgreSQL sessions run in UTC, so
`timestamp without time zone` columns are read as UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pusher.deadline import TimedOut, bound, timed_out
from pusher.errors import SourceError
from pusher.reading import FieldValue, NoData, Reading, Skipped, Window, as_utc, no_value
from pusher.sources import per_query
from pusher.sources.aggregate import as_number, summarize
from pusher.sources.sql_options import (
    DEFAULT_STATS,
    names,
    resolve_paths,
    validate,
    with_driver,
)
from pusher.sources.sql_timeouts import (
    QueryWatchdog,
    bound_connects,
    connect_timed_out,
    timed_out_error,
)

if TYPE_CHECKING:  # SQLAlchemy is imported on first use: `pusher --help` stays fast
    from sqlalchemy.engine import URL, Connection, Engine

log = logging.getLogger(__name__)
BATCH_ROWS = 1000
SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# One engine (a connection pool) per URL for the life of the process: a backfill of
# hundreds of windows reuses its connection instead of reconnecting for each window.
_ENGINES: dict[str, Engine] = {}


def sql(window: Window, url: str, queries: Sequence[Mapping[str, Any]], nan: str = "skip",
        query_timeout: float | None = None) -> Iterator[Reading | Skipped | NoData]:
    """SQL queries (SQLAlchemy) over each window: columns become tags and fields.

    A NaN or infinite value is no value: that field is left out of its row and counted
    (`nan = "skip"`), or the row is handed on to be refused (`nan = "refuse"`).
    """
    from sqlalchemy.exc import SQLAlchemyError

    engine = engine_for(url)
    try:
        connection = engine.connect()
    except (SQLAlchemyError, ImportError) as exc:
        names = ", ".join(spec["measurement"] for spec in queries)
        problem = (f"cannot connect to {safe_url(url)}: {reason(exc)} "
                   f"(queries not run: {names})")
        raise (TimedOut if connect_timed_out(exc) else SourceError)(problem) from exc
    failures, timed_out = [], False
    with connection:
        params = window_parameters(window, engine.dialect.name)
        for number, spec in enumerate(queries):
            where = f"queries[{number}] {spec['measurement']}"
            try:
                yield from _run_query(connection, spec, params,
                                      spec.get("query_timeout", query_timeout), nan == "skip")
            except SourceError as exc:  # the other queries still run; the run logs it once
                failures.append(f"{where}: {exc}")
                timed_out = timed_out or isinstance(exc, TimedOut)
    if failures:
        raise (TimedOut if timed_out else SourceError)("; ".join(failures))


def engine_for(url: str) -> Engine:
    """The process-wide engine for `url`, opened read-only where the database allows it."""
    engine = _ENGINES.get(url)
    if engine is None:
        from sqlalchemy import create_engine
        from sqlalchemy.exc import ArgumentError

        try:
            target, options = _read_only(url)
            engine = create_engine(target, pool_pre_ping=True, **options)
        except (ArgumentError, ImportError) as exc:
            raise SourceError(f"cannot use {safe_url(url)}: {reason(exc)}") from exc
        if engine.dialect.name == "postgresql":
            bound_connects(engine)
        _ENGINES[url] = engine
    return engine


def _read_only(url: str) -> tuple[URL, dict[str, Any]]:
    from urllib.parse import quote

    from sqlalchemy.engine import make_url

    parsed = make_url(with_driver(url))
    backend, options = parsed.get_backend_name(), dict[str, Any]()
    database = parsed.database or ""
    if backend == "sqlite" and database not in ("", ":memory:") and "mode" not in parsed.query:
        # SQLite's URI form opens the file read-only (and fails if it is missing instead
        # of creating an empty database).
        parsed = parsed.set(database=f"file:{quote(database)}",
                            query={**parsed.query, "mode": "ro", "uri": "true"})
    elif backend == "postgresql":
        options["execution_options"] = {"postgresql_readonly": True}
        if parsed.get_driver_name() in ("psycopg2", "psycopg"):
            # Added to the URL's own `options` (search_path, ...): connect_args replace them.
            given = parsed.query.get("options", "")
            given = given if isinstance(given, str) else " ".join(given)
            options["connect_args"] = {"options": f"{given} -c timezone=UTC".strip()}
    return parsed, options


def window_parameters(window: Window, dialect: str) -> dict[str, Any]:
    """The :start and :end parameters for `window`, in the form the database compares."""
    if dialect == "sqlite":
        return {"start": window.start.astimezone(UTC).strftime(SQLITE_TIME_FORMAT),
                "end": window.end.astimezone(UTC).strftime(SQLITE_TIME_FORMAT)}
    return {"start": window.start.astimezone(UTC), "end": window.end.astimezone(UTC)}


def _run_query(connection: Connection, spec: Mapping[str, Any], params: Mapping[str, Any],
               timeout: float | None, skip_nan: bool = True
               ) -> Iterator[Reading | Skipped | NoData]:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    seconds = bound(timeout)  # its own limit, never more than the run's time left
    # A transaction per query: a failed query does not poison the next one, and nothing
    # is ever committed (rolled back even if a query managed to write something).
    transaction = connection.begin()
    watchdog = QueryWatchdog(connection, seconds)
    try:
        watchdog.limit_server()
        result = connection.execute(text(spec["sql"]), dict(params), execution_options={
            "stream_results": True, "yield_per": BATCH_ROWS})
        rows = watchdog.rows(result)
        if "aggregate" in spec:
            yield from _aggregated(list(result.keys()), rows, spec, skip_nan)
        else:
            yield from _row_readings(list(result.keys()), rows, spec, skip_nan)
    except SQLAlchemyError as exc:
        if watchdog.fired or timed_out_error(exc):
            raise timed_out(seconds, f"{reason(exc)}: ") from exc
        raise SourceError(reason(exc)) from exc
    finally:
        watchdog.disarm()
        transaction.rollback()


def _row_readings(columns: list[str], result: Iterable[Any], spec: Mapping[str, Any],
                  skip_nan: bool) -> Iterator[Reading | Skipped | NoData]:
    tags, time_column, explicit = spec.get("tags", []), spec.get("time"), spec.get("fields")
    _require(columns, [*tags, *(explicit or []), *([time_column] if time_column else [])])
    tag_at = [(tag, columns.index(tag)) for tag in tags]
    names = explicit or [c for c in columns if c not in tags and c != time_column]
    field_at = [(name, columns.index(name)) for name in names]
    time_at = columns.index(time_column) if time_column else None
    measurement, skipped, nans, rows = spec["measurement"], 0, 0, 0
    for row in result:
        rows += 1
        fields = {}
        for name, index in field_at:
            value = field_value(row[index], explicit=explicit is not None)
            if skip_nan and no_value(value):
                nans += 1  # only this field: the row's other fields still go
            elif value is not None:
                fields[name] = value
        if not fields:
            skipped += 1  # every field NULL: there is nothing to write for this row
            continue
        moment = None if time_at is None else _moment(row[time_at], str(time_column))
        yield Reading(measurement, fields, {tag: tag_value(row[i]) for tag, i in tag_at},
                      time=moment)
    if skipped:
        log.warning("%s: skipped %d rows without a field value (NULL, NaN)", measurement,
                    skipped)
    yield from _remarks(measurement, rows, nans)


def _remarks(measurement: str, rows: int, nans: int) -> Iterator[Skipped | NoData]:
    """For the run summary: the values left out, and a query that returned no row."""
    if nans:
        yield Skipped(nans)
    if not rows:
        yield NoData(measurement)


def _aggregated(columns: list[str], result: Iterable[Any], spec: Mapping[str, Any],
                skip_nan: bool) -> Iterator[Reading | Skipped | NoData]:
    aggregate = spec["aggregate"]
    column, group_by = aggregate["column"], aggregate.get("group_by", [])
    stats = aggregate.get("stats", DEFAULT_STATS)
    _require(columns, [column, *group_by])
    value_at, group_at = columns.index(column), [columns.index(g) for g in group_by]
    groups: dict[tuple[str, ...], list[float]] = {}
    rows, nans = 0, 0
    for row in result:
        rows += 1
        if skip_nan and no_value(float_or_none(row[value_at])):
            nans += 1  # NaN has no rank and an infinity no mean: no value
            continue
        value = as_number(row[value_at])
        if value is not None:
            groups.setdefault(tuple(tag_value(row[i]) for i in group_at), []).append(value)
    for key, values in groups.items():
        yield Reading(spec["measurement"], summarize(values, stats), dict(zip(group_by, key,
                                                                              strict=True)))
    yield from _remarks(spec["measurement"], rows, nans)


def float_or_none(value: object) -> float | None:
    """A float or Decimal column value as a float (NaN stays NaN); None for the others."""
    return float(value) if isinstance(value, float | Decimal) else None


def _require(columns: list[str], wanted: list[str]) -> None:
    missing = [name for name in wanted if name not in columns]
    if missing:
        raise SourceError(f"column {missing[0]!r} is not in the result "
                          f"(columns: {', '.join(columns)})")


def field_value(value: object, *, explicit: bool) -> FieldValue | None:
    """A column value as a field value; None when it has none (NULL, or not a number)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Decimal):
        # numeric(p, 0) and sum(bigint) come back as integral Decimals: keep them integers
        # so the field's type does not depend on the database driver.
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if not explicit:
        return None  # by default only numbers become fields; list `fields` for the others
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def tag_value(value: object) -> str:
    """A column value as a tag value ("" for NULL: the tag is then left out)."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _moment(value: object, column: str) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value))
        except ValueError:
            pass
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)  # Unix seconds
    raise SourceError(f"time column {column!r} has {value!r}, which is not a time")


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL may still hold a password: say nothing of it
        return "(the configured url)"


def reason(exc: BaseException) -> str:
    """The database's own first line about what went wrong, without SQLAlchemy's framing."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines() or [""]
    return f"{type(original).__name__}: {lines[0]}"


sql.validate_options = validate  # type: ignore[attr-defined]
sql.honours_deadline = True  # type: ignore[attr-defined]
sql.resolve_paths = resolve_paths  # type: ignore[attr-defined]
sql.names = names  # type: ignore[attr-defined]


def _check(options: Mapping[str, Any]) -> str:
    """For `pusher validate`: connect and run SELECT 1."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    url = options["url"]
    try:
        with engine_for(url).connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot query {safe_url(url)}: {reason(exc)}") from None
    return f"{safe_url(url)} answers SELECT 1"


sql.check = _check  # type: ignore[attr-defined]
# For `pusher validate`: each query alone, with the real :start/:end, in its read-only
# transaction that is rolled back (_run_query).
sql.probes = lambda options: per_query(sql, options)  # type: ignore[attr-defined]


def _measurements(options: Mapping[str, Any]) -> Iterator[tuple[str, list[str] | None]]:
    """For `dashboards render`: each query's measurement; its fields when the config names
    them (`fields`, or the statistics of `aggregate`), else None: they are the columns."""
    for spec in options["queries"]:
        if "aggregate" in spec:
            yield spec["measurement"], list(spec["aggregate"].get("stats", DEFAULT_STATS))
        else:
            yield spec["measurement"], spec.get("fields")


sql.measurements = _measurements  # type: ignore[attr-defined]
