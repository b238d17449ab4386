"""One classifier trial, as a Ray Tune function trainable.

A trial trains one classifier on the real subset of (size, seed) plus round(ratio x n) synthetic
images from the pool of the matching GAN (or on synthetic images only when `mix.real` is false), n
being the real images it trains on (under eval.validation_from = "subset": size less the validation
part carved out of the subset, trainables.data.validation), evaluates it on the real test set after every
epoch and reports to Tune. It never trains a GAN: the driver's GAN stage has already written every
pool a trial can ask for.

Reporting: a function trial's `tune.report` blocks until Tune's driver has taken the result (a round
trip through the driver's event loop: ~1 ms on idle cores, ~9 ms per report when both cores train,
measured by bench/study_overhead.py, where per-epoch reports made 64 short trials 1.6x slower than
the same trainings in a plain loop). So epochs are reported at most every REPORT_INTERVAL_S seconds
(every epoch when the spec's ASHA scheduler needs them), and the final report carries the whole
per-epoch curve, which is also written to the trial's record.

The trial's settings are one point of the study's plan (study.plan: size, seed, and a value for every
setting of [gan], [classifier] and [mix]) plus a context the driver fills once for all trials. Every
epoch evaluates on the validation set and the test set; nothing is chosen on test.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

import ray
import torch

from trainables.classifier import fit
from trainables.classifier.models import CLASSIFIERS
from trainables.data.images import ImageSet, concat
from trainables.data.sampling import take_balanced, take_like
from trainables.data.validation import real_sets
from trainables.files import gan_cache
from trainables.files.storage import Store, json_safe
from trainables.files.trial_records import CURVE_COLUMNS, read_trial_record, trial_record
from trainables.gan import pool as gan_pool
from trainables.runners import fault_hooks
from trainables.runners.devices import cuda_or_fail
from trainables.terms.validation import ValidationRule

# Live progress in Tune's table and dashboard for long trials, without a driver round trip per short epoch.
REPORT_INTERVAL_S = 1.0


def synthetic_count(ratio: float, size: int) -> int:
    """Synthetic images a trial adds: round(R x n), the paper's definition of the ratio R, n being the
    real images the classifier trains on (under validation_from = "subset": the subset less its
    validation part, which it never trains on)."""
    return int(round(ratio * size))


def test_imbalance(test: ImageSet) -> float | None:
    """Largest over smallest class count of the test set (1.0: balanced; None: a class without images)."""
    counts = test.class_counts()
    return float(counts.max()) / float(counts.min()) if len(test) and int(counts.min()) > 0 else None


def build_training_set(real: ImageSet, pool: ImageSet | None, ratio: float, use_real: bool,
                       sampling: str = "balanced") -> ImageSet:
    """The real subset plus round(R x n) synthetic images (or the synthetic part alone): class-balanced,
    or under sampling = "stratified" in the real subset's class mix."""
    count = synthetic_count(ratio, len(real))
    if count == 0:
        if not use_real:
            raise ValueError("a synthetic-only trial needs ratio > 0")
        return real
    if pool is None:
        raise ValueError(f"ratio {ratio} needs a synthetic pool")
    if sampling == "stratified":
        synthetic = take_like(pool, count, real.class_counts().tolist())
    else:
        synthetic = take_balanced(pool, count)   # the pool's first images: the same from a grown pool
    return synthetic if not use_real else concat(real, synthetic)


@dataclass
class EpochReports:
    """Which epochs a trial reports to Tune as they finish: none closer than `interval_s` seconds to
    the previous report (0: every epoch), and never the last one, whose metrics go out in the final
    report (the whole curve is in the trial's record)."""

    epochs: int
    interval_s: float
    last: float  # time of the previous report (the training's start before the first)

    def due(self, epoch: int, now: float) -> bool:
        if epoch >= self.epochs or now - self.last < self.interval_s:
            return False
        self.last = now
        return True


def _metrics_so_far(metrics: dict, best: dict) -> dict:
    """An epoch's metrics plus the running maxima Tune's searchers and schedulers read."""
    for name, source in (("test_acc_max", "test_acc"), ("val_acc_max", "val_acc")):
        if metrics.get(source) is not None and not math.isnan(metrics[source]):
            best[name] = max(best.get(name, -math.inf), metrics[source])
    return {**metrics, **best}


