"""The library behind `pusher collect`: config + source names -> run records."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from pusher.config import Config, SourceConfig
from pusher.errors import ConfigError
from pusher.reading import Window, default_windows, windows_between
from pusher.runs.catchup import RunContext, WatermarkLookup, run_source
from pusher.runs.history import History, Watermarks
from pusher.runs.pipeline import RunRecord
from pusher.sources import Source, checked_source
from pusher.writers.counts import ServerHealth, SinkCounts
from pusher.writers.sinks import InfluxSink, Sink, StdoutSink

if TYPE_CHECKING:  # a dry run imports none of the spool, delivery or writer machinery
    from pusher.writers.batches import Deliverer
    from pusher.writers.deadletter import DeadLetter
    from pusher.writers.delivery import RetryPolicy
    from pusher.writers.spool import Spool

log = logging.getLogger(__name__)


def prepare_sources(config: Config, names: Sequence[str]) -> dict[str, Source]:
    """Load and check the named sources before anything runs: config errors come first."""
    file = str(config.path) if config.path else None
    unknown = [n for n in names if n not in config.sources]
    if unknown:
        raise ConfigError(unknown_source(unknown[0], list(config.sources)), file=file,
                          key="sources")
    loaded = {}
    for name in names:
        loaded[name] = checked_source(config.sources[name], file)[0]
    return loaded


def unknown_source(name: str, configured: list[str]) -> str:
    """"no source named 'promethus' (did you mean 'prometheus'?)", or the configured ones."""
    hint = difflib.get_close_matches(name, configured, n=1)
    if hint:
        return f"no source named {name!r} (did you mean {hint[0]!r}?)"
    return f"no source named {name!r} (configured: {', '.join(configured) or 'none'})"


def windows_for(spec: SourceConfig, config: Config, now: datetime,
                since: datetime | None, until: datetime | None) -> list[Window]:
    """The windows of an explicit --since/--until; a missing bound is the default one."""
    tz = config.timezone
    start = since or default_windows(now, spec.granularity, tz)[0].start
    return list(windows_between(start, until or now, spec.granularity, tz))


class Outputs:
    """Spool, dead-letter and delivery for one invocation (or stdout for --dry-run)."""

    def __init__(self, config: Config, dry_run: bool, stdout: TextIO,
                 policy: RetryPolicy | None = None):
        self.config = config
        self.health = ServerHealth()
        self.stdout = stdout if dry_run else None
        # A dry run leaves no trace: refusals are only logged.
        self.dead_letter: DeadLetter | None = None
        self.spool: Spool | None = None
        self.deliverer: Deliverer | None = None
        if not dry_run:
            self._open(config, policy)

    def _open(self, config: Config, policy: RetryPolicy | None) -> None:
        from pusher.writers import make_writer
        from pusher.writers.batches import Deliverer, StuckLimits
        from pusher.writers.delivery import Delivery, RetryPolicy
        from pusher.writers.spool import DeadLetter, Spool

        self.dead_letter = DeadLetter(config.state_dir / "dead-letter.jsonl")
        self.spool = Spool(config.state_dir / "spool", config.spool_max_bytes)
        policy = policy or RetryPolicy(retries=config.influx.retries)
        delivery = Delivery(make_writer(config.influx, config.path), policy)
        limits = StuckLimits(config.influx.max_attempts, config.influx.max_age)
        self.deliverer = Deliverer(self.spool, delivery, self.dead_letter, self.health, limits)

    def sink_for(self, name: str) -> Sink:
        if self.deliverer is None:
            assert self.stdout is not None
            return StdoutSink(self.stdout)
        return InfluxSink(name, self.deliverer, self.config.influx.batch_size)

    def flush(self, wait: bool = False) -> SinkCounts:
        if self.deliverer is None:
            return SinkCounts()
        from pusher.writers.batches import flush_spool

        return flush_spool(self.deliverer, wait=wait)

    def close(self) -> None:
        if self.deliverer is not None:
            self.deliverer.delivery.writer.close()


def run_context(config: Config, outputs: Outputs) -> RunContext:
    """Outputs plus state: a dry run reads watermarks but changes nothing."""
    dry = outputs.stdout is not None
    marks = Watermarks(config.state_dir)
    remote: WatermarkLookup
    if dry:  # a dry run only reads the local watermark: it must not need InfluxDB
        remote = lambda name, _granularity: marks.get(name)  # noqa: E731
    else:  # imported here: it brings requests, which a dry run of a local source never needs
        from pusher.runs.history_query import RunQuery

        remote = RunQuery(config.influx).watermark
    return RunContext(
        config=config, sink_for=outputs.sink_for, dead_letter=outputs.dead_letter,
        watermarks=None if dry else marks, history=None if dry else History(config.state_dir),
        remote_watermark=remote)


def run_sources(config: Config, names: Sequence[str], outputs: Outputs,
                since: datetime | None = None, until: datetime | None = None,
                now: datetime | None = None, catch_up: bool = False,
                timeout: float | None = None) -> list[RunRecord]:
    """Collect each named source (catching up after downtime); one failure stays local.

    Explicit bounds collect just their windows, unless `catch_up` adds the missed ones.
    `timeout`: seconds each source may take (default: its own run timeout).
    """
    sources = prepare_sources(config, names)
    now = now or datetime.now(UTC)
    context = run_context(config, outputs)
    context.timeout = timeout
    records = []
    for name, source in sources.items():
        spec = config.sources[name]
        explicit = since is not None or until is not None
        windows = windows_for(spec, config, now, since, until) if explicit else None
        records.append(run_source(context, spec, source, now, windows, catch_up))
    return records
