"""The `pusher` command: the click group that assembles pusher/commands/; nothing imports it.

Errors become exit codes only in the command layer (pusher/commands/__init__.py).
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

import click

from pusher import __version__
from pusher.commands import State
from pusher.secrets import RedactingFilter

log = logging.getLogger("pusher")


def setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * verbose
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("pusher: %(levelname)s: %(message)s"))
    handler.addFilter(RedactingFilter())  # the rule install_redaction puts in place
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(logging.DEBUG, level))


class LazyGroup(click.Group):
    """click's documented lazy group: a command's module is imported when it is used.

    `pusher --help` lists each command with the summary given here, so listing them
    imports none (tests/test_cli_lazy.py checks each summary against its command's help).
    """

    def __init__(self, *args: Any, lazy_commands: dict[str, tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands  # name -> ("module:attribute", summary)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy_commands])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = self.lazy_commands[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}:{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, self._summary(ctx, name, limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _summary(self, ctx: click.Context, name: str, limit: int) -> str:
        if name in self.lazy_commands:  # shortened as click shortens a command's own help
            return click.Command(name, help=self.lazy_commands[name][1]).get_short_help_str(limit)
        command = super().get_command(ctx, name)
        return command.get_short_help_str(limit) if command else ""


# One module per command family; a command's module (and what it imports) loads only when
# that command runs. The summary is the first sentence of the command's docstring.
COMMANDS = {
    "backfill": ("pusher.commands.operations:backfill",
                 "Collect the past windows of NAME in chunks; resumable, and safe to re-run."),
    "collect": ("pusher.commands.basics:collect", "Collect sources for their windows "
                "(default: the previous and the current one)."),
    "config": ("pusher.commands.basics:show_config", "Print the effective config as TOML: "
               "defaults filled in, secrets masked."),
    "dashboards": ("pusher.commands.dashboards:dashboards",
                   "Grafana dashboards and alert rules (Flux), built from code."),
    "health": ("pusher.commands.deploy:health", "Exit 0 when `pusher run` touched its "
               "heartbeat recently (for container healthchecks)."),
    "init": ("pusher.commands.basics:init", "Write a commented starter pusher.toml for TYPES "
             "(default: python) and the target."),
    "k8s": ("pusher.commands.deploy:k8s", "Kubernetes manifests generated from the config."),
    "rollups": ("pusher.commands.rollups:rollups",
                "Daily points computed inside InfluxDB from the hourly ones."),
    "run": ("pusher.commands.operations:run",
            "Run every enabled source (or NAMES) on its schedule until SIGTERM/SIGINT."),
    "setup": ("pusher.commands.rollups:setup", "Create or update the database/buckets, "
              "retentions and rollups (idempotent)."),
    "sources": ("pusher.commands.basics:sources",
                "List configured sources and the installed source types."),
    "spool": ("pusher.commands.operations:spool", "What waits in the spool and what "
              "InfluxDB refused; flush, retry or move batches aside."),
    "status": ("pusher.commands.operations:status", "Each source's schedule, last run, "
               "points, next run, lag and spool (from the state dir)."),
    "validate": ("pusher.commands.operations:validate", "Run each query once and check "
                 "InfluxDB: what collect would do; exit 1 on a failure."),
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_path", metavar="PATH",
              help="Config file (default: $PUSHER_CONFIG, else ./pusher.toml).")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.version_option(__version__, prog_name="pusher")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """Push business and quality-of-service numbers into InfluxDB."""
    setup_logging(verbose)
    ctx.obj = State(config_path, verbose)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="pusher")


if __name__ == "__main__":  # pragma: no cover
    main()