def run_trial(point: dict, gan_key: str | None, ctx: dict) -> None:
    """The Tune function trainable's body: one point of the plan (study.plan), trained and reported.

    ctx: cache_root (the GAN cache), study_root, real_ref ((train, test, validation) or a Ray
    ObjectRef to it), subset_seed, validation_rule (trainables.terms.validation.ValidationRule as a dict),
    hflip, cpus_per_trial, compile, report_every_epoch.
    """
    trial = ray.tune.get_context().get_trial_name()
    # A trial that finished before a driver crash has a record; report it again instead of retraining
    # (Tune's experiment state may be a few seconds older than the trial's end).
    store, record = Store(ctx["study_root"]), trial_record(trial)
    finished = read_trial_record(store, trial)
    if finished is not None:
        ray.tune.report(_scalars(finished))
        return
    seed = int(point["seed"])
    torch.set_num_threads(max(1, int(math.floor(ctx["cpus_per_trial"]))))
    fault_hooks.trial_starts(trial)

    pool = None
    if gan_key is not None:
        meta = gan_cache.read_meta(ctx["cache_root"], gan_key)
        if meta.get("status") != "ok":
            outcome = {"status": meta.get("status", "error"), "gan_key": gan_key,
                       "reason": f"GAN {gan_key} {meta.get('status')}: {meta.get('reason', 'no pool')}"}
            if meta.get("status") == "diverged":   # final: a rerun would train the same GAN and diverge again
                return _end(store, record, outcome)
            # not final: the GAN failed (a crash, a full disk) and `study resume` retrains it, then this trial
            ray.tune.report(json_safe(outcome))
            return None
        if point.get("mix_filter") == "confident":
            try:
                pool = gan_pool.load_key_filtered_pool(ctx["cache_root"], gan_key, float(point["mix_filter_threshold"]))
            except ValueError as err:     # final: the same GAN and threshold would filter the same way
                return _end(store, record, {"status": "error", "reason": f"GAN {gan_key}: {err}", "gan_key": gan_key})
        else:
            pool = gan_pool.load_key_pool(ctx["cache_root"], gan_key)

    real_ref = ctx["real_ref"]
    train_full, test, validation = ray.get(real_ref) if isinstance(real_ref, ray.ObjectRef) else real_ref
    # The trial's real training images and its validation images (trainables.data.validation: the split's
    # shared hold-out, or the validation part carved out of this very subset under validation_from = "subset").
    rule = ValidationRule(**ctx.get("validation_rule", {}))
    real, validation = real_sets(train_full, validation, point["size"], ctx["subset_seed"], rule)
    ratio = float(point["ratio"])
    train_set = build_training_set(real, pool, ratio, bool(point["real"]), rule.sampling)
    device = cuda_or_fail(ray.get_gpu_ids())   # GPUs asked for and unusable: an error, never the CPU
    shape = train_set.shape
    with fit.seeded(seed):
        model = CLASSIFIERS[point["classifier"]](shape[0], shape[1], shape[2], train_set.num_classes)
    if ctx.get("compile"):
        model = torch.compile(model)
    batch_size = int(point["classifier_batch_size"])
    schedule = fit.schedule_for(point["classifier_schedule"], int(point["classifier_epochs"]),
                                int(point["classifier_patience"]), len(real), batch_size)

    started = time.perf_counter()
    best: dict = {}
    curve: list[dict] = []
    reports = EpochReports(schedule.periods, 0.0 if ctx.get("report_every_epoch") else REPORT_INTERVAL_S, started)

    def on_epoch(epoch: int, metrics: dict) -> None:
        curve.append({k: metrics[k] for k in CURVE_COLUMNS})
        so_far = _metrics_so_far(metrics, best)
        if reports.due(epoch, time.perf_counter()):
            ray.tune.report({**json_safe(so_far), "status": "running"})

    try:
        result = fit.train_classifier(
            model, train_set, test, epochs=schedule.periods, batch_size=batch_size,
            lr=float(point["classifier_lr"]), seed=seed, augment=point["augment"], hflip=ctx["hflip"],
            device=device, on_epoch=on_epoch, validation=validation, schedule=schedule)
    except fit.TrainingDiverged as err:
        return _end(store, record, {"status": "diverged", "reason": str(err), "gan_key": gan_key or ""})
    final = {
        "status": "ok", "reason": "", "gan_key": gan_key or "",
        "epoch": len(result.epochs),
        "val_acc_max": result.val_acc_max, "best_val_epoch": result.best_val_epoch,
        "test_acc_at_best_val": result.test_acc_at_best_val,
        "test_acc": result.test_acc, "test_acc_max": result.test_acc_max,
        "test_loss": result.test_loss, "train_loss": result.train_loss,
        "precision": result.precision, "recall": result.recall, "f1": result.f1,
        "per_class_acc": [round(float(a), 5) for a in result.per_class_acc],
        # balanced accuracy: the mean per-class recall at the selected epoch (= macro recall); the test
        # set's imbalance (largest / smallest class) tells the analysis when it differs from accuracy
        "balanced_acc": result.recall, "test_imbalance": test_imbalance(test),
        "train_seconds": result.train_seconds, "images_per_second": result.images_per_second,
        "train_images": len(train_set), "train_steps": result.train_steps, "epochs_trained": len(result.epochs),
        "validation_images": len(validation) if validation is not None else 0,
        "trial_seconds": time.perf_counter() - started,
        "curve": curve,
    }
    _end(store, record, final)


def _scalars(outcome: dict) -> dict:
    """What a trial reports to Tune: its scalars, and the last epoch's metrics (the one epoch no
    running report carries, see EpochReports). The curve and the per-class accuracies travel in the
    record (Tune's loggers would flatten or refuse a list, and the console would say so)."""
    curve = outcome.get("curve") or [{}]
    return {**curve[-1], **{key: value for key, value in outcome.items() if not isinstance(value, list | tuple | dict)}}


def _end(store: Store, record: str, outcome: dict) -> None:
    """A trial's final outcome (ok, diverged, or a GAN it cannot use): its record, then its last report."""
    outcome = json_safe(outcome)
    store.write_text(json.dumps(outcome), record)
    ray.tune.report(_scalars(outcome))
