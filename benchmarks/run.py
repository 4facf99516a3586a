"""`python -m benchmarks [--quick|--full]`: every figure with its baseline; writes RESULTS.md."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.backfill import backfill_figure, history_server
from benchmarks.dryrun import dry_run_figure
from benchmarks.encode import encode_figure, pipe_figure
from benchmarks.prom import decode_figure, prometheus_figure, span_memory
from benchmarks.push import (
    ROOT,
    compare,
    gzip_variant,
    influxdb1_target,
    influxdb2_target,
    peak_rss,
)
from benchmarks.report import Figure, machine, render_markdown, render_table
from benchmarks.startup import heavy_imports, startup_figure

sys.path.insert(0, str(ROOT / "tests"))
from server_influxdb2 import InfluxDB2  # tests/ is not a package: put on the path above
from servers import InfluxDB1


@dataclass(frozen=True)
class Sizes:
    encode: int
    push: int
    rss_small: int
    rss_large: int
    prometheus: int
    backfill_days: int  # of hourly windows over 50 series, on a real Prometheus
    repeats: int


QUICK = Sizes(encode=100_000, push=100_000, rss_small=10_000, rss_large=100_000,
              prometheus=100_000, backfill_days=7, repeats=1)
FULL = Sizes(encode=1_000_000, push=1_000_000, rss_small=100_000, rss_large=1_000_000,
             prometheus=1_000_000, backfill_days=90, repeats=3)


def encode_figures(sizes: Sizes) -> list[Figure]:
    took = encode_figure(sizes.encode)
    return [Figure(f"encode {sizes.encode:,} readings", "influxdb_client Point", sizes.encode,
                   took["pusher"], took["point"], ">= 5x", 5.0),
            Figure(f"encode {sizes.encode:,} readings", "reference f-string encoder",
                   sizes.encode, took["pusher"], took["reference"], ">= 1.0x", 1.0),
            pipe_figure_row(sizes.encode)]


def pipe_figure_row(count: int) -> Figure:
    """What a python callable in a child process would cost (docs/operations.md)."""
    took = pipe_figure(count)
    return Figure(f"encode {count:,} readings in-process",
                  "pickle + unpickle them in lists of 1,000 (a callable in a child)", count,
                  took["encode"], took["pickle"], "report (the child's extra cost)", None)


def dry_run_figures(sizes: Sizes, workdir: Path) -> list[Figure]:
    figures = []
    for pure in (False, True):
        took = dry_run_figure(sizes.encode, workdir / f"dry-run-{pure}", sizes.repeats, pure)
        loop = "pure-Python point loop" if pure else "compiled point loop"
        figures.append(Figure(
            f"pusher collect --dry-run {sizes.encode:,} readings ({loop}), start-up included",
            "a script printing the reference f-string encoder's lines", sizes.encode,
            took["pusher"], took["reference"], "report" if pure else ">= 1.0x",
            None if pure else 1.0,
            note="same lines" if took["lines_match"] else "LINES DIFFER"))
    return figures


def push_figures(sizes: Sizes, workdir: Path) -> list[Figure]:
    figures = []
    with InfluxDB1(workdir / "influxdb1") as influx, InfluxDB2(workdir / "influxdb2") as v2:
        for target, writer in ((influxdb1_target(influx), "v1"), (influxdb2_target(v2), "v2")):
            result = compare(target, sizes.push, workdir / "runs", sizes.repeats)
            figures.append(Figure(
                f"pusher collect {sizes.push:,} readings, {writer} writer -> {target.name}",
                "2 workers posting pre-encoded 5,000-line batches", sizes.push,
                result["pusher_s"], result["baseline_s"], ">= 0.8x", 0.8,
                note=result["summary"]))
            if writer == "v1":  # what an install without a C compiler gets
                pure = compare(target, sizes.push, workdir / "pure", sizes.repeats,
                               pure_python=True, first_hour=20)
                figures.append(Figure(
                    f"pusher collect {sizes.push:,} readings, {writer} writer, pure-Python "
                    "point loop", "2 workers posting pre-encoded 5,000-line batches",
                    sizes.push, pure["pusher_s"], pure["baseline_s"], "report", None))
            gzipped = gzip_variant(target, sizes.push, workdir / "gzip", sizes.repeats)
            figures.append(Figure(
                f"pusher collect {sizes.push:,} readings, {writer} writer, gzip = true",
                "the same with gzip = false (loopback)", sizes.push, gzipped["gzip_s"],
                gzipped["plain_s"], "report (pays if > 1)", None))
        target = influxdb1_target(influx, "bench_rss")
        small = peak_rss(target, sizes.rss_small, workdir / "rss", hour=100)
        large = peak_rss(target, sizes.rss_large, workdir / "rss", hour=101)
    growth = (large - small) / 1024
    figures.append(Figure(
        f"peak RSS of pusher collect, {sizes.rss_large:,} vs {sizes.rss_small:,} readings",
        f"{sizes.rss_small:,} readings", sizes.rss_large, large / 1024, small / 1024,
        "growth < 20 MB", None, unit="MiB", holds=growth < 20,
        note=f"growth {growth:.1f} MiB"))
    return figures


def prometheus_figures(sizes: Sizes) -> list[Figure]:
    samples = sizes.prometheus
    decoded = decode_figure(samples, max(3, sizes.repeats))
    orjson = (f"orjson.loads {decoded['json_s'] / decoded['orjson_s']:.2f}x json.loads"
              if "orjson_s" in decoded else "orjson not installed")
    took = prometheus_figure(samples, sizes.repeats)
    rate = samples / took["source_s"]
    steps = 11_000 if samples >= 1_000_000 else 1_000  # a whole span in the full run
    memory = span_memory(50, steps)
    body = f"the same {took['body_mb']:.0f} MB body"
    return [Figure(f"decode a {samples:,}-sample query_range answer (msgspec, extra fast)",
                   f"json.loads of {body}", samples, decoded["pusher_s"], decoded["json_s"],
                   "report (chosen by it)", None, note=orjson),
            Figure(f"decode a {samples:,}-sample query_range answer without msgspec",
                   f"json.loads of {body}", samples, decoded["fallback_s"], decoded["json_s"],
                   "report", None),
            Figure(f"prometheus source, {samples:,}-sample query_range to lines",
                   f"json.loads of {body}", samples, took["source_s"], took["json_s"],
                   ">= 0.3 M points/s", None, holds=rate >= 300_000,
                   note=f"{rate / 1e6:.2f} M points/s"),
            Figure(f"peak memory reading {steps:,} windows of 50 series (tracemalloc)",
                   "the answer's body", None, memory["peak_mb"], memory["body_mb"],
                   "report", None, unit="MB",
                   note=f"{memory['bytes_per_sample']:.0f} bytes per sample")]


def backfill_figures(sizes: Sizes, workdir: Path) -> list[Figure]:
    with history_server(workdir / "backfill", sizes.backfill_days) as prepared:
        took = backfill_figure(prepared, sizes.repeats)
    windows, points = took["windows"], took["points"]
    name = (f"prometheus backfill, {sizes.backfill_days} days hourly x 50 series "
            f"({windows:,} windows)")
    built = (f"history built in {prepared.build_s:.0f} s (promtool), compacted in "
             f"{prepared.settle_s:.0f} s")
    raw = "one raw query_range of the span, requests + .json()"
    return [Figure(f"{name}, to lines", f"the same source asked per window "
                   f"({took['per_window_requests']:,} requests), to lines", points,
                   took["batched_s"], took["per_window_s"], "report", None,
                   note=f"{took['batched_requests']} request batched; {built}"),
            Figure(f"{name}, the source's readings", raw, points, took["readings_s"],
                   took["raw_s"], ">= 0.5x (at most 2x the raw query)", 0.5),
            Figure(f"{name}, to lines", raw, points, took["batched_s"], took["raw_s"],
                   "report (encoding: the push path's)", None)]


def startup_figures(workdir: Path, repeats: int) -> list[Figure]:
    # Best of many: each start is ~0.1 s and a start-up time is the noisiest figure here.
    took = startup_figure(workdir / "startup", max(10, 3 * repeats))
    heavy = heavy_imports(workdir / "startup")
    base = took["python -c pass"]
    figures = []
    for name in ("pusher --help", "pusher collect tiny --dry-run"):
        imported = ", ".join(heavy[name]) or "none"
        # A heavy import fails the figure; otherwise the ratio decides.
        figures.append(Figure(name, "python -c pass", None, took[name], base,
                              "< 3x, no heavy import", 3.0, note=f"heavy imports: {imported}",
                              inverse=True, holds=False if heavy[name] else None))
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="Small sizes, a few seconds' work.")
    mode.add_argument("--full", action="store_true", help="1 M readings, 3 repeats (minutes).")
    parser.add_argument("--output", type=Path, default=None,
                        help="Markdown file (default: benchmarks/RESULTS.md for --full, "
                             "none for --quick).")
    args = parser.parse_args(argv)
    sizes = FULL if args.full else QUICK
    output = args.output or (ROOT / "benchmarks" / "RESULTS.md" if args.full else None)
    started = time.perf_counter()
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="pusher-bench-") as tmp:
        workdir = Path(tmp)
        for phase in (lambda: encode_figures(sizes), lambda: dry_run_figures(sizes, workdir),
                      lambda: push_figures(sizes, workdir),
                      lambda: prometheus_figures(sizes),
                      lambda: backfill_figures(sizes, workdir),
                      lambda: startup_figures(workdir, sizes.repeats)):
            new = phase()
            figures += new
            print(render_table(new), flush=True)
    elapsed = time.perf_counter() - started
    mode_name = "full" if args.full else "quick"
    print(f"\n{mode_name} run in {elapsed:.0f}s on {machine()['summary']}")
    if output:
        output.write_text(render_markdown(figures, mode_name, elapsed))
        print(f"wrote {output}")


if __name__ == "__main__":
    main()
