"""The counting invariant: N readings = points in InfluxDB + refused + spooled, exactly.

A source of hostile readings (tags and values the encoder refuses, values a float-typed
InfluxDB refuses) runs through a proxy that answers 500s, resets connections and answers
slowly, and is SIGKILLed at an observed moment (a batch appearing in the spool). Every
reading is identified by its `id` tag and must be in exactly one of three places.
"""

import random
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests
from fault_proxy import RESET, fault_proxy
from ops_helpers import command, environment, pusher, write_config

from pusher.writers.deadletter import DeadLetter
from pusher.writers.spool import Spool

SERIES, HOURS = 30, 6
SINCE = ("--since", "2026-01-01T00:00Z", "--until", f"2026-01-01T{HOURS:02d}:00Z")
ALL = {f"{hour}-{k}" for hour in range(HOURS) for k in range(SERIES)}
LINE_ID = re.compile(r",id=(\d+-\d+)[, ]")
READING_ID = re.compile(r"'id': '(\d+-\d+)'")
SOURCE = f"""
[sources.hostile]
type = "python"
callable = "ops_readers:hostile"
series = {SERIES}
hours = {HOURS}
"""


def faults(rng: random.Random):
    """Per request: a 500, a reset, a slow answer, or the real server's answer."""

    def choose(path: str, body: bytes):
        if not path.startswith("/write"):
            return None
        roll = rng.random()
        if roll < 0.15:
            return (500, {}, b'{"error":"timeout"}')
        if roll < 0.3:
            return (RESET, {})
        if roll < 0.45:
            time.sleep(0.2)  # the server answers, slowly
        return None

    return choose


def in_influx(influxdb1, db: str) -> set[str]:
    rows = influxdb1.select('SELECT "f" FROM "hostile" GROUP BY "id"', db=db)
    return {row["id"] for row in rows} - {"seed"}


def refused(state: Path) -> set[str]:
    ids = set()
    for record in DeadLetter(state / "dead-letter.jsonl").records():
        match = LINE_ID.search(record.get("line", "")) or READING_ID.search(
            record.get("reading", ""))
        assert match, record
        ids.add(match.group(1))
    return ids


def spooled(state: Path) -> set[str]:
    return {match.group(1) for batch in Spool(state / "spool").pending()
            for line in batch.lines if (match := LINE_ID.search(line))}


def kill_at_a_spooled_batch(config: Path, spool: Path, nth: int) -> bool:
    """Run collect; SIGKILL it when the nth batch file is seen in the spool (True if so)."""
    process = subprocess.Popen(command("collect", "hostile", *SINCE, config=config),
                               env=environment(), stderr=subprocess.DEVNULL)
    seen: set[str] = set()
    while process.poll() is None and len(seen) < nth:
        seen.update(p.name for p in spool.glob("*.lp"))
    killed = process.poll() is None
    process.kill()
    process.wait()
    return killed


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_every_reading_is_in_influxdb_refused_or_spooled_exactly_once(
        tmp_path, influxdb1, influx_db, seed):
    rng = random.Random(seed)
    # f is a float in this shard: string and boolean values are refused by InfluxDB itself.
    requests.post(f"{influxdb1.url}/write", params={"db": influx_db, "precision": "s"},
                  data="hostile,id=seed f=0.5 1767225600", timeout=10).raise_for_status()
    state = tmp_path / "state"
    with fault_proxy(influxdb1.url) as proxy:
        proxy.fault_for = faults(rng)
        config = write_config(tmp_path, proxy.url, influx_db, SOURCE,
                              extra="batch_size = 20\nmax_attempts = 1000")
        config.write_text(config.read_text().replace("retries = 0", "retries = 1"))
        assert kill_at_a_spooled_batch(config, state / "spool", rng.randint(1, 6))
        # Whatever was killed: every reading is somewhere, a refused one never in InfluxDB.
        # (A refused line may still wait in its batch: killed between the dead-letter
        # record and the ack, the batch is replayed and the refusal listed once.)
        again = pusher("collect", "hostile", *SINCE, config=config)
        assert "Traceback" not in again.stderr
        landed, dead, waiting = in_influx(influxdb1, influx_db), refused(state), spooled(state)
        assert landed | dead | waiting == ALL
        assert not dead & landed, dead & landed

    # With the faults gone, the spool drains: each reading is in exactly one place.
    config.write_text(config.read_text().replace(proxy.url, influxdb1.url))
    drained = pusher("spool", "flush", config=config)
    assert drained.returncode in (0, 1) and "Traceback" not in drained.stderr
    landed, dead, waiting = in_influx(influxdb1, influx_db), refused(state), spooled(state)
    assert waiting == set()
    assert len(landed) + len(dead) + len(waiting) == len(ALL) == SERIES * HOURS
    assert landed | dead == ALL
    # The refused are exactly the readings that cannot be stored: NaN, inf, a value out of
    # int64, a string or boolean for a float field; a tag ending in a backslash or holding
    # a line break (see ops_readers.hostile).
    assert dead == {i for i in ALL if int(i.split("-")[1]) % 9 in (1, 3, 4, 6, 7)
                    or int(i.split("-")[1]) % 11 in (5, 7)}
