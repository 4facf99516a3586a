"""Python sources for the operations tests (imported by `pusher` subprocesses via PYTHONPATH)."""

import time
from pathlib import Path

from pusher import Reading, Window


def grid(window: Window, series: int = 5):
    """`series` points per window, one per tag value k; v is the window start."""
    stamp = int(window.start.timestamp())
    for k in range(series):
        yield Reading("grid", {"v": stamp + k}, {"k": f"k{k:04d}"})


def gated(window: Window, gate: str, at: str, series: int = 5):
    """Like grid, but at window start `at` announce itself and wait for a go file."""
    if window.start.isoformat().startswith(at):
        directory = Path(gate)
        (directory / "reached").touch()
        while not (directory / "go").exists():
            time.sleep(0.02)
    yield from grid(window, series)


def held(window: Window, gate: str):
    """In flight until the test says go: announces itself, then waits for a go file."""
    directory = Path(gate)
    (directory / "reached").touch()
    while not (directory / "go").exists():
        time.sleep(0.02)
    yield Reading("held", {"v": 1})


def hang(window: Window):
    """A source that never answers."""
    time.sleep(3600)
    yield Reading("never", {"v": 1})


def slow(window: Window):
    """A source that yields a reading every half second, for at most 100 s: pusher stops it
    between readings at its timeout."""
    for number in range(200):
        yield Reading("slow", {"v": number}, {"n": str(number)})
        time.sleep(0.5)


def failing(window: Window):
    """A source whose upstream is broken."""
    raise RuntimeError("upstream says no")
    yield  # pragma: no cover


def tick(window: Window):
    """One point per window in its own measurement."""
    yield Reading("tick", {"v": 1})


def broken_until(window: Window, fixed: str, at: str, series: int = 2):
    """Like grid, but the window starting `at` fails until the file `fixed` exists."""
    if window.start.isoformat().startswith(at) and not Path(fixed).exists():
        raise RuntimeError("upstream down for this window")
    yield from grid(window, series)


def refusing(window: Window):
    """One good reading and one the encoder refuses (NaN) per window."""
    yield Reading("mixed", {"v": 1.0}, {"kind": "good"})
    yield Reading("mixed", {"v": float("nan")}, {"kind": "nan"})


def clashing(window: Window, series: int = 10):
    """`series` points whose field v is a string, for a database where v is an integer."""
    for k in range(series):
        yield Reading("clash", {"v": f"text {k}"}, {"k": f"k{k:04d}"})


HOSTILE_LABELS = ("plain", "with space", "comma,here", "equals=here", "back\\slash",
                  "trailing\\", 'quote"d', "new\nline", "émoji 🚀", "tab\there", " ")
HOSTILE_VALUES = (1.5, float("nan"), 2.5, "a string", float("inf"), 3.5, True, 2**70, 4.5)


def hostile(window: Window, series: int = 30, hours: int = 6):
    """`series` readings of one field each, tagged `id` = "<hour>-<k>", with hostile tag
    values and field values: some the encoder refuses, some a float-typed InfluxDB refuses."""
    hour = int(window.start.timestamp()) // 3600 % hours
    for k in range(series):
        yield Reading("hostile", {"f": HOSTILE_VALUES[k % len(HOSTILE_VALUES)]},
                      {"id": f"{hour}-{k}", "label": HOSTILE_LABELS[k % len(HOSTILE_LABELS)]})


def conflicting(window: Window):
    """A point InfluxDB refuses: a string `count` where `events` has integers."""
    yield Reading("events", {"count": "many"}, {"kind": "conflict"})


def parts(window: Window, broken: str = ""):
    """Two parts, each its own measurement; the part named `broken` fails."""
    for part in ("alpha", "beta"):
        yield from part_readings(window, part, broken)


def part_readings(window: Window, part: str, broken: str):
    if part == broken:
        raise RuntimeError(f"{part} is broken")
    yield Reading(part, {"v": 1}, {"part": part})


def _parts_probes(options):
    """`pusher validate` tries each part on its own (the probes protocol, docs/plugins.md)."""
    broken = options.get("broken", "")
    return [(f"part {part}", lambda window, part=part: part_readings(window, part, broken))
            for part in ("alpha", "beta")]


parts.probes = _parts_probes


def unstorable(window: Window, count: int = 3):
    """`count` readings per window that cannot be points, for four different reasons."""
    bad = [float("nan"), float("inf"), 2**64, float("-inf")]
    for n in range(count):
        yield Reading("bad", {"v": bad[n % len(bad)]}, {"n": str(n)})


def declared(window: Window, measurement: str = "declared", field: str = "v"):
    """One point per window into the measurement and field its options name, which it also
    declares through `measurements` (checked at start-up like a source type's names)."""
    yield Reading(measurement, {field: 1})


declared.measurements = lambda options: [(options.get("measurement", "declared"),
                                          [options.get("field", "v")])]


def undeclarable(window: Window):
    """A source whose `measurements` needs what only a run has: it raises at start-up."""
    yield Reading("m", {"v": 1})


def _needs_a_connection(options):
    raise RuntimeError("no connection at start-up")


undeclarable.measurements = _needs_a_connection


def misdeclared(window: Window):
    """A source whose `names` declares a position the rule does not know."""
    yield Reading("m", {"v": 1}, {"_time": "x"})


misdeclared.names = lambda options: [("", "tag-key", "_time")]
