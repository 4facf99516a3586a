"""`pusher status`: one line per source, like Airflow's DAG list, from the state directory."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from pusher.config import Config
from pusher.runs.history import History, Watermarks, moment
from pusher.schedules import parse_schedule
from pusher.writers import one_line
from pusher.writers.batches import describe
from pusher.writers.spool import DeadLetter, Spool

COLUMNS = ("SOURCE", "SCHEDULE", "LAST RUN", "STATUS", "POINTS", "NEXT RUN", "LAG", "SPOOL")


def from_state_dir(config: Config) -> tuple[dict[str, dict[str, Any]], dict[str, datetime]]:
    """Last runs and watermarks as the state directory has them, each file read once."""
    return History(config.state_dir).all(), Watermarks(config.state_dir).all()


def status_rows(config: Config, now: datetime, runs: dict[str, dict[str, Any]],
                marks: dict[str, datetime]) -> list[tuple[str, ...]]:
    """The table's rows (strings), in config order."""
    waiting = Spool(config.state_dir / "spool").by_source()
    tz = config.timezone
    rows: list[tuple[str, ...]] = []
    for name, spec in config.sources.items():
        schedule = parse_schedule(spec.schedule, spec.granularity)
        last = runs.get(name, {})
        ended = moment(last.get("ended"))
        status = str(last.get("status", "never run"))
        if not spec.enabled:
            status += " (disabled)"
        mark = marks.get(name)
        rows.append((
            name,
            schedule.text,
            _when(ended, tz) if ended else "-",
            status,
            str(last.get("written", "-")),
            _when(schedule.next_after(now, tz), tz) if spec.enabled else "-",
            human_span((now - mark).total_seconds()) if mark else "-",
            str(waiting.get(name, 0)),
        ))
    return rows


def from_influx(config: Config) -> tuple[dict[str, dict[str, Any]], dict[str, datetime]]:
    """Last runs and watermarks as InfluxDB has them (for runs without a state volume)."""
    from pusher.runs.history_query import RunQuery, epoch_seconds

    query = RunQuery(config.influx)
    runs, marks = {}, {}
    for name, spec in config.sources.items():
        last = query.last_run(name, spec.granularity.value)
        if last is not None:
            runs[name] = last
            if last.get("watermark") not in (None, ""):
                marks[name] = epoch_seconds(last["watermark"], "watermark")
    return runs, marks


def render(rows: list[tuple[str, ...]]) -> str:
    table = [COLUMNS, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip() for row in table)


def footer(config: Config) -> list[str]:
    """The spool and dead-letter totals, then one line per batch InfluxDB keeps failing."""
    spool = Spool(config.state_dir / "spool")
    lines, stuck = 0, []
    for batch in spool.pending():  # one batch in memory at a time
        lines += batch.count
        if batch.attempts:
            stuck.append(f"{describe(batch)}: `pusher spool dead-letter {batch.id}` moves it "
                         "aside")
    refused = sum(1 for _ in DeadLetter(config.state_dir / "dead-letter.jsonl").records())
    return [f"spool: {lines} points waiting ({spool.size_bytes() / 1024:.1f} KiB); "
            f"dead-letter: {refused} refused", *stuck]


def failures(config: Config, runs: dict[str, dict[str, Any]]) -> list[str]:
    """Sources whose last run did not end well, with the first error."""
    return [f"{name}: {one_line(str(run.get('error') or run.get('status')))}"
            for name, run in runs.items()
            if run.get("status") != "done" and name in config.sources]


def human_span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds % 60:02d}s"


def _when(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")
