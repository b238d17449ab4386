"""`study plan`'s cost: compute per stage, CPU-hours and GPU-hours, and a wall time on this machine.

Speeds come from this storage root's history where it has one (the GAN cache's loss logs, earlier
studies' results.csv: measured_gan_speed / measured_trial_speed here), else from a few seconds of calibration at the study's shapes
on this machine (study.calibrate). For GPU studies the GPU seconds are measured when this machine has
a GPU, else the CPU figure divided by a stated assumption (calibrate.ASSUMED_GPU_SPEEDUP).

The model of the work, the same whatever the speed's source:
- a GAN key: epochs x n images through one worker's train step (trainables.runners.gan_train counts images that way);
- a classifier trial: `epochs` periods (the cap under early stopping), each n x (1 + R) images under
  the `epochs` schedule or n images under `steps` / `early-stop`, plus one forward pass over the
  validation and test sets per period (the trial evaluates both every period).
"""

from __future__ import annotations

import glob
import os
import statistics

from study import plan
from study.progress import duration
from study.schema import as_values
from trainables.files.storage import Store

last_estimate: dict = {}   # the figures behind the last lines made (bench/plan_estimate.py reads them)
EVAL_COST = 1 / 3   # a forward pass without gradients costs about a third of a training step per image


def _test_size(spec) -> int:
    try:
        from study.real_data import load_real_data

        return len(load_real_data(spec)[1])
    except Exception:   # a dataset not here yet: plan_view already lists it as a problem
        return 10_000


def _periods_images(spec, point: dict, n: int) -> tuple[int, float]:
    epochs = max(as_values(spec.classifier.epochs))
    schedule = as_values(spec.classifier.schedule)[0] if hasattr(spec.classifier, "schedule") else "epochs"
    per_period = n * (1 + float(point["ratio"])) if schedule == "epochs" else n
    return epochs, per_period


def measured_gan_speed(cache_root: str) -> tuple[float | None, int]:
    """Median images/s of one GAN worker over the cache's loss logs, and how many keys that covers."""
    store = Store(cache_root)
    if not store.is_local or not store.exists():
        return None, 0
    speeds = []
    for path in glob.glob(os.path.join(store.local_path(), "*", "losses.csv")):
        rows = [line.split(",") for line in open(path).read().strip().splitlines()]
        if len(rows) > 1 and "images_per_second" in rows[0]:
            column = rows[0].index("images_per_second")
            speeds.append(statistics.median(float(r[column]) for r in rows[1:]))
    return (statistics.median(speeds), len(speeds)) if speeds else (None, 0)


def measured_trial_speed(storage: str) -> tuple[float | None, int]:
    """Median images/s of classifier trials in earlier studies of this storage root, and their count."""
    import pandas as pd

    if not Store(storage).is_local:
        return None, 0
    speeds = []
    for path in glob.glob(os.path.join(Store(storage).local_path(), "*", "results.csv")):
        frame = pd.read_csv(path)
        if "images_per_second" in frame:
            speeds += pd.to_numeric(frame["images_per_second"], errors="coerce").dropna().tolist()
    return (statistics.median(speeds), len(speeds)) if speeds else (None, 0)


