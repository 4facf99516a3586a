"""The `python` source type: any importable callable that yields readings."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pusher.reading import Reading, Window


def python_callable(window: Window, callable: str, **options: Any) -> Iterable[Reading]:
    """Any Python callable "package.module:function", called as function(window, **options)."""
    return resolve(callable)(window, **options)


def resolve(reference: str) -> Callable[..., Iterable[Reading]]:
    module_name, _, attribute = reference.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{reference} is not callable")
    resolved: Callable[..., Iterable[Reading]] = target
    return resolved


def _validate(options: Mapping[str, Any]) -> None:
    reference = options.get("callable")
    if not isinstance(reference, str) or ":" not in reference:
        raise ValueError('callable: must be "package.module:function"')
    try:
        resolve(reference)
    except (ImportError, AttributeError, TypeError) as exc:
        raise ValueError(f"callable: cannot import {reference}: {exc}") from None


python_callable.validate_options = _validate  # type: ignore[attr-defined]


def _check(options: Mapping[str, Any]) -> str:
    """For `pusher validate`: the callable imports."""
    resolve(options["callable"])
    return f"{options['callable']} imports"


python_callable.check = _check  # type: ignore[attr-defined]


def _measurements(options: Mapping[str, Any]) -> Any:
    """For `dashboards render`: what the callable's own `measurements` attribute says, or
    None when it has none."""
    declare = getattr(resolve(options["callable"]), "measurements", None)
    rest = {k: v for k, v in options.items() if k != "callable"}
    return declare(rest) if declare is not None else None


python_callable.measurements = _measurements  # type: ignore[attr-defined]
