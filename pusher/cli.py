"""The `pusher` command: a thin click layer over the library; only here errors become exits."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import wraps
from typing import Any, NoReturn, TypeVar

import click

from pusher import __version__
from pusher.config import Config, find_config_path, load_config, redacted
from pusher.errors import ConfigError, PusherError
from pusher.secrets import RedactingFilter, Redactor

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


@cli.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_sources", is_flag=True, help="Every enabled source.")
@click.option("--dry-run", is_flag=True, help="Print line protocol on stdout; write nothing.")
@click.option("--since", metavar="TIME", help="First window: ISO time or span (7d, 12h).")
@click.option("--until", metavar="TIME", help="End (exclusive), default now.")
@click.pass_obj
@handles_errors
def collect(state: State, names: Sequence[str], all_sources: bool, dry_run: bool,
            since: str | None, until: str | None) -> None:
    """Collect sources for their windows (default: the previous and the current one)."""
    from pusher.jobs import Outputs, run_sources
    from pusher.timespec import parse_moment

    config = state.config()
    if all_sources:
        names = [n for n, s in config.sources.items() if s.enabled]
    if not names:
        fail("name the sources to collect, or use --all "
             f"(configured: {', '.join(config.sources) or 'none'})", EXIT_USAGE)
    now = datetime.now(UTC)
    try:
        start = parse_moment(since, now, config.timezone) if since else None
        end = parse_moment(until, now, config.timezone) if until else None
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    if start and end and start >= end:
        fail("--since must be before --until", EXIT_USAGE)
    outputs = Outputs(config, dry_run, sys.stdout)
    try:
        replay = outputs.flush()
        if replay.written or replay.errors:
            click.echo(f"- spool replayed written={replay.written} refused={replay.refused} "
                       f"left={replay.spooled}", err=True)
        records = run_sources(config, names, outputs, start, end, now)
    finally:
        outputs.close()
    for record in records:
        click.echo(config.redact(record.summary()), err=True)
    sys.exit(EXIT_OK if all(r.ok for r in records) else EXIT_FAILED)


@cli.command()
@click.pass_obj
@handles_errors
def sources(state: State) -> None:
    """List configured sources and the installed source types."""
    from pusher.sources import available_types, describe

    path = find_config_path(state.config_path, os.environ)
    if path.exists() or state.config_path or os.environ.get("PUSHER_CONFIG"):
        config = state.config()
        click.echo(f"Configured sources ({path}):")
        for name, spec in config.sources.items():
            flag = "" if spec.enabled else "  (disabled)"
            schedule = f"  schedule={spec.schedule}" if spec.schedule else ""
            click.echo(f"  {name:<20} type={spec.type:<18} {spec.granularity.value}"
                       f"{schedule}{flag}")
        click.echo("")
    click.echo("Source types:")
    for name, entry in sorted(available_types().items()):
        click.echo(f"  {name:<20} {describe(name)}  [{entry.value}]")


@cli.command("config")
@click.pass_obj
@handles_errors
def show_config(state: State) -> None:
    """Print the effective config (after ${VAR} substitution) with secrets redacted."""
    config = state.config()
    click.echo(f"# {config.path}")
    click.echo(json.dumps(redacted(dict(config.raw), redact=config.redact), indent=2,
                          default=str))


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="pusher")


if __name__ == "__main__":  # pragma: no cover
    main()