def estimate_lines(spec, storage: str, cache_root: str, jobs: dict, cached: set, points: list, train_size: int,
                   validation: int, shape: tuple, num_classes: int) -> list[str]:
    """The plan's cost lines (calibrating where the storage root has no history)."""
    from study import calibrate

    def n(size) -> int:
        return plan.resolved_size(size, train_size)

    to_train = {key: job for key, job in jobs.items() if key not in cached}
    gan_history, _ = measured_gan_speed(cache_root)
    trial_history, _ = measured_trial_speed(storage)
    needs = (to_train and not gan_history) or (points and not trial_history)
    measured = calibrate.calibrate(spec, to_train if not gan_history else {}, shape, num_classes) if needs else None
    lines = []
    if measured:
        gans = ", ".join(f"{arch} alpha {alpha:g} {cond}: {speed:.0f} img/s" for (arch, cond, alpha, *_), speed
                         in measured["gan"].items())
        trials = ", ".join(f"{name}: {speed:.0f} img/s" for name, speed in measured["trial"].items())
        lines.append(f"[plan] calibrated here in {measured['seconds']:.1f} s on the {measured['device']} (a few steps at "
                     f"the study's shapes): " + "; ".join(part for part in (gans and f"GAN worker {gans}",
                                                                              trials and f"classifier {trials}") if part))
    gan_seconds = 0.0
    for job in to_train.values():
        speed = gan_history or measured["gan"][calibrate.gan_shape(job)]
        gan_seconds += n(job.size) * job.epochs / speed
    capped = "early-stop" in as_values(getattr(spec.classifier, "schedule", "epochs"))
    patience = min(as_values(getattr(spec.classifier, "patience", 0) or 0)) if capped else 0
    trial_seconds = trial_least = trial_train = 0.0
    if points:
        test = _test_size(spec)
        for point in points:
            name = point.get("classifier") or as_values(spec.classifier.name)[0]
            speed = trial_history or (measured["trial"].get(name) if measured else None) or trial_history
            periods, per_period = _periods_images(spec, point, n(point["size"]))
            period_seconds = (per_period + EVAL_COST * (validation + test)) / speed
            trial_seconds += periods * period_seconds
            trial_train += periods * per_period / speed
            # Early stopping: at least patience + 1 periods (the first is the best, then `patience` without gain).
            trial_least += min(periods, patience + 1) * period_seconds if capped else periods * period_seconds
    global last_estimate
    last_estimate = {"gan_seconds": gan_seconds, "trial_seconds": trial_seconds, "trial_least_seconds": trial_least,
                     "trial_train_seconds": trial_train, "calibrated": bool(measured),
                     "trial_speed": (measured or {}).get("trial") or {"*": trial_history},
                     "schedule": as_values(getattr(spec.classifier, "schedule", "epochs"))[0],
                     "calibration_seconds": measured["seconds"] if measured else 0.0}
    source = "calibrated here" if measured else "measured in this storage root"
    trials = (f"between {duration(trial_least)} and {duration(trial_seconds)} (early stopping: {patience + 1} to "
              f"{max(as_values(spec.classifier.epochs))} evaluation periods each)" if capped else duration(trial_seconds))
    lines.append(f"[plan] compute: GANs {duration(gan_seconds)} ({len(to_train)} to train, one worker each), classifier "
                 f"trials {trials} ({len(points)} trial(s), training and evaluation); speeds {source}")
    lines += _hours(spec, to_train, gan_seconds, trial_seconds, measured)
    return lines


def _hours(spec, to_train: dict, gan_seconds: float, trial_seconds: float, measured) -> list[str]:
    gpus = spec.resources.gpus_per_trial
    workers = max((job.workers for job in to_train.values()), default=1)
    cpu_hours = (gan_seconds * max((job.cpus_per_worker for job in to_train.values()), default=1)
                 + trial_seconds * spec.resources.cpus_per_trial) / 3600
    if gpus <= 0:
        cores = os.cpu_count() or 1
        wall = (gan_seconds + trial_seconds * spec.resources.cpus_per_trial) / cores
        return [f"[plan] cost: {cpu_hours:.2f} CPU-hours, 0 GPU-hours; about {duration(wall)} of wall time on this "
                f"machine's {cores} CPU(s) when every CPU is busy"]
    on_gpu = bool(measured and measured["device"] == "cuda")
    factor = 1.0 if on_gpu else calibrate_speedup()
    gpu_hours = (gan_seconds / factor * workers + trial_seconds / factor * gpus) / 3600
    basis = ("measured on this machine's GPU" if on_gpu else
             f"assumed: a GPU runs these models {factor:.0f}x faster than this machine's CPU measured here "
             "(no GPU here to measure)")
    return [f"[plan] cost: {gpu_hours:.2f} GPU-hours ({basis}); "
            f"{cpu_hours / factor:.2f} CPU-hours beside them (the CPUs each GPU trial and worker holds)"]


def calibrate_speedup() -> float:
    from study.calibrate import ASSUMED_GPU_SPEEDUP

    return ASSUMED_GPU_SPEEDUP
