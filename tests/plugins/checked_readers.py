"""A python-source target with its own option checks (PYTHONPATH=tests/plugins)."""

from pusher import Reading


def limited(window, limit=10, measurement="limited"):
    yield Reading(measurement, {"limit": limit})


def _validate(options):
    if options.get("limit", 10) < 1:
        raise ValueError("limit: must be at least 1")


limited.validate_options = _validate


def file_lines(window, path):
    """Lines of a text file; `path` is relative to the config file, like pusher's own paths."""
    with open(path, encoding="utf-8") as handle:
        yield Reading("file", {"lines": sum(1 for _ in handle)})


def _absolute(options, root):
    return {**options, "path": str(root / options["path"])}


file_lines.resolve_paths = _absolute
