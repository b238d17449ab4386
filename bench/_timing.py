"""Shared benchmark plumbing: repo path, warm-up, interleaved repeats, medians, the RESULT line.

Every bench measures ours and its baseline in the same process, alternating them repeat by repeat
(ours, baseline, ours, baseline, ...) so that slow drift on a shared machine (other jobs starting,
thermal limits) hits both sides alike; the median of the repeats then drops one-off stalls.
Ratios are always "our speed / baseline speed", i.e. baseline time / our time for timings.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def add_repo_to_path() -> None:
    """Make `import trainables`/`import study` work when a bench runs as `python bench/NAME.py`."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


def configure_threads() -> int:
    """torch intra-op threads for the whole bench: BENCH_THREADS, default 1.

    One thread is what a study trial gets by default (resources.cpus_per_trial = 1 ->
    torch.set_num_threads(1)), and it keeps timings stable on a shared 2-core machine, where a
    2-thread OpenMP region stalls whenever another process holds one of the cores. Both sides of
    every comparison run with the same setting.
    """
    import torch

    threads = int(os.environ.get("BENCH_THREADS", "1"))
    torch.set_num_threads(threads)
    return threads


def time_call(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@dataclass
class Timings:
    """Seconds per repeat for both sides of one comparison."""

    ours: list[float]
    baseline: list[float]

    @property
    def ours_median(self) -> float:
        return statistics.median(self.ours)

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline)

    @property
    def speedup(self) -> float:
        """Baseline time / our time: how many times faster ours is."""
        return self.baseline_median / self.ours_median


def compare(ours: Callable[[], object], baseline: Callable[[], object], *, repeats: int = 5,
            warmup: int = 1) -> Timings:
    """Time both callables `repeats` times each, interleaved, after `warmup` untimed calls of each."""
    for _ in range(warmup):
        ours()
        baseline()
    timings = Timings([], [])
    for _ in range(repeats):
        timings.ours.append(time_call(ours))
        timings.baseline.append(time_call(baseline))
    return timings


def repeat(fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1) -> list[float]:
    """Seconds of `repeats` timed calls of fn after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    return [time_call(fn) for _ in range(repeats)]


def fmt(value: float) -> str:
    """Four significant digits: enough for a ratio table, short enough to read."""
    return f"{value:.4g}"


def spread(samples: list[float]) -> str:
    """'min..max' of the repeats, so a reader sees how noisy a median is."""
    return f"{fmt(min(samples))}..{fmt(max(samples))}"


def result(name: str, ours: float, baseline: float, ratio: float) -> None:
    """The one machine-readable line per comparison (BENCHMARKS.md copies these verbatim)."""
    print(f"RESULT {name} ours={fmt(ours)} baseline={fmt(baseline)} ratio={fmt(ratio)}", flush=True)


def report_timings(name: str, timings: Timings, what: str) -> None:
    """A human line (units, repeats, spread) then the RESULT line with seconds and the speed-up."""
    print(f"{name}: seconds per {what}, median of {len(timings.ours)} interleaved repeats "
          f"(ours {spread(timings.ours)}, baseline {spread(timings.baseline)}); "
          f"ratio = baseline seconds / our seconds", flush=True)
    result(name, timings.ours_median, timings.baseline_median, timings.speedup)
