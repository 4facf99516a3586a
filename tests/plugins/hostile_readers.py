"""Sources with hostile values, for the tests of issue 11 §6 (PYTHONPATH=tests/plugins)."""

from pusher import Reading


def one_surrogate(window, n=20_000, bad_at=12_345):
    """n readings, one of which holds a lone surrogate (as os.fsdecode makes of bad bytes)."""
    for i in range(n):
        text = "bad \udcff" if i == bad_at else f"ok {i}"
        yield Reading("hostile", {"text": text, "i": i}, {"n": str(i)})


def huge_string(window, megabytes=1):
    yield Reading("hostile", {"blob": "x" * (megabytes * 2**20)}, {"kind": "huge"})
    yield Reading("hostile", {"blob": "small"}, {"kind": "small"})


def raising(window):
    """A source whose error message is long and holds a lone surrogate."""
    yield Reading("hostile", {"ok": 1})
    raise ValueError("cannot read \udcff " + "x" * 100_000)
