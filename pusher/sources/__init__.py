"""The source registry: every type, ours included, is an entry point in `pusher.sources`.

One module per source type. May import pusher.config, pusher.values, pusher.deadline and
pusher.reading/errors; never pusher.writers (an independence contract) or the runs.

A source is a plain callable: `source(window, **options) -> Iterable[Reading]`, where the
options are the keys of its `[sources.NAME]` table other than the keys every source has
(config.SOURCE_KEYS). It may carry a `validate_options(options)` attribute that raises
ValueError("key: problem") so that a bad config fails at start-up, not mid-run, and a
`check(options) -> str` attribute for `pusher validate`: it reaches the source's system
cheaply (a connection, SELECT 1, a status endpoint), returns a one-line description and
raises on failure; a `measurements(options)` attribute returning the (measurement, field
names or None) pairs it writes, for `pusher dashboards render` (pusher/dashboards/catalog.py);
a `names(options)` attribute yielding the (option key, position, name) of each measurement,
tag or field name its options declare, checked at start-up by the encoder's rule
(pusher/sources/names.py; without it, the `measurements` pairs are checked); and a
`resolve_paths(options, root) -> options` attribute when some of its options are paths
(they are then relative to the config file's folder, `root`).

`pusher validate` runs a source once on a tiny recent window (the last few minutes) and
reports what it would write. A source type may say how, with a `probes(options)` attribute
returning (label, read) pairs: `read(window)` yields what the source would yield for that
window, for one part of it (prometheus and sql: one pair per query, labelled
"queries[N] measurement"; google-analytics: a one-row report). Without it, the whole source
is called once, unlabelled.

A source that can read many windows in one go (prometheus: one range query for a span of
windows) carries a `read_windows(windows, **options)` attribute returning one iterable of
readings per window, in order, that asks nothing until it is iterated (so a failure stays
with the windows it concerns); `window_readings` uses it where present.

A run of a source has a time limit (pusher/deadline.py). A source whose every wait is
bounded by `pusher.deadline.bound()` carries `honours_deadline = True`; any other source
(a python callable, a plugin) is stopped between readings once the run's time is up: a
callable that waits must bound its own waits (by `pusher.deadline.time_left()`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cache, partial
from importlib import import_module
from typing import TYPE_CHECKING, Any, TypeVar

from pusher.deadline import current
from pusher.errors import ConfigError, SourceError
from pusher.reading import Reading, Window
from pusher.sources.names import check_names
from pusher.values import unknown_key

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from pusher.config import SourceConfig

ENTRY_POINT_GROUP = "pusher.sources"
Source = Callable[..., Iterable[Reading]]
T = TypeVar("T")
# pusher's own types, exactly as setup.cfg registers them (a test compares the two). Loading
# one of these skips the scan of every installed package's metadata: importing
# importlib.metadata alone costs about as much as click when a command starts.
OWN_TYPES = {
    "google-analytics": "pusher.sources.google_analytics:google_analytics",
    "prometheus": "pusher.sources.prometheus:prometheus",
    "python": "pusher.sources.python:python_callable",
    "sql": "pusher.sources.sql:sql",
}


@cache
def available_types() -> dict[str, EntryPoint]:
    """Source types by name, from installed packages' entry points (not imported yet)."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_source(type_name: str, *, file: str | None = None, key: str | None = None) -> Source:
    """The callable of a source type; ConfigError when it is unknown or fails to import."""
    if type_name not in OWN_TYPES and type_name not in available_types():
        known = ", ".join(sorted(available_types())) or "none installed"
        raise ConfigError(f"unknown source type {type_name!r} (available: {known})",
                          file=file, key=key)
    try:
        loaded: Source = (_import(OWN_TYPES[type_name]) if type_name in OWN_TYPES
                          else available_types()[type_name].load())
    except Exception as exc:  # a broken plugin must not look like our bug
        raise ConfigError(f"source type {type_name!r} failed to load: {exc}",
                          file=file, key=key) from exc
    return loaded


def _import(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    return getattr(import_module(module), attribute)


def check_options(source: Source, options: Mapping[str, Any], *, file: str | None,
                  key: str) -> None:
    """Fail at start-up on options the callable does not take or lacks, or that it refuses,
    and on names it declares that no reading could carry (pusher/sources/names.py)."""
    found = option_problem(source, options)
    if found is not None:
        raise ConfigError(found[1], file=file, key=f"{key}.{found[0]}")
    validate = getattr(source, "validate_options", None)
    if validate is not None:
        try:
            validate(options)
        except ValueError as exc:
            sub, _, problem = str(exc).partition(": ")
            if not problem:
                sub, problem = "", sub
            raise ConfigError(problem, file=file, key=f"{key}.{sub}" if sub else key) from None
    check_names(source, options, file=file, key=key)


def option_problem(source: Callable[..., Any], options: Mapping[str, Any]
                   ) -> tuple[str, str] | None:
    """(option, problem) for the first option `source(window, **options)` cannot take.

    A callable taking **kwargs accepts any option, except one spelt almost like a key every
    source has (`granularty`, `shedule`): that is a typo, not an option.
    """
    from pusher.config import SOURCE_KEYS

    try:
        parameters = list(inspect.signature(source).parameters.values())[1:]  # 1st: window
    except (TypeError, ValueError):  # no signature to read (a builtin): nothing to check
        return None
    named = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters)
    for option in options:
        if option in named:
            continue
        if not takes_any or _close_to(option, SOURCE_KEYS):
            return option, unknown_key(option, [*SOURCE_KEYS, *named])
    for parameter in parameters:
        if parameter.name in named and parameter.default is parameter.empty \
                and parameter.name not in options:
            return parameter.name, "is required"
    return None


