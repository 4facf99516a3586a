"""collect, sources, config: the commands of the push path."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from pusher.commands import EXIT_FAILED, EXIT_OK, EXIT_USAGE, State, fail, handles_errors
from pusher.config.starter import STARTER_TYPES

if TYPE_CHECKING:
    from pusher.writers.counts import SinkCounts


@click.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_sources", is_flag=True, help="Every enabled source.")
@click.option("--dry-run", is_flag=True, help="Print line protocol on stdout; write nothing.")
@click.option("--since", metavar="TIME", help="First window: ISO time or span (7d, 12h).")
@click.option("--until", metavar="TIME", help="End (exclusive), default now.")
@click.option("--catch-up", is_flag=True,
              help="With --since: also the windows missed since the watermark.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Seconds each source may take (default: its own timeout).")
@click.pass_obj
@handles_errors
def collect(state: State, names: Sequence[str], all_sources: bool, dry_run: bool,
            since: str | None, until: str | None, catch_up: bool,
            timeout: float | None) -> None:
    """Collect sources for their windows (default: the previous and the current one)."""
    from pusher.runs.collect import Outputs, run_sources
    from pusher.runs.timespec import parse_moment

    config = state.config()
    if all_sources:
        names = [n for n, s in config.sources.items() if s.enabled]
    if not names and not all_sources:
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
        report_replay(replay)
        records = run_sources(config, names, outputs, start, end, now, catch_up, timeout)
        health = outputs.health
        if health.isolating and health.acked and not health.down:
            # Stuck batches are split once InfluxDB showed it is well: this run's acks.
            replay = outputs.flush()
            report_replay(replay)
    finally:
        outputs.close()
    for record in records:
        click.echo(config.redact(record.summary(dry_run)), err=True)
    # Points still in the spool are not in InfluxDB yet: cron must hear about it.
    clean = all(r.ok for r in records) and not (replay.spooled or replay.errors
                                                 or replay.refused)
    sys.exit(EXIT_OK if clean else EXIT_FAILED)


def report_replay(replay: SinkCounts) -> None:
    """The spool replay's line, and one line per batch that is stuck."""
    from pusher.secrets import redact
    from pusher.writers.counts import refusals

    if replay.written or replay.refused or replay.errors or replay.spooled:
        click.echo(redact(f"- spool replayed written={replay.written} refused="
                          f"{replay.refused} left={replay.spooled}{refusals(replay)}"), err=True)
    for line in replay.stuck.values():
        click.echo(f"- spool: {line}", err=True)


@click.command()
@click.pass_obj
@handles_errors
def sources(state: State) -> None:
    """List configured sources and the installed source types."""
    from pusher.config import find_config_path
    from pusher.errors import ConfigError
    from pusher.sources import available_types, checked_source, describe

    path = find_config_path(state.config_path, os.environ)
    problems = []
    if path.exists() or state.config_path or os.environ.get("PUSHER_CONFIG"):
        config = state.config()
        click.echo(f"Configured sources ({path}):")
        for name, spec in config.sources.items():
            flag = "" if spec.enabled else "  (disabled)"
            schedule = f"  schedule={spec.schedule}" if spec.schedule else ""
            try:  # checked as collect would: a typo shows here, not at the first run
                checked_source(spec, str(config.path))
            except ConfigError as exc:
                problems.append(str(exc))
                flag += f"  (config error: {exc.key}: {exc.problem})"
            click.echo(f"  {name:<20} type={spec.type:<18} {spec.granularity.value}"
                       f"{schedule}{flag}")
        click.echo("")
    click.echo("Source types:")
    for name, entry in sorted(available_types().items()):
        click.echo(f"  {name:<20} {describe(name)}  [{entry.value}]")
    if problems:
        fail(problems[0], EXIT_USAGE)


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of TOML.")
@click.pass_obj
@handles_errors
def show_config(state: State, as_json: bool) -> None:
    """Print the effective config as TOML: defaults filled in, secrets masked."""
    from pusher.commands.config_show import to_json, to_toml

    config = state.config()
    click.echo(to_json(config) if as_json else to_toml(config), nl=as_json)


@click.command()
@click.argument("types", nargs=-1, type=click.Choice(STARTER_TYPES))
@click.option("--influx-url", default="http://127.0.0.1:8086", show_default=True,
              help="Where InfluxDB answers.")
@click.option("--api", type=click.Choice(["v1", "v2"]), default="v2", show_default=True,
              help="InfluxDB 1.x (database) or 2.x (org, bucket, token).")
@click.option("--database", default="pusher", show_default=True,
              help="The database (1.x) or bucket (2.x) points go to.")
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
@click.pass_obj
@handles_errors
def init(state: State, types: Sequence[str], influx_url: str, api: str, database: str,
         force: bool) -> None:
    """Write a commented starter pusher.toml for TYPES (default: python) and the target.

    It goes where --config, $PUSHER_CONFIG or ./pusher.toml say; a python source's module
    (my_metrics.py) is written beside it. Existing files are kept unless --force.
    """
    from pusher.config import find_config_path
    from pusher.config.starter import PYTHON_MODULE, PYTHON_SOURCE, starter_config
    from pusher.points.quoting import v1_name_problem, v2_bucket_problem
    from pusher.values import http_url_problem

    if problem := http_url_problem(influx_url):
        fail(f"--influx-url: {problem}", EXIT_USAGE)
    if problem := (v1_name_problem if api == "v1" else v2_bucket_problem)(database):
        fail(f"--database: {database!r} {problem}", EXIT_USAGE)
    types = types or ("python",)
    path = find_config_path(state.config_path, os.environ)
    files = {path: starter_config(types, influx_url, api, database)}
    if "python" in types:
        files[path.parent / PYTHON_MODULE] = PYTHON_SOURCE
    if not force and (existing := [p for p in files if p.exists()]):
        fail(f"{existing[0]} exists: nothing written (--force overwrites it)", EXIT_USAGE)
    for file, text in files.items():
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text)
        except OSError as exc:
            fail(f"cannot write {file}: {exc.strerror or exc}", EXIT_FAILED)
        click.echo(f"wrote {file}")
    setup = "database" if api == "v1" else "bucket (with INFLUX_ORG and INFLUX_TOKEN set)"
    click.echo(f"next: `pusher setup` creates the {setup}, `pusher validate` checks every "
               "source, `pusher collect --all` collects")
