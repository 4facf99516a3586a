"""The pusher_runs point: pusher's record of each run of a source, one point per run.

Written by the run history (pusher/runs/), read back for watermarks and `pusher status
--from-influx`, and shown by the pipeline-health dashboard (checked against RUN_FIELDS).
"""

from __future__ import annotations

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
