"""Config-time checks of the `sql` source's options: "queries[N].key: problem"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pusher.sources.aggregate import check_stat

QUERY_KEYS = {"sql", "measurement", "tags", "fields", "time", "aggregate"}
AGGREGATE_KEYS = {"column", "group_by", "stats"}
DEFAULT_STATS = ["count", "sum", "mean", "p50", "p90", "p99", "max"]
URL_HINT = "an SQLAlchemy URL such as sqlite:///path.sqlite or postgresql+psycopg2://user@host/db"


def validate(options: Mapping[str, Any]) -> None:
    """Raise ValueError("key: problem") for a malformed `sql` source."""
    _check_url(options.get("url"))
    queries = options.get("queries")
    if not isinstance(queries, list) or not queries:
        raise ValueError("queries: must be a non-empty list of [[...queries]] tables")
    for number, spec in enumerate(queries):
        _check_query(f"queries[{number}]", spec)


def _check_url(url: object) -> None:
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(f"url: must be {URL_HINT}")
    try:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError
    except ImportError:
        raise ValueError("url: the sql source needs SQLAlchemy: pip install 'pusher[sql]'") \
            from None
    try:
        make_url(url)
    except ArgumentError:
        # SQLAlchemy's message quotes the URL, password included: do not pass it on.
        raise ValueError(f"url: cannot be parsed; must be {URL_HINT}") from None


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
        raise ValueError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")


def _check_names(where: str, names: object, *, empty_ok: bool) -> None:
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"{where}: must be a list of column names")
    if not names and not empty_ok:
        raise ValueError(f"{where}: must not be empty")
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: lists a column twice")
