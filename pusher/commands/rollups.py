"""setup and rollups render|backfill|verify: the daily rollups inside InfluxDB."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import click

from pusher.commands import EXIT_FAILED, EXIT_OK, EXIT_USAGE, State, fail, handles_errors


def _span(tz: tzinfo, since: str, until: str | None) -> tuple[datetime, datetime]:
    """--since/--until as aware datetimes; naive times are read in the rollups' timezone."""
    from pusher.runs.timespec import parse_moment

    now = datetime.now(UTC)
    try:
        start = parse_moment(since, now, tz)
        end = parse_moment(until, now, tz) if until else now
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    if start >= end:
        fail("--since must be before --until", EXIT_USAGE)
    return start, end


@click.command()
@click.pass_obj
@handles_errors
def setup(state: State) -> None:
    """Create or update the database/buckets, retentions and rollups (idempotent)."""
    from pusher.rollups import ops

    for line in ops.setup(state.config()):
        click.echo(line)


@click.group()
def rollups() -> None:
    """Daily points computed inside InfluxDB from the hourly ones."""


@rollups.command()
@click.option("--api", type=click.Choice(["v1", "v2", "all"]),
              help="Continuous queries (v1), Flux tasks (v2) or both; default: [influx] api.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write the files into this directory (e.g. influx/) instead of printing.")
@click.pass_obj
@handles_errors
def render(state: State, api: str | None, out: Path | None) -> None:
    """Print (or write) the Flux tasks / continuous queries of [rollups]."""
    from pusher.rollups.render import rendered_files, v1_policies, v2_buckets

    config = state.config()
    api = api or config.influx.api
    file = str(config.path) if config.path else None
    # Check what the chosen API needs first, so the error names the config file.
    if api in ("v1", "all"):
        v1_policies(config.influx, file)
    if api in ("v2", "all"):
        v2_buckets(config.influx, file)
    files = rendered_files(config.influx, config.rollups, None if api == "all" else api)
    for name, text in files.items():
        if out is None:
            click.echo(f"# {name}\n{text}")
            continue
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        click.echo(f"wrote {path}", err=True)


@rollups.command()
@click.option("--since", required=True, metavar="TIME",
              help="First day: ISO date/time or a span back (7d); widened to local midnight.")
@click.option("--until", metavar="TIME", help="End (exclusive), default now.")
@click.pass_obj
@handles_errors
def backfill(state: State, since: str, until: str | None) -> None:
    """Compute the daily points of past days now (after an outage or a config change)."""
    from pusher.rollups import ops

    config = state.config()
    start, end = _span(config.rollups.timezone, since, until)
    for line in ops.backfill(config, start, end):
        click.echo(line)


@rollups.command()
@click.option("--since", required=True, metavar="TIME",
              help="First day: ISO date/time or a span back (7d).")
@click.option("--until", metavar="TIME", help="End (exclusive), default now; today is skipped.")
@click.pass_obj
@handles_errors
def verify(state: State, since: str, until: str | None) -> None:
    """Recompute each complete day from hourly points; exit 1 on a missing or wrong value."""
    from pusher.rollups import ops
    from pusher.rollups.verify import summary

    config = state.config()
    start, end = _span(config.rollups.timezone, since, until)
    report = ops.verify(config, start, end, datetime.now(UTC))
    for line in summary(report):
        click.echo(line)
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)
