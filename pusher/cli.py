"""The `pusher` command: a thin click layer over the library; only here errors become exits."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from pusher import __version__
from pusher.errors import ConfigError, PusherError
from pusher.secrets import RedactingFilter, Redactor

if TYPE_CHECKING:  # the config module is imported when a command loads one, not for --help
    from pusher.config import Config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("pusher")


class State:
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


def setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * verbose
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("pusher: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(logging.DEBUG, level))


def install_redaction(redact: Redactor) -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter(redact))


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"pusher: error: {message}", err=True)
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
            state = click.get_current_context().find_object(State)
            redact = state._config.redact if state and state._config else Redactor()
            fail(redact(str(exc)), EXIT_FAILED)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_path", metavar="PATH",
              help="Config file (default: $PUSHER_CONFIG, else ./pusher.toml).")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.version_option(__version__, prog_name="pusher")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """Push business and quality-of-service numbers into InfluxDB."""
    setup_logging(verbose)
    ctx.obj = State(config_path, verbose)


def _register_commands() -> None:
    # One module per command family; each imports its heavy dependencies lazily.
    from pusher.commands import basics

    for command in (basics.collect, basics.sources, basics.show_config):
        cli.add_command(command)
    from pusher.commands import deploy

    for command in (deploy.k8s, deploy.health):
        cli.add_command(command)
    from pusher.commands import rollups

    for command in (rollups.setup, rollups.rollups):
        cli.add_command(command)
    from pusher.commands import operations

    for command in (operations.run, operations.backfill, operations.status,
                    operations.validate, operations.spool):
        cli.add_command(command)
    from pusher.commands import dashboards

    cli.add_command(dashboards.dashboards)


_register_commands()


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="pusher")


if __name__ == "__main__":  # pragma: no cover
    main()
