"""Self-monitoring: the pusher_runs point, per-source watermarks and the last run of each source.

The watermark of a source is the end of the last window completely written (every point
acknowledged by InfluxDB). It lives in <state_dir>/watermarks.json and, as the `watermark`
field of every pusher_runs point, in InfluxDB: a run with an empty state directory (a
Kubernetes CronJob without a volume) reads it back from there (pusher/runs/history_query.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pusher.excerpt import excerpt
from pusher.points.pusher_runs import RUN_MEASUREMENT
from pusher.reading import Reading
from pusher.runs.pipeline import RunRecord
from pusher.secrets import redact
from pusher.state import read_json, update_json
from pusher.writers import one_line

log = logging.getLogger(__name__)
# (file, source) pairs already warned about in this process: a command reads a state file
# once per source (status, a collect of many sources), the damage is said once.
_said: set[tuple[Path, str]] = set()


def _warn_once(path: Path, name: str, text: str, *args: object) -> None:
    if (path, name) not in _said:
        _said.add((path, name))
        log.warning(text, path, name, *args)


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
        self.root = state_dir
        self.path = state_dir / "watermarks.json"

    def get(self, source: str) -> datetime | None:
        return self.all().get(source)

    def all(self) -> dict[str, datetime]:
        """Every readable mark; a value that is not a time is said once and left out."""
        marks = {}
        for name, value in read_json(self.path, self.root).items():
            mark = moment(value)
            if mark is None:
                _warn_once(self.path, name, "%s: the watermark of %s is not a time (%.40r): "
                           "ignoring it", value)
            else:
                marks[name] = mark
        return marks

    def set(self, source: str, mark: datetime) -> None:
        """Move the mark forward only: a slower concurrent run never moves it back."""

        def change(data: dict[str, Any]) -> None:
            old = moment(data.get(source))
            if old is None or old < mark:
                data[source] = mark.astimezone(UTC).isoformat()

        update_json(self.path, change, self.root)


class History:
    """<state_dir>/runs.json: the last run of each source, for `pusher status`."""

    def __init__(self, state_dir: Path):
        self.root = state_dir
        self.path = state_dir / "runs.json"

    def record(self, record: RunRecord, ended: datetime, error: str | None = None) -> datetime:
        """Save the run; returns its end, moved past the last run's end if need be.

        The end stamps the run's pusher_runs point: two runs of a source ending in the same
        second must not land on the same series and time, where the later would overwrite
        the earlier. A second apart keeps them apart at every precision.
        """
        entry = {"status": record.status,
                 "readings": record.readings, "written": record.written,
                 "refused": record.refused, "spooled": record.spooled,
                 "duration": round(record.duration, 3), "windows": record.windows,
                 "error": redact(excerpt(one_line(error or (record.errors[0] if record.errors
                                                            else "")))) or None}
        stamp = ended

        def change(data: dict[str, Any]) -> None:
            nonlocal stamp
            last = data.get(record.source)
            before = moment(last.get("ended")) if isinstance(last, dict) else None
            if before is not None and stamp < before + timedelta(seconds=1):
                stamp = before + timedelta(seconds=1)
            data[record.source] = entry | {"ended": stamp.astimezone(UTC).isoformat()}

        update_json(self.path, change, self.root)
        return stamp

    def all(self) -> dict[str, dict[str, Any]]:
        """The last run of each source; an entry without a readable end is left out."""
        runs = {}
        for name, entry in read_json(self.path, self.root).items():
            if isinstance(entry, dict) and moment(entry.get("ended")) is not None:
                runs[name] = entry
            else:
                _warn_once(self.path, name, "%s: the last run of %s is not readable: ignoring it")
        return runs


def moment(value: object) -> datetime | None:
    """An ISO time with its zone, or None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
