"""One family of errors; only the CLI turns them into exit codes."""

from __future__ import annotations


class PusherError(Exception):
    """Base of every error pusher raises on purpose."""


class ConfigError(PusherError):
    """The configuration cannot be used: names the file, the key and the problem."""

    def __init__(self, problem: str, *, file: str | None = None, key: str | None = None):
        self.problem = problem
        self.file = file
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.key) if part)
        return f"{where}: {self.problem}" if where else self.problem


class RefusedReading(PusherError):
    """A reading that cannot become a line of line protocol, with the reason why."""


class SourceError(PusherError):
    """A source could not produce its readings (connection, query, permission)."""


class WriteError(PusherError):
    """InfluxDB could not be reached or kept failing; the batch stays in the spool.

    `server_wide`: the failure says nothing about the batch (unreachable, auth, a missing
    database, not InfluxDB at all); otherwise it may be the batch's own content (a 500).
    """

    def __init__(self, message: str, status: int | None = None, server_wide: bool = True):
        self.status = status
        self.server_wide = server_wide
        super().__init__(message)
