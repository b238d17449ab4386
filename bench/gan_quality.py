"""gan_quality: GAN-train accuracy against CPU-seconds for GAN recipes, on mnist-5k at n = 500.

Each run trains the quick preset's GAN (conditional abadi, alpha 1, batch 64, lr 2e-4, beta1 0.5) on
the first 500 class-balanced images of mnist-5k's training split (after its 400-image validation
split) with one recipe, in-process on one thread (bench/_gan_loop: the engine's own step), and at
every checkpoint draws 500 class-balanced images from the generator the study would use (the EMA
weights when kept) and scores them with trainables.quality.scores as the GAN stage does: GAN-train (an MLP
trained on the synthetic images, tested on the real test set), and GAN-test, Frechet distance, KID,
coverage and recall in the features of the dataset's scoring network (trainables.quality.scoring, trained
once here on the training split), plus diversity. Only training counts as time (time.process_time
of the epochs on the CPU; on `--device cuda`, the epochs' wall seconds with the GPU synchronised, and
the tables say GPU-s); scoring is excluded.

Modes:
  python bench/gan_quality.py --recipe NAME      paper vs the recipe NAME of RECIPES (or a
      candidate of CANDIDATES), --seeds seeds, --epochs budget: prints
      RESULT gan_quality_<name>_vs_paper ours=<NAME's CPU-s to reach paper's final GAN-train>
          baseline=<paper CPU-s to reach it> ratio=<paper seconds / NAME's seconds>
      and the GAN-train each reaches at equal CPU time (--baseline OTHER compares with OTHER instead).
  python bench/gan_quality.py --search           one seed, a table over CANDIDATES
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _timing  # noqa: E402

_timing.add_repo_to_path()


from bench._gan_loop import make_loop  # noqa: E402
from trainables.data import datasets as data  # noqa: E402
from trainables.data import sampling  # noqa: E402
from trainables.gan import engine as gan_engine  # noqa: E402
from trainables.quality import scores as quality  # noqa: E402
from trainables.quality import scoring  # noqa: E402
from trainables.terms.gan_options import RECIPES, GanOptions  # noqa: E402

SIZE = 500
VALIDATION = 400
CANDIDATES = {
    "paper": {},
    "ema 0.99": {"ema": 0.99},
    "ema 0.999": {"ema": 0.999},
    "translation 0.5 + ema 0.99": {"diffaugment": "translation", "diffaugment_strength": 0.5, "ema": 0.99},
    "ttur d 4e-4 g 1e-4": {"lr_d": 4e-4, "lr_g": 1e-4},
    "spectral norm": {"spectral_norm": True},
    "hinge + ema 0.99": {"loss": "hinge", "ema": 0.99},
    "lr 5e-4": {"lr_d": 5e-4, "lr_g": 5e-4},
    "sn + hinge + ttur": {"spectral_norm": True, "loss": "hinge", "lr_d": 4e-4, "lr_g": 1e-4},
    "sn + lr 5e-4": {"spectral_norm": True, "lr_d": 5e-4, "lr_g": 5e-4},
    "batch 32": {"batch_size": 32},
    "batch 16": {"batch_size": 16},
    "batch 32 + ema 0.99": {"batch_size": 32, "ema": 0.99},
    "sn + ema 0.99": {"spectral_norm": True, "ema": 0.99},
    "sn + batch 32 + ema 0.99": {"spectral_norm": True, "batch_size": 32, "ema": 0.99},
}
# Candidate keys that are [gan] settings of their own rather than GanOptions (a recipe cannot carry
# them; a preset can set them).
LOOP_KEYS = ("batch_size", "lr", "beta1")


SCORES = ("gan_train_acc", "gan_test_acc", "frechet_distance", "kid", "coverage", "recall", "sample_diversity")


def real_data():
    """(the n = 500 subset, the test set, the dataset's scoring network, the validation split)."""
    train, test = data.load_dataset("mnist-5k")
    train, validation = sampling.split_validation(train, VALIDATION)
    return sampling.subset(train, SIZE, 0), test, scoring.train_network(train, test), validation


def scores(loop, real, test, scorer, seed: int, validation=None) -> dict:
    """The GAN stage's scores: GAN-train on the validation split, as a study measures it."""
    pool = gan_engine.generate(loop.sampler, loop.spec, SIZE // real.num_classes, gan_engine.derive_seed(seed, "pool"),
                               loop.device, classes=real.classes)
    return quality.quality_scores(real, test, pool, scorer, seed=seed, device=loop.device, validation=validation)


def epoch_seconds(loop) -> float:
    """One epoch's cost: CPU seconds of this process on the CPU, synchronised wall seconds on a GPU."""
    if loop.device.type == "cuda":
        return _timing.time_call(loop.run_epoch)
    started = time.process_time()
    loop.run_epoch()
    return time.process_time() - started


def run(options: dict, seed: int, label: str, checkpoints: list[int], real, test, scorer,
        device: str = "cpu", validation=None) -> list[dict]:
    """[{epoch, seconds, *SCORES}] per checkpoint (seconds: see epoch_seconds)."""
    settings = {k: v for k, v in options.items() if k in LOOP_KEYS}
    loop = make_loop(real, seed=seed, options=GanOptions(**{k: v for k, v in options.items()
                                                                      if k not in LOOP_KEYS}), device=device, **settings)
    rows, cpu = [], 0.0
    for epoch in range(1, max(checkpoints) + 1):
        cpu += epoch_seconds(loop)
        if epoch in checkpoints:
            s = scores(loop, real, test, scorer, seed, validation)
            rows.append({"epoch": epoch, "seconds": cpu, **{k: s[k] for k in SCORES}})
            print(f"  {label}epoch {epoch:4d}  {loop.device.type} {cpu:7.1f} s  GAN-train {s['gan_train_acc']:.3f}  GAN-test "
                  f"{s['gan_test_acc']:.3f}  FD {s['frechet_distance']:.2f}  KID {s['kid']:.3f}  coverage "
                  f"{s['coverage']:.2f}  recall {s['recall']:.2f}  diversity {s['sample_diversity']:.2f}", flush=True)
    return rows


def seconds_to_reach(rows: list[dict], target: float) -> float:
    """CPU seconds at the first checkpoint whose GAN-train reaches `target` (inf when none does)."""
    return next((r["seconds"] for r in rows if r["gan_train_acc"] >= target), float("inf"))


EQUAL_TIME_TOLERANCE = 1.05  # two runs' checkpoints at the same epoch differ by a few % of CPU time


def at_time(rows: list[dict], seconds: float) -> float:
    """GAN-train at the last checkpoint within `seconds` (give or take EQUAL_TIME_TOLERANCE) of CPU time."""
    within = [r for r in rows if r["seconds"] <= seconds * EQUAL_TIME_TOLERANCE]
    return within[-1]["gan_train_acc"] if within else float("nan")


def print_table(curves: dict[str, list[list[dict]]], unit: str) -> None:
    """Mean (sd over seeds) of every score at every checkpoint, one row per recipe and checkpoint."""
    print(f"| recipe | GAN epochs | {unit} | " + " | ".join(SCORES) + " |")
    print("|---" * (3 + len(SCORES)) + "|")
    for name, runs in curves.items():
        for i, checkpoint in enumerate(runs[0]):
            cells = []
            for score in ("seconds", *SCORES):
                values = [r[i][score] for r in runs]
                spread = f" ({statistics.stdev(values):.3f})" if len(values) > 1 and score != "seconds" else ""
                cells.append(f"{statistics.mean(values):.{0 if score == 'seconds' else 3}f}{spread}")
            print(f"| {name} | {checkpoint['epoch']} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search", action="store_true", help="one seed over CANDIDATES instead of paper vs modern")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--every", type=int, default=25, help="epochs between checkpoints")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="candidate names to run (search mode)")
    parser.add_argument("--recipe", default="modern", help="what to compare with paper: a recipe or a candidate")
    parser.add_argument("--baseline", default="paper", help="what --recipe is compared with (a recipe or a "
                        "candidate; default: paper)")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel processes (one thread each; CPU "
                        "seconds are per process, so they stay comparable)")
    _timing.add_device_argument(parser)
    args = parser.parse_args()
    device = _timing.checked_device(parser, args)
    unit = "GPU-s" if device.type == "cuda" else "CPU-s"
    _timing.configure_threads()
    real, test, scorer, validation = real_data()
    reference = quality.gan_train_accuracy(real, test, seed=0)
    print(f"gan_quality: conditional abadi, n = {SIZE} mnist-5k images, one thread; 500 real images give "
          f"GAN-train {reference:.3f} (the reference)", flush=True)
    checkpoints = list(range(args.every, args.epochs + 1, args.every))
    if args.search:
        for name, options in CANDIDATES.items():
            if args.only and name not in args.only:
                continue
            print(f"{name}: {options}", flush=True)
            run(options, 0, "", checkpoints, real, test, scorer, str(device), validation)
        return
    options = {name: RECIPES.get(name, CANDIDATES.get(name)) for name in (args.baseline, args.recipe)}
    for flag, name in (("--baseline", args.baseline), ("--recipe", args.recipe)):
        if options[name] is None:
            raise SystemExit(f"{flag} {name!r}: not a recipe ({', '.join(RECIPES)}) or a candidate "
                             f"({', '.join(CANDIDATES)})")
    if args.baseline == args.recipe:
        raise SystemExit(f"--recipe and --baseline are both {args.recipe!r}; compare two different ones")
    runs = [(name, seed) for name in options for seed in range(args.seeds)]
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_timing.configure_threads) as pool:
        finished = pool.map(partial(run, checkpoints=checkpoints, real=real, test=test, scorer=scorer,
                                    device=str(device), validation=validation),
                            [options[name] for name, _ in runs], [seed for _, seed in runs],
                            [f"{name} seed {seed}: " for name, seed in runs])
        rows = dict(zip(runs, finished, strict=True))
    curves = {name: [rows[name, seed] for seed in range(args.seeds)] for name in options}
    print_table(curves, unit)
    mean = {recipe: [{"seconds": statistics.mean(r[i]["seconds"] for r in runs),
                      "gan_train_acc": statistics.mean(r[i]["gan_train_acc"] for r in runs)}
                     for i in range(len(checkpoints))] for recipe, runs in curves.items()}
    base, ours = mean[args.baseline], mean[args.recipe]
    target = base[-1]["gan_train_acc"]
    base_s, ours_s = seconds_to_reach(base, target), seconds_to_reach(ours, target)
    equal = min(base[-1]["seconds"], ours[-1]["seconds"])
    print(f"gan_quality: mean over {args.seeds} seeds; {args.baseline}'s final GAN-train {target:.3f}; at {equal:.0f} "
          f"{unit} {args.baseline} {at_time(base, equal):.3f}, {args.recipe} {at_time(ours, equal):.3f}; "
          f"{args.recipe}'s best {max(r['gan_train_acc'] for r in ours):.3f} (goal 0.83 within 300 CPU-s)", flush=True)
    slug = "".join(c if c.isalnum() else "_" for c in args.recipe)
    against = "".join(c if c.isalnum() else "_" for c in args.baseline)
    _timing.result(f"gan_quality_{slug}_vs_{against}", ours_s, base_s, base_s / ours_s)


if __name__ == "__main__":
    main()
