"""The CLI's commands, one module per family, registered by name in pusher/cli.py.

This package's face holds what every command shares: the exit codes, the invocation's
State, and `handles_errors`, the one place errors become exits (a ConfigError exits 2 in
one line naming the file and key, any other PusherError exits 1). Nothing here imports
pusher.cli, so the group and its commands do not import each other. The commands may import
every other package of pusher; nothing but pusher/cli.py imports them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from pusher.errors import ConfigError, PusherError
from pusher.secrets import Redactor, install, redact

if TYPE_CHECKING:  # the config module is imported when a command loads one, not for --help
    from pusher.config import Config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])


class State:
    """One invocation's options; the config is loaded when a command first asks for it."""

    def __init__(self, config_path: str | None, verbose: int):
        self.config_path = config_path
        self.verbose = verbose
        self._config: Config | None = None

    def config(self) -> Config:
        if self._config is None:
            from pusher.config import find_config_path, load_config

            self._config = load_config(find_config_path(self.config_path, os.environ))
            install_redaction(self._config.redact)
        return self._config


def install_redaction(redactor: Redactor) -> None:
    """The config's secrets join the rule every log line, message and state file goes through."""
    install(redactor)


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"pusher: error: {redact(message)}", err=True)
    sys.exit(code)


def handles_errors(command: F) -> F:
    """Config errors exit 2 in one line; any other PusherError exits 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            fail(str(exc), EXIT_USAGE)
        except PusherError as exc:
            fail(str(exc), EXIT_FAILED)

    return wrapper  # type: ignore[return-value]
