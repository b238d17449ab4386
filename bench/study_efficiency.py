"""study_efficiency: the quick study end to end against its compute floor on this machine.

- ours: `study run quick` in a fresh process (fresh Ray, empty storage), wall seconds from the
  process start to its exit: what a user waits for.
- baseline (the compute floor): the same work done in this process without Ray, divided by the
  cores the study may use:
  * every GAN key the study trained: its training loop (bench/_gan_loop.GanLoop, the per-epoch body
    of gan_train.train_key with the key's n, alpha, seed, batch and recipe), one warm-up
    epoch, then `GAN_SAMPLE_EPOCHS` timed epochs; their median times the key's epochs;
  * drawing each pool: the seconds meta.json measured (the same in-process code, run in a Ray task);
  * the scoring network, trained once, and every GAN's quality scores on its pool;
  * every classifier trial: its training set rebuilt from the study's own pool and trained with the
    same function, schedule and seed as the trial (fit.train_classifier).
  ratio = floor / ours (1.0: nothing but compute, perfectly packed on the cores).

A breakdown of ours, read from what the study wrote (meta.json timings, trial records, file times),
says where the rest goes: start-up before the first GAN fit (imports, Ray start, data), the GAN Train
runs' fixed cost (one run per slot trains its keys one after the other: the controller and worker
start of each run, then per key its models, checkpoints and meta.json), the pools and scores (drawn
by each key's Train worker), the classifier stage beyond its trials' training, and the report.

Run: .venv/bin/python bench/study_efficiency.py [--device cpu|cuda]   (about 10 minutes on 2 cores: the
study, then the floor; default: cuda when there is one, where the classifier trials take a quarter GPU
each and the floor is the compute on the GPU divided by the GPUs)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _timing  # noqa: E402

GAN_SAMPLE_EPOCHS = 3
PRESET = "quick"


def run_ours(storage: Path, settings: list[str]) -> float:
    """Seconds from launching `study run quick` to its exit, in a process of its own."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    started = time.perf_counter()
    sets = [arg for setting in settings for arg in ("--set", setting)]
    subprocess.run([sys.executable, "-m", "study.cli", "run", PRESET, *sets, "--storage", str(storage)], check=True,
                   env=env, stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1])
    return time.perf_counter() - started


def _gan_metas(cache: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(cache.glob("*/meta.json"))]


def gan_floor(metas: list[dict], train, device) -> float:
    """In-process seconds of every key's training epochs (sampled, times its epochs)."""
    from bench._gan_loop import make_loop
    from trainables.data import sampling
    from trainables.gan.job import job_from_dict

    total = 0.0
    for meta in metas:
        real = sampling.subset(train, int(meta["size"]), int(meta["seed"]))
        job = job_from_dict(meta)   # meta.json = the job's fields + its results
        loop = make_loop(real, arch=job.arch, conditioning=job.conditioning, alpha=float(job.alpha),
                         grouping=meta["grouping"], seed=job.seed, batch_size=job.batch_size // job.workers,
                         lr=float(job.lr), beta1=float(job.beta1), options=job.options(), device=device)
        loop.run_epoch()   # warm-up: allocator, oneDNN primitives
        epoch = statistics.median(_timing.time_call(loop.run_epoch) for _ in range(GAN_SAMPLE_EPOCHS))
        total += epoch * int(meta["epochs_trained"])
    return total


def scoring_floor(metas: list[dict], cache: Path, train, test, device, validation=None) -> float:
    """The scoring network once, every GAN's quality scores, and the pool draws meta.json measured."""
    from trainables.data import sampling
    from trainables.gan.pool import load_key_pool as load_pool
    from trainables.quality import scores as quality
    from trainables.quality import scoring

    started = time.perf_counter()
    scorer = scoring.train_network(train, test, device)
    for meta in metas:
        real = sampling.subset(train, int(meta["size"]), int(meta["seed"]))
        pool = sampling.take_balanced(load_pool(str(cache), meta["key"]), len(real))
        quality.quality_scores(real, test, pool, scorer, seed=int(meta["seed"]), device=device, validation=validation)
    return time.perf_counter() - started + sum(float(m["pool"]["generate_seconds"]) for m in metas)


def classifier_floor(root: Path, cache: Path, spec, train, test, validation, hflip: bool, device) -> float:
    """Every trial of the study retrained in-process from its own pool; seconds of training."""
    import pandas as pd

    from study import plan
    from trainables.classifier import fit
    from trainables.classifier.models import CLASSIFIERS
    from trainables.data import sampling
    from trainables.gan.pool import load_key_pool as load_pool
    from trainables.runners.classifier_trial import build_training_set

    results = pd.read_csv(root / "results.csv")
    total = 0.0
    for row in results.itertuples():
        real = sampling.subset(train, int(row.size), plan.subset_seed(spec, int(row.seed)))
        pool = load_pool(str(cache), row.gan_key) if isinstance(row.gan_key, str) and row.gan_key else None
        train_set = build_training_set(real, pool, float(row.ratio), bool(row.real))
        with fit.seeded(int(row.seed)):
            model = CLASSIFIERS[row.classifier](*train_set.shape, train_set.num_classes)

        def setting(name: str, row=row):   # a column when the study swept it, else the spec's one value
            return getattr(row, f"classifier_{name}", getattr(spec.classifier, name))

        batch_size = int(setting("batch_size"))
        schedule = fit.schedule_for(setting("schedule"), int(setting("epochs")), int(setting("patience")), len(real),
                                    batch_size)
        started = time.perf_counter()
        fit.train_classifier(model, train_set, test, epochs=schedule.periods, batch_size=batch_size,
                             lr=float(setting("lr")), seed=int(row.seed), augment=row.augment, hflip=hflip,
                             device=device, validation=validation, schedule=schedule)
        total += time.perf_counter() - started
    return total


