"""How long one query of the `sql` source may take, and its cancellation on the server.

A query gets `bound(query_timeout)` seconds (pusher/deadline.py), for all of it: the
statement and every fetch of its rows.
- PostgreSQL: `SET LOCAL statement_timeout` for the query's transaction (the server itself
  cancels a statement that runs longer, even if pusher was killed), a watchdog that sends
  a cancel request (libpq's PQcancel, psycopg's `cancel()`) when the query's time is up
  between fetches too, and libpq's `connect_timeout` for a new connection.
- SQLite: `PRAGMA busy_timeout` (how long to wait for a writer's lock; Python's default is
  5 s) and the watchdog's `interrupt()` for a statement still running at its time.
A connection whose query was cancelled is not reused: a late cancel request must not
reach the next query.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from pusher.deadline import bound, timed_out

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for statement_timeout and cancel requests
# SQLite's messages for a busy timeout that ran out, and for interrupt().
SQLITE_GAVE_UP = ("database is locked", "database table is locked", "interrupted")


class QueryWatchdog:
    """Sets the server's own limits for one query and cancels it once `seconds` passed
    (math.inf: no limit, no watchdog)."""

    def __init__(self, connection: Connection, seconds: float):
        self.connection, self.seconds = connection, seconds
        self.dialect = connection.dialect.name
        self.fired = False
        self._lock = threading.Lock()
        self._armed = True
        self._dbapi = connection.connection.dbapi_connection
        self._timer: threading.Timer | None = None
        if math.isfinite(seconds):
            self._timer = threading.Timer(seconds, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def limit_server(self) -> None:
        """The database's own bound on the query's statements (in milliseconds)."""
        if self._timer is None:
            return
        milliseconds = max(1, math.ceil(self.seconds * 1000))
        if self.dialect == "postgresql":
            self.connection.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")
        elif self.dialect == "sqlite":
            self.connection.exec_driver_sql(f"PRAGMA busy_timeout = {milliseconds}")

    def rows(self, result: Iterable[Any]) -> Iterator[Any]:
        """The result's rows, until the query's time is up (between fetches, rows of a
        streamed result arrive without a statement running)."""
        for row in result:
            if self.fired:
                raise timed_out(self.seconds)
            yield row

    def disarm(self) -> None:
        """The query is over: no cancel after this; a cancelled connection is discarded."""
        with self._lock:
            self._armed = False
            if self._timer is not None:
                self._timer.cancel()
        if self.fired:
            self.connection.invalidate()

    def _fire(self) -> None:
        with self._lock:
            if not self._armed:
                return
            self.fired = True
            # psycopg2 and psycopg: cancel(); sqlite3: interrupt(). Both may be called from
            # another thread while the query runs.
            cancel = getattr(self._dbapi, "cancel", None) or getattr(self._dbapi, "interrupt",
                                                                     None)
            if cancel is not None:
                with suppress(Exception):  # the connection went away meanwhile
                    cancel()


def timed_out_error(exc: BaseException) -> bool:
    """Whether a database error says the query ran out of time (or was cancelled)."""
    original = getattr(exc, "orig", None) or exc
    code = getattr(original, "pgcode", None) or getattr(original, "sqlstate", None)
    return code == QUERY_CANCELED or str(original).strip() in SQLITE_GAVE_UP


def connect_timed_out(exc: BaseException) -> bool:
    """Whether connecting failed for lack of time (libpq: "timeout expired")."""
    return "timeout expired" in str(getattr(exc, "orig", None) or exc)


def bound_connects(engine: Engine) -> None:
    """Give each new PostgreSQL connection libpq's connect_timeout: the run's time left."""
    from sqlalchemy import event

    @event.listens_for(engine, "do_connect")
    def _connect_timeout(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]
                         ) -> None:
        seconds = bound(None)
        if math.isfinite(seconds):
            # libpq counts whole seconds and takes anything under 2 as 2 (libpq docs).
            cparams["connect_timeout"] = max(2, math.ceil(seconds))
