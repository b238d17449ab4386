"""gan_stage_stop: how long Ctrl-C in the GAN stage takes to end a study, with and without the GAN trial's heartbeat.

Ours: `python -m study.cli run` as users start it; the GAN stage's Tune trial (study.stage_gans._gan_trial)
reports a heartbeat while its keys train, so Tune runs the stop between two of them. Baseline: the same
command with that trial replaced by its former body, which reported once, at its end (Tune then waits a
fixed 10 s for the trial's actor before it kills it).

Each run: a fresh storage folder holding the dataset's scoring network (made once by a warm-up run), a
40-epoch GAN (n = 100); at its first checkpoint SIGINT goes to the process group (a terminal's Ctrl-C).
Measured: seconds from the signal to the study's exit (it must exit 130), and the GAN epochs trained
after the signal. Repeats alternate ours and baseline; medians. Ratio = baseline / ours.

Run: .venv/bin/python bench/gan_stage_stop.py   (about 3 minutes on 2 cores)
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _timing  # noqa: E402

REPEATS = 3
STUDY = ["run", "quick", "--set", "sizes=[100]", "--set", "seeds=1", "--set", "mix.ratios=[0, 1]",
         "--set", "gan.checkpoint_every=1", "--set", "classifier.epochs=2"]
# The baseline: the product's CLI with the GAN trial as it was, one report at its end (defined in
# __main__, so Ray ships it to the trial's worker by value).
BASELINE = """
import runpy, sys
import ray.tune
import study.stage_gans

def _gan_trial(config, real_ref=None, cache_root="", use_gpu=False):
    from trainables.gan.job import GanJob
    from trainables.runners.gan_keys import run_gan_jobs

    metas = run_gan_jobs([GanJob(**job) for job in config["jobs"]], cache_root, real_ref, use_gpu=use_gpu)
    ray.tune.report(study.stage_gans.trial_result(metas))

study.stage_gans._gan_trial = _gan_trial
sys.argv = ["study", *sys.argv[1:]]
runpy.run_module("study.cli", run_name="__main__")
"""


def _env() -> dict:
    return os.environ | {"STUDY_RAY_DASHBOARD": "0", "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1",
                         "PYTHONPATH": str(_timing.REPO_ROOT)}


def _checkpoints(storage: str) -> list[int]:
    return sorted(int(path.rsplit("checkpoint_epoch", 1)[1])
                  for path in glob.glob(f"{storage}/gan-cache/*/checkpoint_epoch*"))


def one_stop(command: list[str], storage: str, scoring: str) -> tuple[float, int]:
    """(seconds from Ctrl-C to the study's exit, GAN epochs trained after it) of one run."""
    shutil.copytree(scoring, f"{storage}/gan-cache/scoring")
    err_path = f"{storage}.err"
    with open(f"{storage}.out", "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen([*command, *STUDY, "--set", "gan.epochs=40", "--storage", storage], env=_env(),
                                   cwd=_timing.REPO_ROOT, stdout=out, stderr=err, start_new_session=True)
    try:
        while not _checkpoints(storage):
            if process.poll() is not None:
                raise RuntimeError(f"the study ended before its GAN checkpointed:\n{open(err_path).read()[-2000:]}")
            time.sleep(0.05)
        epoch = _checkpoints(storage)[-1]
        signalled = time.perf_counter()
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(120)
        seconds = time.perf_counter() - signalled
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    if code != 130:
        raise RuntimeError(f"the study exited {code}, not 130:\n{open(err_path).read()[-2000:]}")
    return seconds, _checkpoints(storage)[-1] - epoch


def main() -> None:
    ours = [sys.executable, "-m", "study.cli"]
    baseline = [sys.executable, "-c", BASELINE]
    samples: dict[str, list[tuple[float, int]]] = {"ours": [], "baseline": []}
    with tempfile.TemporaryDirectory() as folder:
        warmup = f"{folder}/warmup"   # trains the dataset's scoring network once, for every run
        subprocess.run([*ours, *STUDY, "--set", "gan.epochs=1", "--storage", warmup, "--no-report"], env=_env(),
                       cwd=_timing.REPO_ROOT, check=True, capture_output=True)
        scoring = f"{warmup}/gan-cache/scoring"
        for i in range(REPEATS):
            samples["ours"].append(one_stop(ours, f"{folder}/ours-{i}", scoring))
            samples["baseline"].append(one_stop(baseline, f"{folder}/baseline-{i}", scoring))
    for side, runs in samples.items():
        print(f"{side:8s} seconds to exit {[round(s, 2) for s, _ in runs]}  epochs after Ctrl-C {[e for _, e in runs]}")
    seconds = {side: statistics.median(s for s, _ in runs) for side, runs in samples.items()}
    _timing.result("gan_stage_ctrl_c_seconds", seconds["ours"], seconds["baseline"],
                   seconds["baseline"] / seconds["ours"])


if __name__ == "__main__":
    main()
