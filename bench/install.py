"""install: the Makefile's install of the project into a fresh venv, byte-compiled by compileall on every
core vs by pip on one.

Ours: `make install VENV=DIR` (the Makefile itself: a venv, pip upgraded, `pip install --no-compile -c
constraints.txt -e '.[dev]'`, then compileall on every core, the packages' test/ and tests/ folders left
out). Baseline: the same venv and pip upgrade, then the same install with pip compiling as it installs
(its default). Both from the package index or wheel files this machine's pip is configured with, into a
new venv each time (about 6 GB: torch's CUDA build). Checked after each: `import torch, ray.tune,
study.driver` works, and outside test folders the two venvs' lib/ hold the same .pyc files but for a few
that one of the two compilers declines (printed; e.g. a test file of joblib's in an odd encoding).
Repeats alternate ours and the baseline; medians of the wall seconds. Ratio = baseline / ours.

Run: .venv/bin/python bench/install.py [--repeats 1]   (about 3 minutes per repeat on 2 cores; 7 GB free disk)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _timing  # noqa: E402

INSTALL = ["-m", "pip", "install", "--quiet", "-c", "constraints.txt", "-e", ".[dev]"]


def _pyc_files(where: Path) -> set[str]:
    """The .pyc files under the venv's lib/, outside the packages' test folders (ours leaves those out)."""
    files = (str(path.relative_to(where)) for path in (where / "lib").rglob("*.pyc"))
    return {name for name in files if not re.search(r"/tests?/", name)}


def one_install(ours: bool, scratch: Path) -> tuple[float, set[str]]:
    """Wall seconds of one install into a new venv (the venv and pip's upgrade included); its .pyc files."""
    where = scratch / ("ours" if ours else "baseline")
    python = where / "bin" / "python"
    started = time.perf_counter()
    if ours:
        subprocess.run(["make", "-s", "install", f"VENV={where}"], check=True, cwd=_timing.REPO_ROOT)
    else:
        subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
        subprocess.run([str(python), *INSTALL], check=True, cwd=_timing.REPO_ROOT)
    seconds = time.perf_counter() - started
    subprocess.run([str(python), "-c", "import torch, ray.tune, study.driver"], check=True, cwd=scratch)
    files = _pyc_files(where)
    shutil.rmtree(where)
    return seconds, files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    ours, baseline = [], []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_SCRATCH")) as scratch:
        for _ in range(args.repeats):
            seconds, our_files = one_install(True, Path(scratch))
            ours.append(seconds)
            seconds, their_files = one_install(False, Path(scratch))
            baseline.append(seconds)
            differ = sorted(our_files ^ their_files)
            print(f"ours {ours[-1]:.1f} s ({len(our_files)} .pyc files), baseline {baseline[-1]:.1f} s "
                  f"({len(their_files)}); in one only: {differ}", flush=True)
            assert len(differ) <= 5, differ
    _timing.result("install_seconds", statistics.median(ours), statistics.median(baseline),
                   statistics.median(baseline) / statistics.median(ours))


if __name__ == "__main__":
    main()
