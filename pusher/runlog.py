"""Self-monitoring: the pusher_runs point, per-source watermarks and the last run of each source.

The watermark of a source is the end of the last window completely written (every point
acknowledged by InfluxDB). It lives in <state_dir>/watermarks.json and, as the `watermark`
field of every pusher_runs point, in InfluxDB: a run with an empty state directory (a
Kubernetes CronJob without a volume) reads it back from there (pusher/runquery.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pusher.pipeline import RunRecord
from pusher.reading import Reading
from pusher.state import read_json, update_json

log = logging.getLogger(__name__)

RUN_MEASUREMENT = "pusher_runs"
RUN_TAGS = ("source", "granularity")
# The one place the pusher_runs schema is written down (dashboards are checked against it).
RUN_FIELDS: dict[str, type] = {
    "status": str,      # done | partial | failed
    "ok": int,          # 1 when status is done
    "duration": float,  # seconds
    "readings": int,
    "written": int,
    "refused": int,
    "spooled": int,
    "lag": float,       # seconds from the run's end back to the watermark
    "interval": float,  # seconds between scheduled runs, for staleness checks
    "watermark": int,   # epoch seconds: end of the last window completely written
}


def run_reading(record: RunRecord, ended: datetime, watermark: datetime | None,
                interval: float) -> Reading:
    """The pusher_runs point of one run, stamped at the run's end."""
    fields: dict[str, Any] = {
        "status": record.status, "ok": int(record.ok), "duration": float(record.duration),
        "readings": record.readings, "written": record.written, "refused": record.refused,
        "spooled": record.spooled, "interval": float(interval),
    }
    if watermark is not None:
        fields["lag"] = max(0.0, (ended - watermark).total_seconds())
        fields["watermark"] = int(watermark.timestamp())
    return Reading(RUN_MEASUREMENT, fields, {"source": record.source}, time=ended)


class Watermarks:
    """<state_dir>/watermarks.json: source name -> ISO end of its last complete window."""

    def __init__(self, state_dir: Path):
        self.path = state_dir / "watermarks.json"

    def get(self, source: str) -> datetime | None:
        value = read_json(self.path).get(source)
        return datetime.fromisoformat(value) if isinstance(value, str) else None

    def all(self) -> dict[str, datetime]:
        return {k: datetime.fromisoformat(v) for k, v in read_json(self.path).items()
                if isinstance(v, str)}

    def set(self, source: str, mark: datetime) -> None:
        """Move the mark forward only: a slower concurrent run never moves it back."""

        def change(data: dict[str, Any]) -> None:
            old = data.get(source)
            if not isinstance(old, str) or datetime.fromisoformat(old) < mark:
                data[source] = mark.astimezone(UTC).isoformat()

        update_json(self.path, change)


class History:
    """<state_dir>/runs.json: the last run of each source, for `pusher status`."""

    def __init__(self, state_dir: Path):
        self.path = state_dir / "runs.json"

    def record(self, record: RunRecord, ended: datetime, error: str | None = None) -> None:
        entry = {"ended": ended.astimezone(UTC).isoformat(), "status": record.status,
                 "readings": record.readings, "written": record.written,
                 "refused": record.refused, "spooled": record.spooled,
                 "duration": round(record.duration, 3), "windows": record.windows,
                 "error": error or (record.errors[0] if record.errors else None)}

        def change(data: dict[str, Any]) -> None:
            data[record.source] = entry

        update_json(self.path, change)

    def all(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in read_json(self.path).items() if isinstance(v, dict)}
