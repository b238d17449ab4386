"""`study plan`: what a study will run and cost, and every check `study run` makes, without running it.

Prints the GAN keys (which ones the cache already holds), the trials, the resources each asks for,
and an estimate of the time from throughput measured on this storage root (the GAN cache's loss logs
and earlier studies' results.csv), saying where the figures come from or that there are none. Then
the pre-flight checks, all of them, so one run of `study plan` lists every problem at once; the
command exits 2 when there is any. Nothing is written and Ray is not started.
"""

from __future__ import annotations

import os

from study import plan
from study.checks import SpecError
from study.cost import estimate_lines, measured_gan_speed, measured_trial_speed
from study.folder import StudyError
from study.locations import absolute, check_cache, default_cache
from study.preflight import checks_before_ray
from study.progress import duration
from study.schema import Spec, as_values
from study.spec import validation_rule
from trainables.files.storage import StorageError

GAN_ROWS_SHOWN = 20


def _known_train_size(spec: Spec) -> tuple[int, int, tuple[int, int, int], str | None]:
    """(train size after the validation split, validation size, image shape, problem) without Ray: the
    loaded data when it is there, else the registry's known sizes (a missing download is a problem)."""
    from study.preflight import check_loaded_data
    from study.real_data import load_real_data
    from trainables.data.catalog import dataset_info
    from trainables.data.errors import DataError
    from trainables.data.headers import DecodeOptions

    try:
        train, test, validation, _ = load_real_data(spec)
    except DataError as err:
        info = dataset_info(spec.dataset, DecodeOptions.of(spec))
        total = info.max_train_size or 0
        validation = validation_rule(spec).held_out(total) if total else 0
        return total - validation, validation, tuple(info.shape), f"dataset: {err}"
    try:
        check_loaded_data(spec, train.labels.bincount(minlength=train.num_classes).tolist(), len(test))
    except SpecError as err:
        return len(train), len(validation), tuple(train.shape), str(err)
    return len(train), len(validation), tuple(train.shape), None


def describe(spec: Spec, storage: str, gan_cache: str | None = None) -> tuple[list[str], list[str]]:
    """(the plan's lines, the problems the checks found)."""
    from trainables.data.catalog import dataset_info
    from trainables.data.headers import DecodeOptions
    from trainables.files.gan_cache import is_complete

    problems: list[str] = []
    train_size, validation, shape, problem = _known_train_size(spec)
    if problem:
        problems.append(problem)
    info = dataset_info(spec.dataset, DecodeOptions.of(spec))
    cache_root = absolute(gan_cache) if gan_cache else default_cache(storage)
    try:
        check_cache(cache_root)
        cache_problem = None
    except StorageError as err:
        cache_problem = str(err)
        problems.append(cache_problem)
    jobs = plan.gan_jobs(spec, train_size, info.num_classes, validation) if train_size else {}
    points = plan.planned_trials(spec)
    cached = set() if cache_problem else {key for key in jobs if is_complete(cache_root, key)}

    rule = validation_rule(spec)
    held = (f"no hold-out: validation is {rule.describe()}" if rule.per_subset
            else f"after {validation} held out for validation")
    lines = [f"[plan] {spec.name}: dataset {spec.dataset} ({train_size} training images {held}, shape {shape}), "
             f"{len(jobs)} GAN key(s) ({len(cached)} already in {cache_root}), {len(points)} classifier trial(s) ({spec.search.mode})"]
    gpu = "1 GPU" if spec.resources.gpus_per_trial > 0 else "no GPU (unless the cluster has GPUs)"
    lines.append(f"[plan] each GAN: a Ray Train TorchTrainer of {spec.gan.workers} worker(s), each 1 CPU and {gpu}; "
                 f"each trial: {spec.resources.cpus_per_trial:g} CPU and {spec.resources.gpus_per_trial:g} GPU")
    lines.append(_units_line(spec))
    lines += _gan_table(jobs, cached)
    if cache_problem:   # no history to read and no cache to calibrate beside: what the storage root tells
        lines += _estimate(spec, storage, cache_root, jobs, cached, points, train_size)
    else:               # compute, CPU-hours, GPU-hours, wall time; calibrated at the study's shapes without history
        lines += estimate_lines(spec, storage, cache_root, jobs, cached, points, train_size, validation, shape,
                                info.num_classes)
    for check in checks_before_ray(spec, jobs, shape, info.num_classes, joined=bool(os.environ.get("RAY_ADDRESS"))):
        try:
            check()
        except (SpecError, StudyError, ValueError) as err:
            problems.append(str(err))
    return lines, problems


