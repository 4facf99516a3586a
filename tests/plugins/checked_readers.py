"""A python-source target with its own option checks (PYTHONPATH=tests/plugins)."""

from pusher import Reading


def limited(window, limit=10, measurement="limited"):
    yield Reading(measurement, {"limit": limit})


def _validate(options):
    if options.get("limit", 10) < 1:
        raise ValueError("limit: must be at least 1")


limited.validate_options = _validate
