"""dashboards render: Grafana dashboards and alert rules from pusher/dashboards/ to grafana/."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pusher.commands import EXIT_FAILED, State, fail, handles_errors

if TYPE_CHECKING:
    from pusher.dashboards.catalog import Catalog


@click.group()
def dashboards() -> None:
    """Grafana dashboards and alert rules (Flux), built from code."""


@dashboards.command("render")
@click.option("--out", "out_dir", default="grafana", show_default=True, metavar="DIR",
              type=click.Path(file_okay=False),
              help="The grafana/ directory: writes DIR/dashboards/*.json and "
                   "DIR/provisioning/alerting/pusher.yaml.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 if a file in DIR differs from the code.")
@click.pass_obj
@handles_errors
def render(state: State, out_dir: str, check: bool) -> None:
    """Render the four dashboards and the alert rules for the config: its buckets, its
    rollups' time zone, the measurements its sources write (without a config: the
    example's)."""
    from pusher.dashboards import render as render_files

    catalog, origin = _catalog(state)
    click.echo(f"dashboards {origin}", err=True)
    try:
        rendered = render_files(catalog)
    except ImportError as exc:  # PyYAML: pip install 'pusher[all]'
        fail(f"cannot render the alert rules: {exc}; install pusher[all]", EXIT_FAILED)
    for note in rendered.left_out:
        click.echo(f"- {note}", err=True)
    files, out = rendered.files, Path(out_dir)
    stale = [name for name, text in files.items() if _read(out / name) != text]
    if check:
        if stale:
            fail(f"out of date in {out}: {', '.join(stale)} "
                 "(run `pusher dashboards render`)", EXIT_FAILED)
        click.echo(f"{len(files)} files in {out} match the code")
        return
    for name in stale:
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[name], encoding="utf-8")
    click.echo(f"wrote {len(stale)} of {len(files)} files to {out} "
               f"({len(files) - len(stale)} unchanged)", err=True)


def _catalog(state: State) -> tuple[Catalog, str]:
    """The config's catalog, or the example's when no config is given and none is here."""
    from pusher.config import DEFAULT_PATH
    from pusher.dashboards.catalog import EXAMPLE_TIMEZONE, Catalog, catalog_of

    if not (state.config_path or os.environ.get("PUSHER_CONFIG") or Path(DEFAULT_PATH).exists()):
        return Catalog(), (f"for the example config (no {DEFAULT_PATH} here): buckets pusher, "
                           f"pusher_daily, days in {EXAMPLE_TIMEZONE}, every panel")
    config = state.config()
    catalog = catalog_of(config)
    return catalog, (f"for {config.path}: buckets {catalog.bucket}, {catalog.daily_bucket}, "
                     f"days in {catalog.timezone}")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
