"""An example third-party pusher source: how many crawler workers are busy, per window.

Registered by one entry point (see pyproject.toml); pusher finds it without any change.
The crawler writes a snapshot of each spider's workers every few minutes, a JSON list
in which a busy worker has a "stage":

    worker_statuses(spider TEXT, workers TEXT/JSON, created_at TEXT/TIMESTAMP)

Each window is described by the latest snapshot of each spider within it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from pusher import Reading, Window
from pusher.errors import SourceError
from pusher.sources.sql import engine_for, reason, window_parameters
from pusher.sources.sql_options import resolve_paths

LATEST_SNAPSHOTS = """
SELECT s.spider, s.workers FROM {table} s
WHERE s.created_at >= :start AND s.created_at < :end
  AND s.created_at = (SELECT max(t.created_at) FROM {table} t
                      WHERE t.spider = s.spider AND t.created_at >= :start
                        AND t.created_at < :end)
"""


def worker_states(window: Window, url: str, table: str = "worker_statuses",
                  measurement: str = "workers") -> Iterator[Reading]:
    """Crawler workers active, idle and total, from the latest worker snapshot per window."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    # pusher's engines: read-only, one pool per URL, :start/:end in the database's form.
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(LATEST_SNAPSHOTS.format(table=table)),
                                      window_parameters(window, engine.dialect.name)).all()
    except SQLAlchemyError as exc:
        raise SourceError(f"{table}: {reason(exc)}") from exc
    if not rows:
        return  # no snapshot in this window: no point, rather than a made-up zero
    counts = {"active": 0, "idle": 0, "total": 0}
    for _spider, workers in rows:
        for worker in json.loads(workers) if isinstance(workers, str) else workers:
            counts["total"] += 1
            counts["active" if worker.get("stage") else "idle"] += 1
    yield Reading(measurement, counts)


def _validate(options: dict[str, object]) -> None:
    table = options.get("table", "worker_statuses")
    # The table name is part of the SQL text: allow plain identifiers only.
    if not isinstance(table, str) or not table.replace("_", "").isalnum():
        raise ValueError("table: must be a plain table name (letters, digits, _)")
    if not isinstance(options.get("url"), str):
        raise ValueError("url: is required (an SQLAlchemy URL)")


worker_states.validate_options = _validate  # type: ignore[attr-defined]
# A relative SQLite URL is relative to the config file, as for the sql source.
worker_states.resolve_paths = resolve_paths  # type: ignore[attr-defined]


def _measurements(options: dict[str, object]) -> list[tuple[str, list[str]]]:
    """What this source writes, for `pusher dashboards render`."""
    return [(str(options.get("measurement", "workers")), ["active", "idle", "total"])]


worker_states.measurements = _measurements  # type: ignore[attr-defined]