MIN_UNITS = 3   # fewer independent units support a statement about the GAN(s) trained, not a general one


def _units_line(spec: Spec) -> str:
    """What the study repeats independently (a real subset and its GAN) and what only inside a unit."""
    seeds = plan.seeds(spec)
    if spec.search.mode == "optuna":
        return (f"[plan] replication: every Optuna trial uses seed {seeds.start}; test the best configuration "
                "against R = 0 over fresh seeds with `study confirm DIR` afterwards")
    units = plan.gans_per_size(spec) or spec.seeds
    text = (f"[plan] replication: seeds {seeds.start}-{seeds.stop - 1}: {units} independent unit(s) per size (a real "
            f"subset and its GAN), each with {spec.seeds // units} classifier repeat(s)")
    if units < MIN_UNITS:
        text += f"; fewer than {MIN_UNITS} units: the answer holds for the GAN(s) trained, not in general"
    return text


def _gan_table(jobs: dict, cached: set) -> list[str]:
    if not jobs:
        return ["[plan] no GAN: every trial trains on real images only"]
    import pandas as pd

    rows = [{"key": key, "arch": job.arch, "alpha": job.alpha, "n": job.size, "seed": job.seed, "epochs": job.epochs,
             "conditioning": job.conditioning, "recipe": job.recipe, "pool/class": job.pool_per_class,
             "cached": "yes" if key in cached else "no"} for key, job in jobs.items()]
    table = pd.DataFrame(rows).to_string(index=False).splitlines()
    more = len(rows) - GAN_ROWS_SHOWN
    return ["[plan] GAN keys:", *[f"  {line}" for line in table[:GAN_ROWS_SHOWN + 1]],
            *([f"  ... and {more} more"] if more > 0 else [])]


def _estimate(spec: Spec, storage: str, cache_root: str, jobs: dict, cached: set, points: list,
              train_size: int) -> list[str]:
    """Compute estimates from throughput measured on this storage root (no guess where none exists): the
    plan of a study whose GAN cache has a problem, where study.cost's estimate cannot run."""
    lines = []

    def n(size) -> int:
        return plan.resolved_size(size, train_size)

    gan_speed, gan_keys = measured_gan_speed(cache_root)
    to_train = [job for key, job in jobs.items() if key not in cached]
    if to_train and gan_speed:
        images = sum(n(job.size) * job.epochs for job in to_train)
        lines.append(f"[plan] GANs to train: {len(to_train)}, about {duration(images / gan_speed)} of one worker's "
                     f"compute at {gan_speed:.0f} images/s (the median of {gan_keys} GAN(s) in the cache; measured "
                     "on whichever machine trained them)")
    elif to_train:
        lines.append(f"[plan] GANs to train: {len(to_train)}; no time estimate: the cache holds no GAN trained "
                     "before (run a small study here once to measure)")
    trial_speed, trials = measured_trial_speed(storage)
    epochs = max(as_values(spec.classifier.epochs))
    if points and trial_speed:
        images = sum(n(p["size"]) * (1 + float(p["ratio"])) * epochs for p in points)
        lines.append(f"[plan] classifier trials: at most {duration(images / trial_speed)} of compute ({epochs} epochs "
                     f"each, early stopping ends most sooner) at {trial_speed:.0f} images/s (the median of {trials} "
                     "earlier trial(s) in this storage root)")
    elif points:
        lines.append("[plan] classifier trials: no time estimate: no earlier study in this storage root")
    return lines
