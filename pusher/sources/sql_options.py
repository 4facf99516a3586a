"""Config-time checks of the `sql` source's options: "queries[N].key: problem"."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from pusher.sources.aggregate import check_stat
from pusher.sources.names import Declared, listed
from pusher.values import check_nan_rule, check_seconds, unknown_key

QUERY_KEYS = {"sql", "measurement", "tags", "fields", "time", "aggregate", "query_timeout"}
AGGREGATE_KEYS = {"column", "group_by", "stats"}
DEFAULT_STATS = ["count", "sum", "mean", "p50", "p90", "p99", "max"]
URL_HINT = "an SQLAlchemy URL such as sqlite:///path.sqlite or postgresql+psycopg2://user@host/db"
# sqlite:///relative/path, sqlite:////absolute/path (SQLAlchemy's form), optional ?query.
_SQLITE_URL = re.compile(r"(sqlite(?:\+\w+)?:///)([^?]*)(.*)", re.DOTALL)
# Drivers for a URL without one (postgresql://): SQLAlchemy 2.1 picks psycopg (3), the `sql`
# extra installs psycopg2; whichever is installed is used, psycopg first.
_POSTGRESQL_DRIVERS = (("psycopg", "psycopg"), ("psycopg2", "psycopg2"))


def validate(options: Mapping[str, Any]) -> None:
    """Raise ValueError("key: problem") for a malformed `sql` source."""
    _check_url(options.get("url"))
    check_nan_rule(options)
    if options.get("query_timeout") is not None:
        check_seconds("query_timeout", options["query_timeout"])
    queries = options.get("queries")
    if not isinstance(queries, list) or not queries:
        raise ValueError("queries: must be a non-empty list of [[...queries]] tables")
    for number, spec in enumerate(queries):
        _check_query(f"queries[{number}]", spec)


def names(options: Mapping[str, Any]) -> Iterator[Declared]:
    """Each query's measurement and the columns it names as tags and fields; with
    `aggregate`, its group_by columns (tags) and statistics (fields). See sources/names.py."""
    for number, spec in enumerate(options["queries"]):
        where = f"queries[{number}]"
        yield f"{where}.measurement", "measurement", spec["measurement"]
        yield from listed(f"{where}.tags", "tag key", spec.get("tags"))
        yield from listed(f"{where}.fields", "field key", spec.get("fields"))
        aggregate = spec.get("aggregate", {})
        yield from listed(f"{where}.aggregate.group_by", "tag key", aggregate.get("group_by"))
        yield from listed(f"{where}.aggregate.stats", "field key",
                          aggregate.get("stats", DEFAULT_STATS))


def resolve_paths(options: dict[str, Any], root: Path) -> dict[str, Any]:
    """A relative SQLite URL is relative to the config file's folder, like every path."""
    if isinstance(options.get("url"), str):
        options["url"] = sqlite_url_against(options["url"], root)
    return options


def sqlite_url_against(url: str, root: Path) -> str:
    """`sqlite:///site.db` as `sqlite:////ROOT/site.db`; any other URL unchanged."""
    match = _SQLITE_URL.fullmatch(url)
    if match is None:
        return url
    scheme, path, rest = match.groups()
    if not path or path.startswith(("/", "file:")) or path == ":memory:":
        return url
    return f"{scheme}{root / path}{rest}"


def with_driver(url: str) -> str:
    """`postgresql://...` with the driver that is installed; any other URL unchanged."""
    scheme, sep, rest = url.partition("://")
    if scheme != "postgresql" or not sep:
        return url
    for module, driver in _POSTGRESQL_DRIVERS:
        if find_spec(module) is not None:
            return f"postgresql+{driver}://{rest}"
    return url


def _check_url(url: object) -> None:
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(f"url: must be {URL_HINT}")
    try:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    except ImportError:
        raise ValueError("url: the sql source needs SQLAlchemy: pip install 'pusher[sql]'") \
            from None
    try:
        dialect = make_url(with_driver(url)).get_dialect()
    except NoSuchModuleError:  # an ArgumentError too: caught first
        raise ValueError(f"url: SQLAlchemy has no database {url.partition(':')[0]!r}; must "
                         f"be {URL_HINT}") from None
    except ArgumentError:
        # SQLAlchemy's message quotes the URL, password included: do not pass it on.
        raise ValueError(f"url: cannot be parsed; must be {URL_HINT}") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise ValueError(f"url: the database driver is not installed ({exc}): install it, "
                         "or name an installed one (postgresql+psycopg2://...)") from None


def _check_query(where: str, spec: object) -> None:
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: must be a table")
    _check_known(where, spec, QUERY_KEYS)
    for key in ("sql", "measurement"):
        if not isinstance(spec.get(key), str) or not spec[key].strip():
            raise ValueError(f"{where}.{key}: is required (a string)")
    _check_names(f"{where}.tags", spec.get("tags", []), empty_ok=True)
    if "fields" in spec:
        _check_names(f"{where}.fields", spec["fields"], empty_ok=False)
    if "query_timeout" in spec:
        check_seconds(f"{where}.query_timeout", spec["query_timeout"])
    if "time" in spec and (not isinstance(spec["time"], str) or not spec["time"]):
        raise ValueError(f"{where}.time: must be a column name")
    if "aggregate" in spec:
        clash = sorted({"tags", "fields", "time"} & set(spec))
        if clash:
            raise ValueError(f"{where}.{clash[0]}: cannot be used with aggregate "
                             "(its group_by columns are the tags)")
        _check_aggregate(f"{where}.aggregate", spec["aggregate"])


def _check_aggregate(where: str, aggregate: object) -> None:
    if not isinstance(aggregate, dict):
        raise ValueError(f'{where}: must be a table like {{column = "duration"}}')
    _check_known(where, aggregate, AGGREGATE_KEYS)
    if not isinstance(aggregate.get("column"), str) or not aggregate["column"]:
        raise ValueError(f"{where}.column: is required (the column to summarize)")
    _check_names(f"{where}.group_by", aggregate.get("group_by", []), empty_ok=True)
    stats = aggregate.get("stats", DEFAULT_STATS)
    _check_names(f"{where}.stats", stats, empty_ok=False)
    for stat in stats:
        try:
            check_stat(stat)
        except ValueError as exc:
            raise ValueError(f"{where}.stats: {exc}") from None


def _check_known(where: str, table: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: {unknown_key(unknown[0], known)}")


def _check_names(where: str, names: object, *, empty_ok: bool) -> None:
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"{where}: must be a list of column names")
    if not names and not empty_ok:
        raise ValueError(f"{where}: must not be empty")
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: lists a column twice")
