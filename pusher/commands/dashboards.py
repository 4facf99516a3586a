"""dashboards render: Grafana dashboards and alert rules from pusher/dashboards/ to grafana/."""

from __future__ import annotations

from pathlib import Path

import click

from pusher.cli import EXIT_FAILED, fail


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
def render(out_dir: str, check: bool) -> None:
    """Render the four dashboards and the alert rules (needs no config)."""
    from pusher.dashboards import rendered_files

    try:
        files = rendered_files()
    except ImportError as exc:  # PyYAML: pip install 'pusher[all]'
        fail(f"cannot render the alert rules: {exc}; install pusher[all]", EXIT_FAILED)
    out = Path(out_dir)
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


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
