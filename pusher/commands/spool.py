"""`pusher spool`: what waits for InfluxDB, what it refused; flush, retry, or move a batch aside."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from pusher.commands import EXIT_FAILED, EXIT_OK, State, handles_errors

if TYPE_CHECKING:
    from pusher.config import Config
    from pusher.writers.spool import DeadLetter, Spool

__all__ = ["spool"]


@click.group("spool", invoke_without_command=True)
@click.pass_context
def spool(ctx: click.Context) -> None:
    """What waits in the spool and what InfluxDB refused; flush, retry or move batches aside."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(spool_show)


def _stores(config: Config) -> tuple[Spool, DeadLetter]:
    from pusher.writers.spool import DeadLetter, Spool

    return (Spool(config.state_dir / "spool", config.spool_max_bytes),
            DeadLetter(config.state_dir / "dead-letter.jsonl"))


@spool.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@handles_errors
def spool_show(state: State, as_json: bool = False) -> None:
    """Points waiting per source, batches InfluxDB keeps failing, refused points and why."""
    from pusher.writers.batches import describe

    config = state.config()
    held, dead_letter = _stores(config)
    waiting: dict[str, int] = {}
    batches, stuck = [], []  # metadata only: a large spool's lines are not kept in memory
    for batch in held.pending():
        waiting[batch.source] = waiting.get(batch.source, 0) + batch.count
        batches.append({"batch": batch.id, "source": batch.source, "points": batch.count,
                        "attempts": batch.attempts, "first_failure": batch.first_failure,
                        "last_answer": batch.last_answer})
        if batch.attempts:
            stuck.append(describe(batch))
    refused = list(dead_letter.records())
    if as_json:
        click.echo(json.dumps({"waiting": waiting, "refused": refused, "batches": batches},
                              indent=1))
        return
    click.echo(f"waiting: {sum(waiting.values())} points")
    for name, count in sorted(waiting.items()):
        click.echo(f"  {name:<20} {count}")
    for line in stuck:
        click.echo(config.redact(f"  {line}"))
    click.echo(f"refused: {len(refused)} (dead-letter {dead_letter.path})")
    for entry in refused[-20:]:
        click.echo(config.redact(f"  {entry.get('time')} {entry.get('source')}: "
                                 f"{entry.get('reason')}"))


@spool.command("flush")
@click.pass_obj
@handles_errors
def spool_flush(state: State) -> None:
    """Send what the spool holds now; exit 1 if some is left."""
    from pusher.runs.collect import Outputs
    from pusher.writers.counts import refusals

    config = state.config()
    outputs = Outputs(config, False, sys.stdout)
    try:
        counts = outputs.flush(wait=True)
    finally:
        outputs.close()
    assert outputs.spool is not None
    left = outputs.spool.count_lines()
    click.echo(config.redact(f"- spool flushed written={counts.written} refused="
                             f"{counts.refused} left={left}{refusals(counts)}"), err=True)
    for line in counts.stuck.values():
        click.echo(config.redact(f"- spool: {line}"), err=True)
    sys.exit(EXIT_OK if not left and not counts.errors else EXIT_FAILED)


@spool.command("retry")
@click.pass_obj
@handles_errors
def spool_retry(state: State) -> None:
    """Put refused lines back into the spool and flush (after fixing their cause)."""
    from pusher.writers.spool import requeue_refused

    config = state.config()
    moved = requeue_refused(*_stores(config))
    click.echo(f"- {moved} refused lines back in the spool", err=True)
    click.get_current_context().invoke(spool_flush)


def _set_aside(state: State, batch_id: str, to_dead_letter: bool) -> None:
    """Take one batch out of the spool (under the flush lock), into the dead-letter file or not."""
    from pusher.writers.deadletter import record

    config = state.config()
    held, dead_letter = _stores(config)
    with held.flushing(wait=True):
        batch = held.find(batch_id)
        if to_dead_letter:
            reason = (f"moved from the spool by an operator after {batch.attempts} failed "
                      f"attempts; last answer: {batch.last_answer or 'none'}")
            # Dead-letter first, then remove: a crash in between repeats a record, loses none.
            dead_letter.add_many([record(batch.source, reason, line=line)
                                  for line in batch.lines])
        held.ack(batch)
    where = f"moved to {dead_letter.path}" if to_dead_letter else "will not reach InfluxDB"
    click.echo(f"- batch {batch.id}: {batch.count} points of {batch.source} {where}",
               err=True)


@spool.command("drop")
@click.argument("batch_id", metavar="BATCH")
@click.pass_obj
@handles_errors
def spool_drop(state: State, batch_id: str) -> None:
    """Delete one spooled batch (its id, or the start of it, as `spool show` lists it)."""
    _set_aside(state, batch_id, to_dead_letter=False)


@spool.command("dead-letter")
@click.argument("batch_id", metavar="BATCH")
@click.pass_obj
@handles_errors
def spool_dead_letter(state: State, batch_id: str) -> None:
    """Move one spooled batch's points to the dead-letter file (`spool retry` brings them back)."""
    _set_aside(state, batch_id, to_dead_letter=True)
