"""The `python` source type: any importable callable that yields readings.

The module is looked up on the Python path, where loading a config file has appended the
config file's folder: `callable = "my_metrics:fn"` finds my_metrics.py next to pusher.toml.
The target is checked at start-up like a source type of its own: its signature and its
`validate_options` against the options, and its `resolve_paths` applied to them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pusher.reading import Reading, Window
from pusher.sources import Probe, option_problem, source_probes
from pusher.sources.names import Declared, declared_names


def python_callable(window: Window, callable: str, **options: Any) -> Iterable[Reading]:
    """Any Python callable "package.module:function", called as function(window, **options)."""
    return resolve(callable)(window, **options)


def resolve(reference: str) -> Callable[..., Iterable[Reading]]:
    """The callable named "module:attribute"; ImportError says where pusher looked."""
    module_name, _, attribute = reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise  # the module was found; something it imports is missing
        from pusher.config.import_path import IMPORT_FOLDERS

        where = " and ".join([*(f"next to the config in {f}" for f in IMPORT_FOLDERS),
                              "on the Python path (PYTHONPATH, installed packages)"])
        raise ModuleNotFoundError(f"no module named {exc.name!r} (looked {where})",
                                  name=exc.name) from None
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{reference} is not callable")
    resolved: Callable[..., Iterable[Reading]] = target
    return resolved


def _target(options: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
    reference = options.get("callable")
    if not isinstance(reference, str) or ":" not in reference:
        raise ValueError('callable: must be "package.module:function"')
    try:
        target = resolve(reference)
    except (ImportError, AttributeError, TypeError) as exc:
        raise ValueError(f"callable: cannot import {reference}: {exc}") from None
    return target, {k: v for k, v in options.items() if k != "callable"}


def _validate(options: Mapping[str, Any]) -> None:
    """The target exists, takes these options, and its own validate_options accepts them."""
    target, rest = _target(options)
    found = option_problem(target, rest)
    if found is not None:
        raise ValueError(f"{found[0]}: {found[1]}")
    validate = getattr(target, "validate_options", None)
    if validate is not None:
        validate(rest)


def _resolve_paths(options: dict[str, Any], root: Path) -> dict[str, Any]:
    """The target's own resolve_paths, when it has one."""
    try:
        target, rest = _target(options)
    except ValueError:
        return options  # reported by _validate
    resolve_paths = getattr(target, "resolve_paths", None)
    if resolve_paths is None:
        return options
    return {"callable": options["callable"], **resolve_paths(rest, root)}


python_callable.validate_options = _validate  # type: ignore[attr-defined]
python_callable.resolve_paths = _resolve_paths  # type: ignore[attr-defined]


def _check(options: Mapping[str, Any]) -> str:
    """For `pusher validate`: the callable imports."""
    resolve(options["callable"])
    return f"{options['callable']} imports"


python_callable.check = _check  # type: ignore[attr-defined]


def _probes(options: Mapping[str, Any]) -> list[Probe]:
    """For `pusher validate`: the callable's own `probes`, else the callable itself."""
    target, rest = _target(options)
    return source_probes(target, rest)


python_callable.probes = _probes  # type: ignore[attr-defined]


def _measurements(options: Mapping[str, Any]) -> Any:
    """For `dashboards render`: what the callable's own `measurements` attribute says, or
    None when it has none."""
    declare = getattr(resolve(options["callable"]), "measurements", None)
    rest = {k: v for k, v in options.items() if k != "callable"}
    return declare(rest) if declare is not None else None


python_callable.measurements = _measurements  # type: ignore[attr-defined]


def _names(options: Mapping[str, Any]) -> Iterator[Declared]:
    """The names the callable declares (its own `names`, else its `measurements`, said
    under `callable`): checked at start-up like a source type's."""
    target, rest = _target(options)
    return declared_names(target, rest, declared_by="callable")


python_callable.names = _names  # type: ignore[attr-defined]
