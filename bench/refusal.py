"""refusal: how long `study run` takes to refuse a study file whose names the registries do not hold.

Ours: `python -m study.cli run quick --set classifier.name=['vgg']`, as users start it; the study file's
checks read torch-free names (trainables.terms, trainables.data.catalog), so the refusal imports no torch.
Baseline: the same command in a process that imports torch first, as every check against the registries
did before they were torch-free (they imported the GAN and classifier code to read its names).

Each repeat is a fresh process and must exit 2 with the one-line error; repeats alternate ours and the
baseline; medians of the wall seconds. Ratio = baseline / ours.

Run: .venv/bin/python bench/refusal.py   (about 30 s on 2 cores)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _timing  # noqa: E402

BAD = ["run", "quick", "--set", "classifier.name=['vgg']"]
BASELINE = "import torch, runpy, sys; sys.argv = ['study', *sys.argv[1:]]; runpy.run_module('study.cli', run_name='__main__')"


def refuse(prefix: list[str], storage: str) -> None:
    done = subprocess.run([sys.executable, *prefix, *BAD, "--storage", storage], capture_output=True, text=True,
                          cwd=_timing.REPO_ROOT, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "classifier.name" in lines[0], done.stderr


def main() -> None:
    with tempfile.TemporaryDirectory() as storage:
        timings = _timing.compare(lambda: refuse(["-m", "study.cli"], storage), lambda: refuse(["-c", BASELINE], storage),
                                  repeats=7)
    _timing.report_timings("refusal_seconds", timings, "refused `study run`")


if __name__ == "__main__":
    main()
