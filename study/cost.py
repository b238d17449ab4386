"""`study plan`'s cost: compute per stage, CPU-hours and GPU-hours, and a wall time on this machine.

Speeds come from this storage root's history where it has one (the GAN cache's loss logs, earlier
studies' results.csv: measured_gan_speed / measured_trial_speed here), else from a few seconds of calibration at the study's shapes
on this machine (study.calibrate). For GPU studies the GPU seconds are measured when this machine has
a GPU, else the CPU figure divided by a stated assumption (calibrate.ASSUMED_GPU_SPEEDUP).

The model of the work, the same whatever the speed's source:
- a GAN key: epochs x n images through one worker's train step (trainables.runners.gan_train counts images that way),
  then its outputs: the pool drawn and scored, the quality gate's two classifiers (outputs_seconds), and
  once per dataset and cache the scoring network (scoring_network_seconds);
- a classifier trial: `epochs` periods (the cap under early stopping), each n x (1 + R) images under
  the `epochs` schedule or n images under `steps` / `early-stop`, plus one forward pass over the
  validation and test sets per period (the trial evaluates both every period).
The wall time lays these out as the driver runs them, with the start-ups (study.wall_time).
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


def measured_fixed_costs(cache_root: str):
    """wall_time.FixedCosts with the Train-run start-up, and the median seconds a key's outputs (pool,
    scores) took, from the cache's meta.json files; (None, None) without history."""
    from study.wall_time import FixedCosts
    from trainables.files.gan_cache import META_FILE, read_meta

    store = Store(cache_root)
    if not store.is_local or not store.exists():
        return None, None
    startups, outputs = [], []
    for path in glob.glob(os.path.join(store.local_path(), "*", META_FILE)):
        try:
            meta = read_meta(cache_root, os.path.basename(os.path.dirname(path)))
        except ValueError:   # a torn meta.json (bad JSON or bytes): its key is retrained, not timed
            continue
        if not isinstance(meta, dict):
            continue
        # A run's start-up shows in its first key (the others start from the one before: ~0 s); a resumed
        # key's start-up also restored a checkpoint.
        first_of_its_run = meta.get("key") == (meta.get("train_run_keys") or [None])[0]
        if meta.get("startup_seconds") is not None and first_of_its_run and not meta.get("resumed_from_epoch"):
            startups.append(float(meta["startup_seconds"]))
        if meta.get("outputs_seconds") is not None and meta.get("status") == "ok":
            outputs.append(float(meta["outputs_seconds"]))
    if not startups or not outputs:
        return None, None
    costs = FixedCosts(train_run_start=statistics.median(startups), contended=False,
                       source=f"start-ups of {len(startups)} Train run(s) and pool/scoring seconds of {len(outputs)} "
                              "GAN(s) in the cache")
    return costs, statistics.median(outputs)


def outputs_seconds(job, n: int, num_classes: int, test_size: int, held_out: int, speeds: dict) -> float:
    """A key's outputs after its training (trainables.gan.pool.key_outputs): its pool drawn, the quality
    gate's two classifiers (GAN-train and the real reference, QUALITY_EPOCHS on gate_budget images,
    evaluated on the validation images every epoch) and the scoring network's features of the pool and
    the test images (at most MAX_SCORED_IMAGES each). `speeds`: images/s of the GAN's train step, the
    gate classifier's and the scoring network's."""
    from trainables.quality.scores import MAX_SCORED_IMAGES, QUALITY_EPOCHS, gate_budget

    pool = job.pool_per_class * num_classes
    budget = gate_budget(n, pool)
    gate = 2 * QUALITY_EPOCHS * (budget + EVAL_COST * held_out) / speeds["gate"]
    scored = min(pool, MAX_SCORED_IMAGES)
    features = EVAL_COST * (2 * scored + min(test_size, MAX_SCORED_IMAGES)) / speeds["scoring"]
    return gate + features + EVAL_COST * pool / speeds["gan"]


def scoring_network_seconds(train_size: int, test_size: int, speed: float) -> float:
    """Training the dataset's scoring network (once per dataset and cache; trainables.quality.scoring)."""
    from trainables.quality.scoring import MAX_TRAIN_IMAGES, SCORING_EPOCHS

    return SCORING_EPOCHS * (min(train_size, MAX_TRAIN_IMAGES) + EVAL_COST * test_size) / speed


