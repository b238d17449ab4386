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


def add_device_argument(parser) -> None:
    """`--device cpu|cuda`, default cuda when torch sees a GPU: on a GPU machine every bench measures the
    GPU path unless told otherwise."""
    import torch

    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu",
                        help="where ours and the baseline run (default: cuda when torch sees a GPU, else cpu)")


def checked_device(parser, args):
    """args.device as a torch.device; cuda where torch sees no GPU is a one-line error (exit 2)."""
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no GPU on this machine; allowed: cpu")
    return torch.device(args.device)


def bench_device(description: str, argv: list[str] | None = None):
    """The torch device of a bench whose only option is --device (add_device_argument)."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    add_device_argument(parser)
    return checked_device(parser, parser.parse_args(argv))


def _synchronize() -> None:
    """Wait for queued GPU work, so that a timing covers it (CUDA kernels return before they run)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def time_call(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call (and of the GPU work it queued)."""
    _synchronize()
    started = time.perf_counter()
    fn()
    _synchronize()
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
