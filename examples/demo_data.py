"""Generate the demo's SQLite "website" database: users, events, timings and crawler workers.

    python examples/demo_data.py PATH.sqlite [--days 3] [--seed N] [--now ISO-TIME]

Everything is spread over the last `--days` days up to now, so the demo's windows have
data. The same seed and `--now` give the same database. Times are stored as UTC text
'YYYY-MM-DD HH:MM:SS', the form the `sql` source's :start/:end compare with on SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
STAGES = ("browser", "checks", "thumbs")  # plus "total" and "queue_delay", derived
SPIDERS = ("spider-eu", "spider-us")
SNAPSHOT_EVERY = timedelta(minutes=5)
SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, created_at TEXT NOT NULL,
                    activated_at TEXT);
CREATE TABLE profiles (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE api_keys (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, user_id INTEGER,
                     created_at TEXT NOT NULL);
CREATE TABLE event_timings (id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL,
                            stage TEXT NOT NULL, duration REAL NOT NULL,
                            created_at TEXT NOT NULL);
CREATE TABLE worker_statuses (id INTEGER PRIMARY KEY, spider TEXT NOT NULL,
                              workers TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX events_created_at ON events (created_at);
CREATE INDEX event_timings_created_at ON event_timings (created_at);
CREATE INDEX worker_statuses_created_at ON worker_statuses (created_at);
CREATE INDEX users_created_at ON users (created_at);
"""


class Demo:
    """Accumulates the rows of the demo database, drawn from one seeded random generator."""

    def __init__(self, seed: int, start: datetime, now: datetime):
        self.random = random.Random(seed)
        self.start, self.now = start, now
        self.rows: dict[str, list[tuple[object, ...]]] = {
            name: [] for name in ("users", "profiles", "api_keys", "events", "event_timings",
                                  "worker_statuses")}

    def stamp(self, moment: datetime) -> str:
        return moment.strftime(TIME_FORMAT)

    def busyness(self, moment: datetime) -> float:
        """Daytime traffic is busier than night traffic (0.3 .. 1.0)."""
        return 0.3 + 0.7 * max(0.0, 1 - abs(moment.hour - 14) / 10)

    def hour(self, begin: datetime) -> None:
        """Users, events and timings of the hour starting at `begin` (up to now)."""
        end = min(begin + timedelta(hours=1), self.now)
        span = (end - begin).total_seconds()
        busy = self.busyness(begin)
        for _ in range(self.random.randint(0, round(6 * busy))):
            self.user(begin + timedelta(seconds=self.random.uniform(0, span)))
        for kind, mean in (("login", 30), ("screenshot", 40), ("api_call", 80)):
            for _ in range(self.random.randint(0, round(2 * mean * busy))):
                moment = begin + timedelta(seconds=self.random.uniform(0, span))
                event_id = self.event(kind, moment)
                if kind == "screenshot":
                    self.timings(event_id, moment)

    def user(self, moment: datetime) -> None:
        user_id = len(self.rows["users"]) + 1
        activated = moment + timedelta(minutes=self.random.expovariate(1 / 45))
        active = self.random.random() < 0.6 and activated < self.now
        self.rows["users"].append((user_id, f"user{user_id}@example.com", self.stamp(moment),
                                   self.stamp(activated) if active else None))
        self.rows["profiles"].append((user_id, user_id, self.stamp(moment)))
        if self.random.random() < 0.3:
            key_id = len(self.rows["api_keys"]) + 1
            self.rows["api_keys"].append((key_id, user_id, self.stamp(moment)))
        self.event("signup", moment, user_id)

    def event(self, kind: str, moment: datetime, user_id: int | None = None) -> int:
        event_id = len(self.rows["events"]) + 1
        user = user_id or self.random.randint(1, max(1, len(self.rows["users"])))
        self.rows["events"].append((event_id, kind, user, self.stamp(moment)))
        return event_id

    def timings(self, event_id: int, moment: datetime) -> None:
        durations = {
            "browser": self.random.lognormvariate(2.7, 0.35),  # ~15 s
            "checks": self.random.lognormvariate(-1.3, 0.5),  # ~0.3 s
            "thumbs": self.random.lognormvariate(-0.2, 0.4),  # ~0.8 s
        }
        durations["total"] = sum(durations.values())
        durations["queue_delay"] = self.random.expovariate(1 / 40)
        for stage, seconds in durations.items():
            row_id = len(self.rows["event_timings"]) + 1
            self.rows["event_timings"].append(
                (row_id, event_id, stage, round(seconds, 6), self.stamp(moment)))

    def snapshots(self) -> None:
        """Every spider reports its workers every five minutes; busy workers have a stage."""
        moment = self.start
        while moment < self.now:
            for spider in SPIDERS:
                workers = []
                for number in range(self.random.randint(8, 12)):
                    worker: dict[str, object] = {"id": f"{spider}-{number}"}
                    if self.random.random() < 0.8 * self.busyness(moment):
                        worker["stage"] = self.random.choice(STAGES)
                    workers.append(worker)
                row_id = len(self.rows["worker_statuses"]) + 1
                self.rows["worker_statuses"].append(
                    (row_id, spider, json.dumps(workers), self.stamp(moment)))
            moment += SNAPSHOT_EVERY


def generate(path: Path, days: int = 3, seed: int = 1, now: datetime | None = None
             ) -> dict[str, int]:
    """Write the demo database at `path` (replacing it); return the row count per table."""
    now = now or datetime.now(UTC)
    now = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)
    start = now.replace(minute=0, second=0) - timedelta(days=days)
    demo = Demo(seed, start, now)
    begin = start
    while begin < now:
        demo.hour(begin)
        begin += timedelta(hours=1)
    demo.snapshots()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Built aside and renamed: a reader never sees a half-written database.
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".sqlite")
    os.close(handle)
    try:
        with sqlite3.connect(temporary) as db:
            db.executescript(SCHEMA)
            for table, rows in demo.rows.items():
                if rows:
                    marks = ", ".join("?" * len(rows[0]))
                    db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        db.close()
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return {table: len(rows) for table, rows in demo.rows.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="the SQLite file to (re)create")
    parser.add_argument("--days", type=int, default=3, help="days of history (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--now", type=datetime.fromisoformat,
                        help="end of the data, ISO time (default: now)")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    counts = generate(args.path, args.days, args.seed, args.now)
    print(f"{args.path}: " + ", ".join(f"{n} {table}" for table, n in counts.items()))


if __name__ == "__main__":
    main()
