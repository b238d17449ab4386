"""embedded_ray: the CPU a `study run` costs on its own embedded Ray, with and without Ray's prestarted workers.

Ours: `python -m study.cli run` as users start it (study.cluster.connect_ray passes EMBEDDED_RAY_CONFIG:
no worker processes started ahead of time). Baseline: the same command with ray.init given no
_system_config, i.e. Ray's default, which starts one idle Python worker per CPU for the first driver;
Tune's trial actors carry a runtime_env, so none of them can use those workers.

The study: the quick preset's classifier at R = 0 only (no GAN stage), n = 100, 2 seeds, 2 epochs, one
trial at a time, --no-report: a study whose cost is mostly starting things, as a resumed or a small
study is. Each run is a fresh process tree, followed through /proc (this process is made its
subreaper, so that Ray's daemons and workers stay in it whichever parent they outlive), and counted
with every process's CPU. Repeats alternate ours and baseline; medians. Ratio = baseline / ours, for the CPU
seconds of the whole tree and for wall seconds.

Run: .venv/bin/python bench/embedded_ray.py   (about 2 minutes on 2 cores)
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _timing  # noqa: E402

REPEATS = 3
PR_SET_CHILD_SUBREAPER = 36
TICKS = os.sysconf("SC_CLK_TCK")
STUDY = ["run", "quick", "--set", "sizes=[100]", "--set", "seeds=2", "--set", "mix.ratios=[0]",
         "--set", "classifier.epochs=2", "--set", "search.max_concurrent=1", "--no-report"]
# The baseline: the product's own CLI, with ray.init's _system_config dropped (Ray's defaults).
BASELINE = ("import ray, runpy, sys; init = ray.init\n"
            "ray.init = lambda *a, **k: init(*a, **{**k, '_system_config': None})\n"
            "sys.argv = ['study', *sys.argv[1:]]; runpy.run_module('study.cli', run_name='__main__')")


def _processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds so far) of every live process."""
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[int(name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS)
    return found


def one_run(command: list[str], storage: str) -> tuple[float, float]:
    """(CPU seconds of the whole process tree, wall seconds) of one study in a fresh storage folder. The
    tree is followed by sampling /proc every 50 ms: the study process, its descendants, and what was
    reparented to this process (the subreaper) after their parent ended; each process counts with the
    last CPU seen (what it spends in its last 50 ms is missed, alike on both sides)."""
    env = os.environ | {"STUDY_RAY_DASHBOARD": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    started = time.perf_counter()
    process = subprocess.Popen([*command, *STUDY, "--storage", storage], env=env, cwd=_timing.REPO_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tree, cpu, wall, me = {process.pid}, {}, None, os.getpid()
    while True:
        live = _processes()
        grew = True
        while grew:
            grown = {pid for pid, (parent, _) in live.items() if parent in tree or (parent == me and wall is None)}
            grew = not grown <= tree
            tree |= grown
        for pid in tree & live.keys():
            cpu[pid] = max(cpu.get(pid, 0.0), live[pid][1])
        if wall is None and process.poll() is not None:
            wall = time.perf_counter() - started
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:   # reap what was reparented here
                pass
        if wall is not None and not (tree - {process.pid}) & live.keys():
            break
        if time.perf_counter() - started > 600:
            raise RuntimeError("the study's processes still run after 10 minutes")
        time.sleep(0.05)
    if process.returncode != 0:
        raise RuntimeError(f"the study failed (exit {process.returncode}):\n{process.stderr.read()[-2000:]}")
    return sum(cpu.values()), wall


def main() -> None:
    if ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1) != 0:
        raise SystemExit("error: prctl(PR_SET_CHILD_SUBREAPER) failed: the tree's CPU cannot be counted here")
    ours_cmd = [sys.executable, "-m", "study.cli"]
    baseline_cmd = [sys.executable, "-c", BASELINE]
    samples: dict[str, list[tuple[float, float]]] = {"ours": [], "baseline": []}
    with tempfile.TemporaryDirectory() as folder:
        one_run(ours_cmd, f"{folder}/warmup")   # the dataset cache and the OS's file cache, for both sides
        for i in range(REPEATS):
            samples["ours"].append(one_run(ours_cmd, f"{folder}/ours-{i}"))
            samples["baseline"].append(one_run(baseline_cmd, f"{folder}/baseline-{i}"))
    for side, runs in samples.items():
        print(f"{side:8s} cpu s {[round(c, 2) for c, _ in runs]}  wall s {[round(w, 2) for _, w in runs]}")
    cpu = {side: statistics.median(c for c, _ in runs) for side, runs in samples.items()}
    wall = {side: statistics.median(w for _, w in runs) for side, runs in samples.items()}
    _timing.result("embedded_ray_study_cpu", cpu["ours"], cpu["baseline"], cpu["baseline"] / cpu["ours"])
    _timing.result("embedded_ray_study_wall", wall["ours"], wall["baseline"], wall["baseline"] / wall["ours"])


if __name__ == "__main__":
    main()