def _scoring_cached(spec, cache_root: str) -> bool:
    try:
        from study.real_data import load_real_data
        from trainables.quality.scoring import META_FILE, SCORING_FOLDER, scoring_key

        return Store(cache_root).sub(SCORING_FOLDER, scoring_key(load_real_data(spec)[0])).exists(META_FILE)
    except Exception:   # a dataset not here yet: plan_view lists that as a problem; count the training
        return False


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
    gan_history, gan_keys = measured_gan_speed(cache_root)
    fixed_history, outputs_history = measured_fixed_costs(cache_root)
    trial_history, earlier_trials = measured_trial_speed(storage)
    needs = (to_train and not (gan_history and fixed_history)) or (points and not trial_history)
    measured = calibrate.calibrate(spec, to_train if not (gan_history and fixed_history) else {}, shape,
                                   num_classes) if needs else None
    lines = []
    if measured:
        gans = ", ".join(f"{arch} alpha {alpha:g} {cond}: {speed:.0f} img/s" for (arch, cond, alpha, *_), speed
                         in measured["gan"].items())
        trials = ", ".join(f"{name}: {speed:.0f} img/s" for name, speed in measured["trial"].items())
        lines.append(f"[plan] calibrated here in {measured['seconds']:.1f} s on the {measured['device']} (a few steps at "
                     f"the study's shapes): " + "; ".join(part for part in (gans and f"GAN worker {gans}",
                                                                              trials and f"classifier {trials}") if part))
    test = _test_size(spec) if (points or to_train) else 0
    key_train, key_outputs = {}, {}
    for key, job in to_train.items():
        speed = gan_history or measured["gan"][calibrate.gan_shape(job)]
        key_train[key] = n(job.size) * job.epochs / speed
        key_outputs[key] = outputs_history if outputs_history is not None else outputs_seconds(
            job, n(job.size), num_classes, test, validation, {"gan": speed, **measured["outputs"]})
    scoring = 0.0
    if to_train and outputs_history is None and not _scoring_cached(spec, cache_root):
        scoring = scoring_network_seconds(train_size, test, measured["outputs"]["scoring"])
    gan_seconds, outputs_total = sum(key_train.values()), sum(key_outputs.values()) + scoring
    capped = "early-stop" in as_values(getattr(spec.classifier, "schedule", "epochs"))
    patience = min(as_values(getattr(spec.classifier, "patience", 0) or 0)) if capped else 0
    trial_most, trial_least, trial_train = [], [], 0.0
    for point in points:
        name = point.get("classifier") or as_values(spec.classifier.name)[0]
        speed = trial_history or measured["trial"][name]   # no history: calibrated for every classifier named
        periods, per_period = _periods_images(spec, point, n(point["size"]))
        period_seconds = (per_period + EVAL_COST * (validation + test)) / speed
        trial_most.append(periods * period_seconds)
        trial_train += periods * per_period / speed
        # Early stopping: at least patience + 1 periods (the first is the best, then `patience` without gain).
        trial_least.append(min(periods, patience + 1) * period_seconds if capped else periods * period_seconds)
    trial_seconds, trial_least_seconds = sum(trial_most), sum(trial_least)
    global last_estimate
    last_estimate = {"gan_seconds": gan_seconds, "trial_seconds": trial_seconds, "trial_least_seconds": trial_least_seconds,
                     "trial_train_seconds": trial_train, "calibrated": bool(measured),
                     "trial_speed": (measured or {}).get("trial") or {"*": trial_history},
                     "schedule": as_values(getattr(spec.classifier, "schedule", "epochs"))[0],
                     "calibration_seconds": measured["seconds"] if measured else 0.0}
    source = _speeds_source(bool(to_train), bool(points), gan_history, gan_keys, trial_history, earlier_trials)
    trials = (f"between {duration(trial_least_seconds)} and {duration(trial_seconds)} (early stopping: {patience + 1} "
              f"to {max(as_values(spec.classifier.epochs))} evaluation periods each)" if capped
              else duration(trial_seconds))
    gans = (f"GANs {duration(gan_seconds)} ({len(to_train)} to train, one worker each) and "
            f"{duration(outputs_total)} of pools and quality scores"
            f"{' (with the dataset scoring network)' if scoring else ''}" if to_train else "no GAN to train")
    lines.append(f"[plan] compute: {gans}, classifier trials {trials} ({len(points)} trial(s), training and "
                 f"evaluation); {source}")
    lines += _hours(spec, to_train, gan_seconds + outputs_total, trial_seconds, measured)
    wall = _wall_line(spec, to_train, key_train, key_outputs, scoring, trial_least, trial_most,
                      fixed_history, measured)
    return lines + wall


