"""Figures, the printed table and benchmarks/RESULTS.md."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass


@dataclass
class Figure:
    """One measurement of pusher next to its baseline from the same run."""

    name: str
    baseline_name: str
    count: int | None  # points handled, for a rate; None for start-up times
    value: float  # pusher's seconds (or MiB)
    baseline: float
    target: str
    limit: float | None  # the target as a minimum of `ratio`, when it is one
    unit: str = "s"
    holds: bool | None = None  # set when the target is not a ratio
    note: str = ""
    inverse: bool = False  # start-up: ratio is pusher / baseline and `limit` a maximum

    @property
    def ratio(self) -> float:
        """Baseline over pusher: above 1 pusher is faster (smaller) than the baseline."""
        if self.inverse:
            return self.value / self.baseline
        return self.baseline / self.value if self.value else float("inf")

    @property
    def verdict(self) -> str:
        holds = self.holds
        if holds is None and self.limit is not None:
            holds = self.ratio <= self.limit if self.inverse else self.ratio >= self.limit
        return {True: "yes", False: "NO", None: "-"}[holds]


def _amount(value: float, unit: str, count: int | None) -> str:
    if unit != "s":
        return f"{value:.1f} {unit}"
    rate = f" ({count / value / 1e6:.3f} M/s)" if count else ""
    return f"{value:.3f} s{rate}"


def rows(figures: list[Figure]) -> list[list[str]]:
    header = ["figure", "baseline", "pusher", "baseline result", "ratio", "target", "holds",
              "note"]
    return [header] + [[f.name, f.baseline_name, _amount(f.value, f.unit, f.count),
                        _amount(f.baseline, f.unit, f.count), f"{f.ratio:.2f}x", f.target,
                        f.verdict, f.note] for f in figures]


def render_table(figures: list[Figure]) -> str:
    table = rows(figures)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in table]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def machine() -> dict[str, str]:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            model = next(line.split(":", 1)[1].strip() for line in info
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    facts = {"CPUs (nproc)": str(os.cpu_count()), "CPU model": model,
             "Python": platform.python_version(), "system": platform.platform(),
             "load average at the end": load}
    facts["summary"] = f"{facts['CPUs (nproc)']} x {model}, Python {facts['Python']}"
    return facts


def render_markdown(figures: list[Figure], mode: str, elapsed: float) -> str:
    table = rows(figures)
    lines = ["# Benchmark results", "",
             f"Written by `python -m benchmarks --{mode}` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} in {elapsed:.0f} s. "
             "Ratio = baseline time / pusher time, both measured in this same run (above 1: "
             "pusher is faster), except for start-up: pusher time / `python -c pass`. "
             "Absolute times are for information only. See "
             "docs/performance.md for what each figure measures and what the profiles showed.",
             "", "## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in machine().items() if key != "summary"]
    lines += ["", "## Figures", "", "| " + " | ".join(table[0]) + " |",
              "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in table[1:]]
    return "\n".join(lines) + "\n"