def breakdown(root: Path, cache: Path, launched_at: float, ours: float, cores: float,
              parts: dict[str, float], unit: str = "cores") -> list[tuple[str, float]]:
    """Where ours goes beyond the floor, in wall seconds, from the study's own records and the floor's
    parts (see the module docstring); each line is an estimate, and 'unaccounted' is what is left."""
    metas = _gan_metas(cache)
    gan_done = max(p.stat().st_mtime for p in cache.glob("*/meta.json"))
    first_fit = min(m.get("fit_started_at", gan_done) for m in metas)
    records = sorted(root.glob("trials/*.json"))
    trials_done = max(p.stat().st_mtime for p in records)
    report_done = (root / "report" / "report.md").stat().st_mtime
    trial_seconds = sum(json.loads(p.read_text()).get("trial_seconds", 0.0) for p in records)
    fixed = sum(float(m.get("fit_overhead_seconds", 0.0)) for m in metas)
    runs = len({m.get("train_run", m["key"]) for m in metas})
    # A key's pool and scores: drawn by its Train worker at the end of the key's span of the run.
    tasks = sum(float(m.get("outputs_seconds", 0.0)) for m in metas)
    epochs = sum(float(m["train_seconds"]) for m in metas)
    lines = [
        ("start-up before the first GAN fit (imports, Ray, data)", first_fit - launched_at),
        (f"GAN Train runs' fixed cost ({runs} runs for {len(metas)} keys, {fixed:.1f} s in all, / {cores:g} {unit})",
         fixed / cores),
        (f"GAN epochs slower than in-process ({epochs:.1f} s in the study vs {parts['GAN training']:.1f} s, "
         f"/ {cores:g} {unit})", (epochs - parts["GAN training"]) / cores),
        (f"pools and scores beyond their in-process time ({tasks:.1f} s vs {parts['pools and scoring']:.1f} s, "
         f"/ {cores:g} {unit})", (tasks - parts["pools and scoring"]) / cores),
        (f"classifier stage beyond its {len(records)} trials' work", (trials_done - gan_done) - trial_seconds / cores),
        ("report building", report_done - trials_done),
        ("shutdown (Ray) and exit", launched_at + ours - report_done),
    ]
    floor = sum(parts.values()) / cores
    return lines + [(f"unaccounted (GAN stage packing: {len(metas)} keys on {cores:g} {unit}, trial start, ...)",
                     ours - floor - sum(seconds for _, seconds in lines))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _timing.add_device_argument(parser)
    device = _timing.checked_device(parser, parser.parse_args())
    _timing.configure_threads()
    import torch

    from study import real_data
    from study import spec as study_spec

    spec = study_spec.load_spec(PRESET, [])
    with tempfile.TemporaryDirectory() as folder:
        storage = Path(folder)
        launched_at = time.time()
        # On a GPU the GAN workers take one each (the study's default there) and the classifier trials a
        # quarter each; the floor is then the compute on the device divided by the GPUs.
        ours = run_ours(storage, ["resources.gpus_per_trial=0.25"] if device.type == "cuda" else [])
        root, cache = storage / PRESET, storage / "gan-cache"
        cores, unit = ((float(torch.cuda.device_count()), "GPUs") if device.type == "cuda"
                       else (float(os.cpu_count() or 1), "cores"))
        train, test, validation, info = real_data.load_real_data(spec)
        metas = [m for m in _gan_metas(cache) if m.get("status") == "ok"]
        parts = {"GAN training": gan_floor(metas, train, device),
                 "pools and scoring": scoring_floor(metas, cache, train, test, device, validation),
                 "classifier trials": classifier_floor(root, cache, spec, train, test, validation, info.hflip, device)}
        floor = sum(parts.values()) / cores
        print(f"study_efficiency: `study run {PRESET}` end to end, fresh Ray, {cores:g} {unit}: {ours:.1f} s; "
              f"in-process compute {sum(parts.values()):.1f} s (" + ", ".join(f"{k} {v:.1f} s" for k, v in parts.items())
              + f") / {cores:g} {unit} = floor {floor:.1f} s", flush=True)
        print("where ours goes beyond the floor:")
        for what, seconds in breakdown(root, cache, launched_at, ours, cores, parts, unit):
            print(f"  {seconds:7.1f} s  {what}")
        _timing.result("study_efficiency", ours, floor, floor / ours)


if __name__ == "__main__":
    main()
