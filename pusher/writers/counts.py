"""What a sink reports (SinkCounts) and what the sinks of one invocation share (ServerHealth).

A module of its own, without I/O, so that a dry run imports neither the spool nor delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SinkCounts:
    written: int = 0
    refused: int = 0
    spooled: int = 0
    errors: list[str] = field(default_factory=list)
    stuck: dict[str, str] = field(default_factory=dict)  # batch id -> one line about it
    reasons: list[str] = field(default_factory=list)  # the first distinct refusal reasons


@dataclass
class ServerHealth:
    """Shared by the sinks of one invocation: once InfluxDB failed a whole delivery, later
    batches go straight to the spool instead of waiting through the retries again."""

    acked: bool = False  # InfluxDB acknowledged a write in this invocation
    failing: int = 0  # fresh batches failed in a row
    isolating: bool = False  # a stuck batch waits for a sign that InfluxDB is well
    # Why InfluxDB is taken as down ("" while it is not): every run that then spools
    # without trying fails with it.
    reason: str = ""

    @property
    def down(self) -> bool:
        return bool(self.reason)

    def went_down(self, reason: str) -> None:
        self.reason = reason or "InfluxDB failed a whole delivery"

    def retry(self) -> None:
        """Try InfluxDB afresh (the scheduler's next flush or run)."""
        self.failing, self.reason = 0, ""


def refusals(counts: SinkCounts) -> str:
    """" (first reasons)" after a refused=N of a replay, or "" when nothing was refused."""
    return f" ({'; '.join(counts.reasons)})" if counts.refused and counts.reasons else ""
