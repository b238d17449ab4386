"""One classifier trial, as a Ray Tune function trainable.

A trial trains one classifier on the real subset of (size, seed) plus round(ratio x size) synthetic
images from the pool of the matching GAN (or on synthetic images only when `mix.real` is false),
evaluates it on the real test set after every epoch and reports to Tune. It never trains a GAN: the
driver's GAN stage has already written every pool a trial can ask for.

Reporting: a function trial's `tune.report` blocks until Tune's driver has taken the result (a round
trip through the driver's event loop: ~1 ms on idle cores, ~9 ms per report when both cores train,
measured by bench/study_overhead.py, where per-epoch reports made 64 short trials 1.6x slower than
the same trainings in a plain loop). So epochs are reported at most every REPORT_INTERVAL_S seconds
(every epoch when the spec's ASHA scheduler needs them), and the final report carries the whole
per-epoch curve, which is also written to the trial's record.

The trial's config is the Tune `param_space` point (size, alpha, ratio, classifier, seed) plus a
`context` dict the driver fills once for all trials (see `study.driver`).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass

import ray
import torch

from trainables import data as D
from trainables import fit
from trainables.classifiers import CLASSIFIERS
from trainables.storage import Store

# Set by the fault tests: a trial whose name contains this string raises on its first attempts.
_INJECT_ERROR_ENV = "STUDY_INJECT_TRIAL_ERROR"
# Live progress in Tune's table and dashboard for long trials, without a driver round trip per short epoch.
REPORT_INTERVAL_S = 1.0


def synthetic_count(ratio: float, size: int) -> int:
    """Synthetic images a trial adds: round(R x n), the paper's definition of the ratio R."""
    return int(round(ratio * size))


def build_training_set(real: D.ImageSet, pool: D.ImageSet | None, ratio: float, use_real: bool, seed: int) -> D.ImageSet:
    """The real subset plus round(R x n) class-balanced synthetic images (or the synthetic part alone)."""
    count = synthetic_count(ratio, len(real))
    if count == 0:
        if not use_real:
            raise ValueError("a synthetic-only trial needs ratio > 0")
        return real
    if pool is None:
        raise ValueError(f"ratio {ratio} needs a synthetic pool")
    synthetic = D.take_balanced(pool, count, seed)
    return synthetic if not use_real else D.concat(real, synthetic)


@dataclass
class EpochReports:
    """Which epochs a trial reports to Tune as they finish: none closer than `interval_s` seconds to
    the previous report (0: every epoch), and never the last one, whose metrics go out in the final
    report with the whole curve."""

    epochs: int
    interval_s: float
    last: float  # time of the previous report (the training's start before the first)

    def due(self, epoch: int, now: float) -> bool:
        if epoch >= self.epochs or now - self.last < self.interval_s:
            return False
        self.last = now
        return True


def trial_record(trial: str) -> str:
    """Where a finished trial's final metrics and curve live, relative to the study folder."""
    return f"trials/{trial}.json"


def _maybe_inject_error(trial: str) -> None:
    marker = os.environ.get(_INJECT_ERROR_ENV)
    if marker and marker in trial:
        raise RuntimeError(f"injected failure in trial {trial}")


def run_trial(config: dict) -> None:
    """The Tune function trainable."""
    ctx = config["context"]
    trial = ray.tune.get_context().get_trial_name()
    # A trial that finished before a driver crash has a record; report it again instead of retraining
    # (Tune's experiment state may be a few seconds older than the trial's end).
    store, record = Store(ctx["study_root"]), trial_record(trial)
    if store.exists(record):
        ray.tune.report(json.loads(store.read_text(record)))
        return
    size, ratio, seed = config["size"], float(config["ratio"]), int(config["seed"])
    torch.set_num_threads(max(1, int(math.floor(ctx["cpus_per_trial"]))))
    _maybe_inject_error(trial)

    train_full, test = ray.get(ctx["real_ref"]) if isinstance(ctx["real_ref"], ray.ObjectRef) else ctx["real_ref"]
    real = D.subset(train_full, size, seed)

    from trainables.gan_stage import load_pool, read_meta  # Ray Train is heavy; only trials need it

    pool = None
    needs_gan = ratio > 0 or not ctx["real"]
    if needs_gan:
        key = ctx["gan_keys"][gan_lookup_key(size, config["alpha"], seed)]
        meta = read_meta(ctx["study_root"], key)
        if meta.get("status") != "ok":
            ray.tune.report({"status": meta.get("status", "error"),
                     "reason": f"GAN {key} {meta.get('status')}: {meta.get('reason', 'no pool')}", "gan_key": key})
            return
        pool = load_pool(ctx["study_root"], key)

    train_set = build_training_set(real, pool, ratio, ctx["real"], seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    shape = train_set.shape
    with fit.seeded(seed):
        model = CLASSIFIERS[config["classifier"]](shape[0], shape[1], shape[2], train_set.num_classes)
    if ctx.get("compile"):
        model = torch.compile(model)

    started = time.perf_counter()
    best = {"acc": 0.0}
    curve: list[dict] = []
    schedule = EpochReports(ctx["epochs"], 0.0 if ctx.get("report_every_epoch") else REPORT_INTERVAL_S, started)

    def on_epoch(epoch: int, metrics: dict) -> None:
        best["acc"] = max(best["acc"], metrics["test_acc"])
        curve.append({k: metrics[k] for k in ("epoch", "test_acc", "test_loss", "train_loss")})
        if schedule.due(epoch, time.perf_counter()):
            ray.tune.report({**metrics, "test_acc_max": best["acc"], "status": "running"})

    try:
        result = fit.train_classifier(
            model, train_set, test,
            epochs=ctx["epochs"], batch_size=ctx["batch_size"], lr=ctx["lr"], seed=seed,
            augment=ctx["augment"], hflip=ctx["hflip"], device=device, on_epoch=on_epoch,
        )
    except fit.TrainingDiverged as err:
        ray.tune.report({"status": "diverged", "reason": str(err)})
        return
    final = {
        "status": "ok", "reason": "",
        "epoch": ctx["epochs"],
        "test_acc": result.test_acc, "test_acc_max": result.test_acc_max,
        "test_loss": result.test_loss, "train_loss": result.train_loss,
        "precision": result.precision, "recall": result.recall, "f1": result.f1,
        "per_class_acc": [round(float(a), 5) for a in result.per_class_acc],
        "train_seconds": result.train_seconds, "images_per_second": result.images_per_second,
        "train_images": len(train_set), "trial_seconds": time.perf_counter() - started,
    }
    final["curve"] = curve
    store.write_text(json.dumps(final), record)
    ray.tune.report(final)


def gan_lookup_key(size, alpha, seed) -> str:
    """How the driver's `gan_keys` map is indexed: the axes that pick a GAN for a trial."""
    return f"{size}|{float(alpha):g}|{int(seed)}"
