"""Encoding readings to line protocol: pusher's Encoder vs Point and a reference f-string."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from benchmarks.workload import SERIES, START, point_encoder, readings, reference_encode
from pusher.points.lineprotocol import Encoder

# Small chunks, interleaved in turn: a shared machine's load falls on every encoder alike.
CHUNK = 20_000
EncodeFn = Callable[..., str]


def encode_figure(count: int) -> dict[str, float]:
    """Seconds each encoder needs for `count` readings, timed chunk by chunk, interleaved."""
    encoders: dict[str, EncodeFn] = {
        "pusher": Encoder("s").encode,
        "reference": reference_encode,
        "point": point_encoder(),
    }
    totals = dict.fromkeys(encoders, 0.0)
    expected: list[str] = []
    pushed: list[str] = []
    done = 0
    while done < count:
        size = min(CHUNK, count - done)
        # Readings are built outside the timed loops: only encoding is compared.
        chunk = list(readings(size, start=_start_of(done)))
        turn = list(encoders.items())
        shift = (done // CHUNK) % len(turn)
        for name, encode in turn[shift:] + turn[:shift]:
            gc.collect()
            started = time.perf_counter()
            lines = [encode(r, "hourly", 0) for r in chunk]
            totals[name] += time.perf_counter() - started
            if name == "reference":
                expected = lines
            elif name == "pusher":
                pushed = lines
        assert pushed == expected, "pusher and the reference encoder disagree"
        done += size
    return totals


def _start_of(done: int) -> datetime:
    """Where a chunk's times begin, so that chunks continue one another."""
    return START + timedelta(seconds=done // SERIES)


def pipe_figure(count: int, batch: int = 1_000) -> dict[str, float]:
    """Seconds to encode `count` readings, and to pickle and unpickle them in lists of
    `batch`: what running a python callable in a child process would add per reading
    before the pipe itself (docs/operations.md, "Timeouts")."""
    import pickle

    encode = Encoder("s").encode
    totals = {"encode": 0.0, "pickle": 0.0}
    done = 0
    while done < count:
        chunk = list(readings(min(CHUNK, count - done), start=_start_of(done)))
        gc.collect()
        started = time.perf_counter()
        for reading in chunk:
            encode(reading, "hourly", 0)
        totals["encode"] += time.perf_counter() - started
        gc.collect()
        started = time.perf_counter()
        for at in range(0, len(chunk), batch):
            sent = pickle.loads(pickle.dumps(chunk[at:at + batch], pickle.HIGHEST_PROTOCOL))
        totals["pickle"] += time.perf_counter() - started
        assert sent == chunk[-len(sent):], "the readings did not survive pickling"
        done += len(chunk)
    return totals