def _speeds_source(gans: bool, trials: bool, gan_history: float | None, gan_keys: int, trial_history: float | None,
                   earlier_trials: int) -> str:
    """Where each speed comes from: the storage root's history (said with its size) or the calibration."""
    parts = []
    if gans:
        parts.append(f"GAN speed {gan_history:.0f} images/s, the median of {gan_keys} GAN(s) in the cache (measured "
                     "on whichever machine trained them)" if gan_history else "GAN speed calibrated here")
    if trials:
        parts.append(f"trial speed {trial_history:.0f} images/s, the median of {earlier_trials} earlier trial(s) in "
                     "this storage root" if trial_history else "trial speed calibrated here")
    return "; ".join(parts) or "nothing to run"


def _wall_line(spec, to_train: dict, key_train: dict, key_outputs: dict, scoring: float, trial_least: list,
               trial_most: list, fixed_history, measured) -> list[str]:
    """How long `study run` takes here: study.wall_time's layout of the stages (only for a study this
    machine can run: no GPUs asked, or GPUs here)."""
    from study import wall_time
    from study.cluster import fits_in, gans_use_gpu, local_capacity
    from study.stage_gans import pack_runs

    capacity = local_capacity()
    if spec.resources.gpus_per_trial > 0 and not capacity[1]:
        return []
    costs = fixed_history or wall_time.FixedCosts()
    gan_gpus = spec.gan.workers if gans_use_gpu(spec, capacity[1]) else 0    # as the driver's GAN stage asks
    gan_slots = fits_in(capacity, spec.gan.workers, gan_gpus) or 1
    runs = pack_runs(list(to_train.values()), [], gan_slots)
    seconds = [[(key_train[job.key()], key_outputs[job.key()]) for job in run] for run in runs]
    gans = wall_time.gan_stage_seconds(seconds, gan_slots, costs, capacity[0], scoring)
    trial_slots = spec.search.max_concurrent or fits_in(capacity, spec.resources.cpus_per_trial,
                                                         spec.resources.gpus_per_trial) or 1
    least = wall_time.classifier_stage_seconds(trial_least, trial_slots, costs)
    most = wall_time.classifier_stage_seconds(trial_most, trial_slots, costs)
    total = (costs.ray_start + gans + least, costs.ray_start + gans + most)
    last_estimate.update(wall_gans=gans, wall_trials=(least, most), wall=total, ray_start=costs.ray_start)
    gan_stage = (f"GAN stage {duration(gans)} in {len(runs)} Train run(s), {gan_slots} at a time" if runs
                 else "no GAN stage")
    return [f"[plan] wall time here: about {_span(*total)} (Ray start {duration(costs.ray_start)}, {gan_stage}; "
            f"classifier stage {_span(least, most)}, {trial_slots} trial(s) at a time); start-ups: {costs.source}"]


def _span(least: float, most: float) -> str:
    return duration(least) if duration(least) == duration(most) else f"{duration(least)}-{duration(most)}"


def _hours(spec, to_train: dict, gan_seconds: float, trial_seconds: float, measured) -> list[str]:
    gpus = spec.resources.gpus_per_trial
    workers = max((job.workers for job in to_train.values()), default=1)
    cpu_hours = (gan_seconds * max((job.cpus_per_worker for job in to_train.values()), default=1)
                 + trial_seconds * spec.resources.cpus_per_trial) / 3600
    if gpus <= 0:
        return [f"[plan] cost: {cpu_hours:.2f} CPU-hours, 0 GPU-hours"]
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