def _close_to(option: str, keys: Sequence[str]) -> bool:
    import difflib  # only for options a **kwargs callable takes: most sources have none

    return bool(difflib.get_close_matches(option, keys, n=1, cutoff=0.8))


def checked_source(spec: SourceConfig, file: str | None) -> tuple[Source, Mapping[str, Any]]:
    """A configured source's callable and the options it is called with, both checked as at
    start-up; ConfigError names the file and the key."""
    source = load_source(spec.type, file=file, key=f"sources.{spec.name}.type")
    options = source_options(source, spec)
    check_options(source, options, file=file, key=f"sources.{spec.name}")
    return source, options


def source_options(source: Source, spec: SourceConfig) -> Mapping[str, Any]:
    """The options a source is called with: relative paths resolved against the config file.

    A source type that takes paths declares `resolve_paths(options, root) -> options`.
    """
    resolve = getattr(source, "resolve_paths", None)
    return spec.options if resolve is None else resolve(dict(spec.options), spec.root)


Probe = tuple[str, Callable[[Window], Iterable[object]]]


def source_probes(source: Callable[..., Iterable[object]], options: Mapping[str, Any]
                  ) -> list[Probe]:
    """What `pusher validate` runs: the type's own `probes(options)`, else the whole source."""
    declared = getattr(source, "probes", None)
    if declared is None:
        return [("", partial(_called_with, source, options))]
    return list(declared(options))


def per_query(source: Callable[..., Iterable[object]], options: Mapping[str, Any],
              key: str = "queries") -> list[Probe]:
    """One probe per table of `options[key]`, labelled "queries[N] measurement": the source
    called with that query alone."""
    return [(f"{key}[{number}] {spec['measurement']}",
             partial(_alone, source, {**options, key: [spec]}, f"{key}[0] {spec['measurement']}: "))
            for number, spec in enumerate(options[key])]


def _alone(source: Callable[..., Iterable[object]], options: Mapping[str, Any], prefix: str,
           window: Window) -> Iterator[object]:
    try:
        yield from source(window, **options)
    except SourceError as exc:  # the source calls its one query queries[0]: the label says
        raise SourceError(str(exc).removeprefix(prefix)) from exc  # which one it is


def _called_with(source: Callable[..., Iterable[object]], options: Mapping[str, Any],
                 window: Window) -> Iterable[object]:
    # As in a run: a callable is stopped between readings once its probe's time is up.
    return _called(source, window, options)


def window_readings(source: Source, windows: Sequence[Window],
                    options: Mapping[str, Any]) -> list[Iterable[Reading]]:
    """Each window's readings, in order; nothing is read until a window's are iterated."""
    read_many = getattr(source, "read_windows", None)
    if read_many is None:
        return [_called(source, window, options) for window in windows]
    try:
        opened = list(read_many(windows, **options))
    except Exception as exc:  # a plugin's failure stays with its windows, like a call's
        return [_raising(exc) for _ in windows]
    if len(opened) != len(windows):
        problem = SourceError(f"read_windows gave {len(opened)} readings for "
                              f"{len(windows)} windows")
        return [_raising(problem) for _ in windows]
    return opened


def _called(source: Callable[..., Iterable[T]], window: Window, options: Mapping[str, Any]
            ) -> Iterator[T]:
    deadline = current()  # read when the window's readings are first asked for
    if deadline.seconds is None or getattr(source, "honours_deadline", False):
        yield from source(window, **options)
        return
    # Between readings is the only place a callable can be stopped in-process.
    clock, ends = deadline.clock, deadline.ends
    for reading in source(window, **options):
        yield reading
        if clock() >= ends:
            raise deadline.error()


def _raising(exc: Exception) -> Iterator[Reading]:
    raise exc
    yield  # a generator: raises when iterated, not when made


def describe(type_name: str) -> str:
    """First line of a source type's docstring, for `pusher sources`."""
    try:
        doc = inspect.getdoc(available_types()[type_name].load()) or ""
    except Exception as exc:
        return f"(failed to load: {exc})"
    return doc.splitlines()[0] if doc else ""


__all__ = ["ENTRY_POINT_GROUP", "Probe", "Reading", "Source", "Window", "available_types",
           "check_options", "checked_source", "describe", "load_source", "option_problem",
           "per_query", "source_options", "source_probes", "window_readings"]
