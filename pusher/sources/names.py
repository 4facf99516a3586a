"""Names a source's config declares (measurements, tag keys and values, field keys), checked
at start-up against the rule the encoder refuses readings by (lineprotocol.name_problem).

A config that names `measurement = "#signups"` or `field = "time"` would otherwise load, and
then every reading of that source would be refused at run time. A source type says which of
its options are names with a `names(options)` attribute yielding (option key, position,
name) triples, the position one of lineprotocol.NAME_POSITIONS: ("queries[0].measurement",
"measurement", "signups"). A type without it is checked through its `measurements(options)`
(the pairs `dashboards render` reads), under the key `declared_by`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pusher.errors import ConfigError
from pusher.points.lineprotocol import name_problem

Declared = tuple[str, str, object]  # (option key, position, name)


def check_names(source: Callable[..., Any], options: Mapping[str, Any], *,
                file: str | None, key: str) -> None:
    """ConfigError naming the file, the option's full key and the encoder's reason, for
    the first declared name the encoder would refuse."""
    try:
        declared = list(declared_names(source, options))
    except Exception as exc:  # a plugin's measurements() failing must not be a traceback
        raise ConfigError(f"cannot list the names it writes: {type(exc).__name__}: {exc}",
                          file=file, key=key) from None
    for sub, position, name in declared:
        if position == "tag value" and name == "":
            continue  # an empty tag value is no tag, as in a reading (Encoder._series_key)
        try:
            problem = name_problem(position, name)
        except ValueError as exc:  # a plugin's names() with a position of its own
            raise ConfigError(f"declares {name!r} at an unknown position: {exc}",
                              file=file, key=key) from None
        if problem is not None:
            raise ConfigError(problem, file=file, key=f"{key}.{sub}" if sub else key)


def declared_names(source: Callable[..., Any], options: Mapping[str, Any],
                   declared_by: str = "") -> Iterator[Declared]:
    """The type's own `names(options)`, else its `measurements(options)` under the key
    `declared_by` ("" is the source's table); nothing when it has neither."""
    names = getattr(source, "names", None)
    if names is not None:
        yield from names(options)
        return
    measurements = getattr(source, "measurements", None)
    for measurement, fields in (measurements(options) if measurements else None) or ():
        yield declared_by, "measurement", measurement
        for field in fields or ():
            yield declared_by, "field key", field


def listed(key: str, position: str, names: object) -> Iterator[Declared]:
    """("key[N]", position, name) for each name of a list option (nothing if not a list)."""
    if isinstance(names, list):
        for number, name in enumerate(names):
            yield f"{key}[{number}]", position, name


def tagged(key: str, tags: object) -> Iterator[Declared]:
    """Each static tag of a `tags = {key = "value"}` table: its key, then its value."""
    if not isinstance(tags, dict):
        return
    for tag, value in tags.items():
        yield f"{key}.{tag}", "tag key", tag
        yield f"{key}.{tag}", "tag value", value
