"""run, backfill, status, validate (spool: commands/spool.py): running pusher for real."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from pusher.commands import EXIT_FAILED, EXIT_OK, EXIT_USAGE, State, fail, handles_errors
from pusher.commands.spool import spool  # noqa: F401 (registered by cli.py from here)

if TYPE_CHECKING:
    from pusher.config import Config


@click.command("run")
@click.argument("names", nargs=-1)
@click.pass_obj
@handles_errors
def run(state: State, names: Sequence[str]) -> None:
    """Run every enabled source (or NAMES) on its schedule until SIGTERM/SIGINT."""
    from pusher.runs.collect import prepare_sources
    from pusher.scheduling.daemon import Daemon

    config = state.config()
    chosen = list(names) or [n for n, s in config.sources.items() if s.enabled]
    prepare_sources(config, chosen)  # a bad source is a config error now, not every hour
    Daemon(config, chosen, state.verbose).serve()
    sys.exit(EXIT_OK)


@click.command()
@click.argument("name")
@click.option("--since", required=True, metavar="TIME", help="First window: ISO time or span.")
@click.option("--until", metavar="TIME", help="End (exclusive), default now.")
@click.option("--chunk", default=24, show_default=True, type=click.IntRange(min=1),
              help="Windows per chunk (the unit of progress and of resuming).")
@click.option("--force", is_flag=True, help="Collect chunks already done again.")
@click.option("--dry-run", is_flag=True, help="Print line protocol on stdout; write nothing.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Seconds each chunk may take (default: the source's timeout).")
@click.pass_obj
@handles_errors
def backfill(state: State, name: str, since: str, until: str | None, chunk: int, force: bool,
             dry_run: bool, timeout: float | None) -> None:
    """Collect the past windows of NAME in chunks; resumable, and safe to re-run."""
    from pusher.runs.backfill import BackfillState
    from pusher.runs.backfill import backfill as run_backfill
    from pusher.runs.collect import Outputs, prepare_sources, run_context
    from pusher.runs.timespec import parse_moment

    config = state.config()
    source = prepare_sources(config, [name])[name]
    now = datetime.now(UTC)
    try:
        start = parse_moment(since, now, config.timezone)
        end = parse_moment(until, now, config.timezone) if until else now
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    if start >= end:
        fail("--since must be before --until", EXIT_USAGE)
    outputs = Outputs(config, dry_run, sys.stdout)
    marker = None if dry_run else BackfillState(config.state_dir, name)
    total = _window_count(config, name, start, end)
    try:
        outputs.flush()
        context = run_context(config, outputs)
        context.timeout = timeout
        with _progress(total, f"backfill {name}") as bar:
            result = run_backfill(context, config.sources[name], source,
                                  start, end, now, chunk, marker, force, bar.update)
    finally:
        outputs.close()
    record = result.record
    click.echo(config.redact(record.summary(dry_run)) + f" chunks={result.chunks} "
               f"skipped={result.skipped} (already done)", err=True)
    for key in result.failed:
        click.echo(f"- chunk {key} not complete: re-run to retry it", err=True)
    sys.exit(EXIT_OK if record.ok and not result.failed else EXIT_FAILED)


def _window_count(config: Config, name: str, start: datetime, end: datetime) -> int:
    from pusher.reading import windows_between

    spec = config.sources[name]
    return sum(1 for w in windows_between(start, end, spec.granularity, config.timezone)
               if w.end <= end)


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _progress(total: int, label: str) -> Any:
    # Only a person watching a terminal wants a bar; logs and pipes get the summary line.
    if not sys.stderr.isatty():
        return _NoBar()
    return click.progressbar(length=total, label=label, file=sys.stderr,
                             show_eta=True, show_pos=True)


@click.command()
@click.option("--from-influx", is_flag=True,
              help="Last runs and lags from pusher_runs in InfluxDB, not the state dir.")
@click.pass_obj
@handles_errors
def status(state: State, from_influx: bool) -> None:
    """Each source's schedule, last run, points, next run, lag and spool (from the state dir)."""
    from pusher.runs.status import failures, footer, from_state_dir, render, status_rows
    from pusher.runs.status import from_influx as read_influx

    config = state.config()
    # Read once for the table and the failures: a damaged entry is said once.
    runs, marks = read_influx(config) if from_influx else from_state_dir(config)
    click.echo(render(status_rows(config, datetime.now(UTC), runs, marks)))
    for line in footer(config):
        click.echo(config.redact(line))
    for failure in failures(config, runs):
        click.echo(config.redact(f"last failure of {failure}"))
    click.echo(f"times in {config.timezone.key} ([pusher] timezone)")


@click.command()
@click.pass_obj
@handles_errors
def validate(state: State) -> None:
    """Run each query once and check InfluxDB: what collect would do; exit 1 on a failure.

    Each query reads the last 5 minutes; one line per check: ok with the rows and the
    measurement, fields and tags it would write, or FAIL with the reason. Exit 2 for a
    config problem. Nothing is written.
    """
    from pusher.checks.validate import validate as run_checks

    config = state.config()
    checks = []
    for check in run_checks(config):
        checks.append(check)
        click.echo(config.redact(check.line()))
    if any(c.config_problem for c in checks):
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_OK if all(c.ok for c in checks) else EXIT_FAILED)
