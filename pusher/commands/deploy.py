"""k8s render, health: the commands of the deployment paths."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from stat import S_ISREG

import click

from pusher import __version__
from pusher.commands import EXIT_FAILED, EXIT_USAGE, State, fail, handles_errors
from pusher.errors import ConfigError

_SPAN = re.compile(r"^(\d+)\s*(s|m|h)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


def span_seconds(text: str) -> int:
    """90s, 10m, 2h -> seconds."""
    match = _SPAN.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a span: use seconds, minutes or hours (90s, 10m, 2h)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@click.group()
def k8s() -> None:
    """Kubernetes manifests generated from the config."""


@k8s.command("render")
@click.option("--image", default=f"pusher:{__version__}", show_default=True,
              help="Container image built from the Dockerfile.")
@click.option("--namespace", metavar="NS", help="Namespace for every object (default: none).")
@click.option("--out", "out_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Write one file per object and a kustomization.yaml (default: stdout).")
@click.pass_obj
@handles_errors
def render(state: State, image: str, namespace: str | None, out_dir: str | None) -> None:
    """A ConfigMap, a Secret template, a setup Job and one CronJob per enabled source."""
    from pusher.deploy.k8s import Options, to_yaml
    from pusher.deploy.k8s import render as render_manifests

    try:
        import yaml  # noqa: F401  (to_yaml's one dependency, in the `k8s` extra)
    except ImportError:
        fail("pusher k8s render needs PyYAML: pip install 'pusher[k8s]'", EXIT_FAILED)
    from pusher.config import find_config_path

    path = find_config_path(state.config_path, os.environ)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None
    files = render_manifests(text, str(path), Options(image=image, namespace=namespace))
    if out_dir is None:
        click.echo("---\n".join(to_yaml(docs) for docs in files.values()), nl=False)
        return
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # A source removed from the config must lose its CronJob file too.
    for stale in out.glob("cronjob-*.yaml"):
        if stale.name not in files:
            stale.unlink()
    for name, docs in files.items():
        (out / name).write_text(to_yaml(docs), encoding="utf-8")
    click.echo(f"wrote {len(files)} files to {out}", err=True)


@click.command()
@click.option("--max-age", default="10m", show_default=True, metavar="SPAN",
              help="Oldest acceptable heartbeat (90s, 10m, 1h).")
@click.pass_obj
@handles_errors
def health(state: State, max_age: str) -> None:
    """Exit 0 when `pusher run` touched its heartbeat recently (for container healthchecks)."""
    try:
        limit = span_seconds(max_age)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    from pusher.scheduling.scheduler import HEARTBEAT  # touched by `pusher run` on every loop

    beat = state.config().state_dir / HEARTBEAT
    try:
        stat = beat.stat()
    except FileNotFoundError:
        fail(f"no heartbeat at {beat}: is `pusher run` running?", EXIT_FAILED)
    except OSError as exc:
        fail(f"cannot read the heartbeat {beat}: {exc.strerror or exc}", EXIT_FAILED)
    if not S_ISREG(stat.st_mode):
        fail(f"the heartbeat {beat} is not a file (`pusher run` moves it aside)", EXIT_FAILED)
    age = time.time() - stat.st_mtime
    if age > limit:
        fail(f"heartbeat {beat} is {age:.0f}s old (limit {limit:.0f}s): the scheduler "
             "is stuck or stopped", EXIT_FAILED)
    click.echo(f"ok: heartbeat {age:.0f}s old")
