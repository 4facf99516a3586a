"""Python-callable sources used by the CLI tests (importable via PYTHONPATH=tests/plugins)."""

from pusher import Reading


def counts(window, n=3, measurement="demo"):
    for i in range(n):
        yield Reading(measurement, {"value": i, "ratio": i / 4}, {"item": f"item {i}"})


def with_bad(window):
    yield Reading("mixed", {"ok": 1})
    yield Reading("mixed", {"bad": float("nan")}, {"why": "nan"})
    yield Reading("mixed", {"ok": 2}, {"t": "x"})


def broken(window):
    yield Reading("partial", {"v": 1})
    raise RuntimeError("the upstream API said no")


def workers(window, spider="all"):
    """A python source that says what it writes (for `pusher dashboards render`)."""
    yield Reading("workers", {"active": 1, "idle": 2, "total": 3}, {"spider": spider})


workers.measurements = lambda options: [("workers", ["active", "idle", "total"])]
