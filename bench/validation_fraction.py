"""validation_fraction: how large a validation set carved out of each real subset must be (eval.validation_from
= "subset", eval.validation_fraction), measured against the held-out split in the same run.

On mnist-5k (4,000 training / 1,000 test images) at n = 500 (--size), with the quick preset's classifier
(mlp, early stopping on validation, patience 5, at most 40 evaluations, batch 64, lr 1e-3), for each of
--seeds subset seeds and each mode:

  split     the baseline: today's default. 400 images ("auto": 10% of the training split) held out before
            the subset is drawn; the classifier trains on all n and validates on those 400.
  subset f  for each fraction f in --fractions: the subset of n (drawn from the whole training split) is
            carved by trainables.data.validation.real_sets into n - v training and v validation images.
  split n-v the control of "subset f": the held-out 400 for validation, but only n - v training images,
            so "subset f" minus "split n-v" is what the small validation set costs, and "split n-v"
            minus "split" what the images it takes from training cost.

Each (mode, seed) trains two arms that differ by a realistic small effect, augment = "none" and
"classic" (crop after padding), so a choice between arms is measured as well as the epoch choice.
Per mode it prints, over seeds (mean and SD):
  acc        test accuracy at the best validation epoch (the reported metric), arm "none";
  regret     best test accuracy over epochs minus acc: what the validation-chosen epoch loses;
  val err    |best validation accuracy - test accuracy at that epoch|: how far a validation number,
             the one every choice ranks, is from the truth;
  epoch sd   SD over seeds of the epoch early stopping chose;
  pick ok    share of seeds where validation picks the same arm as the test set would
             (the arm with the higher test accuracy at its own best validation epoch);
and ratios against "split" (acc difference in points; regret and val err as ratios).

    python bench/validation_fraction.py [--size 500] [--seeds 10] [--fractions 0.1 0.2 0.3]

About 3 minutes on one CPU core (280 small MLP fits at the defaults, fewer at n = 200).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _timing  # noqa: E402

_timing.add_repo_to_path()

import torch  # noqa: E402

from trainables.classifier import fit  # noqa: E402
from trainables.classifier.models import CLASSIFIERS  # noqa: E402
from trainables.data import datasets as data  # noqa: E402
from trainables.data import sampling  # noqa: E402
from trainables.data.images import ImageSet  # noqa: E402
from trainables.data.validation import real_sets  # noqa: E402
from trainables.terms.validation import ValidationRule  # noqa: E402

EPOCHS, PATIENCE, BATCH, LR = 40, 5, 64, 1e-3    # the quick preset's classifier
ARMS = ("none", "classic")


def one_fit(train: ImageSet, validation: ImageSet, test: ImageSet, seed: int, augment: str) -> dict:
    c, h, w = train.shape
    with fit.seeded(seed):
        model = CLASSIFIERS["mlp"](c, h, w, train.num_classes)
    schedule = fit.schedule_for("early-stop", EPOCHS, PATIENCE, len(train), BATCH)
    result = fit.train_classifier(model, train, test, epochs=schedule.periods, batch_size=BATCH, lr=LR, seed=seed,
                                  augment=augment, validation=validation, schedule=schedule)
    return {"acc": result.test_acc_at_best_val, "best_test": max(e["test_acc"] for e in result.epochs),
            "val": result.val_acc_max, "epoch": result.best_val_epoch}


def measure(mode: str, rule: ValidationRule, full_train: ImageSet, test: ImageSet, size: int,
            seeds: int) -> dict:
    held = rule.held_out(len(full_train))
    train_split, split_val = sampling.split_validation(full_train, held)
    rows = []
    for seed in range(seeds):
        real, validation = real_sets(train_split, split_val, size, seed, rule)
        arms = {arm: one_fit(real, validation, test, seed, arm) for arm in ARMS}
        by_val = max(ARMS, key=lambda a: arms[a]["val"])
        by_test = max(ARMS, key=lambda a: arms[a]["acc"])
        base = arms["none"]
        rows.append({"acc": base["acc"], "regret": base["best_test"] - base["acc"], "val_err": abs(base["val"] - base["acc"]),
                     "epoch": base["epoch"], "pick_ok": by_val == by_test, "train": len(real), "val": len(validation),
                     "gain": arms["classic"]["acc"] - base["acc"]})
    mean = lambda k: statistics.fmean(float(r[k]) for r in rows)  # noqa: E731
    sd = lambda k: statistics.stdev(float(r[k]) for r in rows) if len(rows) > 1 else 0.0  # noqa: E731
    return {"mode": mode, "train": rows[0]["train"], "val": rows[0]["val"], "acc": mean("acc"), "acc_sd": sd("acc"),
            "regret": mean("regret"), "val_err": mean("val_err"), "epoch": mean("epoch"), "epoch_sd": sd("epoch"),
            "pick_ok": mean("pick_ok"), "gain": mean("gain")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    parser.add_argument("--data-root", default="~/.cache/study-data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    full_train, test = data.load_dataset("mnist-5k", args.data_root)
    started = time.perf_counter()
    modes = [("split", ValidationRule("split", "auto"))]
    classes = full_train.num_classes
    quota = [args.size // classes + (1 if k < args.size % classes else 0) for k in range(classes)]
    for f in args.fractions:
        carved = ValidationRule("subset", "auto", f).carved(quota)
        modes += [(f"subset {f:g}", ValidationRule("subset", "auto", f), args.size),
                  (f"split n-v {args.size - carved}", ValidationRule("split", "auto"), args.size - carved)]
    results = []
    for name, rule, *size in modes:
        results.append(measure(name, rule, full_train, test, size[0] if size else args.size, args.seeds))
        r = results[-1]
        print(f"{name:>15}: train {r['train']:4d} val {r['val']:4d} | acc {r['acc']:.4f} +/- {r['acc_sd']:.4f} "
              f"| regret {100 * r['regret']:.2f} pts | val err {100 * r['val_err']:.2f} pts | epoch "
              f"{r['epoch']:.1f} +/- {r['epoch_sd']:.1f} | pick ok {r['pick_ok']:.0%} | classic gain "
              f"{100 * r['gain']:+.2f} pts", flush=True)
    base = results[0]
    print(f"\nn = {args.size}, {args.seeds} seeds, mnist-5k, mlp early-stop; against 'split' measured in the same run "
          f"({time.perf_counter() - started:.0f} s):")
    print("| mode | train / val | test acc at best val (mean +/- SD) | vs split (pts) | regret (pts) | "
          "val err (pts) | val err / split | chosen epoch SD | same arm as test |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ratio = r["val_err"] / base["val_err"] if base["val_err"] else float("nan")
        print(f"| {r['mode']} | {r['train']} / {r['val']} | {r['acc']:.4f} +/- {r['acc_sd']:.4f} | "
              f"{100 * (r['acc'] - base['acc']):+.2f} | {100 * r['regret']:.2f} | {100 * r['val_err']:.2f} | "
              f"{ratio:.2f}x | {r['epoch_sd']:.1f} | {r['pick_ok']:.0%} |")
    for r in results:
        print(f"RESULT validation_fraction mode={r['mode'].replace(' ', '_')} acc={r['acc']:.4f} "
              f"delta_vs_split={100 * (r['acc'] - base['acc']):+.2f} regret={100 * r['regret']:.2f} "
              f"val_err={100 * r['val_err']:.2f} pick_ok={r['pick_ok']:.2f}")


if __name__ == "__main__":
    main()
