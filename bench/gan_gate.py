"""gan_gate: the GAN quality gate's strength and grade for GANs of known quality, to set its cuts.

Trains the quick preset's GAN (conditional abadi, alpha 1, "modern" recipe: spectral norm on D, EMA of
G; batch 32, lr 2e-4, beta1 0.5) on n = 500 class-balanced images of mnist-5k's training split (after
the quick preset's 400-image validation split, as `eval.validation = "auto"` holds it), in-process on
one thread (bench/_gan_loop: the engine's own step), for each --seeds seed. At every --checkpoints
epoch it draws the pool a study would draw (the EMA generator, n images, class-balanced), scores it as
the GAN stage does (trainables.quality.scores.quality_scores with the validation split: GAN-train and the
real reference on validation with equal budgets; GAN-test by the dataset's scoring network) and
grades it (analysis.gan_judgement.grade), and writes the fixed-noise sample grid the study would
write, to --out (default /tmp/gan_gate): samples_seed<S>_epoch<E>.png, plus real_seed<S>.png.

Look at the grids, then at the table: the cuts FAIR_STRENGTH and GOOD_STRENGTH in
analysis/gan_judgement.py were set so that blotches read "weak", recognisable but rough digits
"fair" and clean digits "good" (BENCHMARKS.md, "Grading the GAN gate").

    python bench/gan_gate.py [--seeds 0 1] [--checkpoints 1 2 5 10 25 60] [--recipe modern] [--out DIR]

Prints one line per (seed, epoch): GAN-train, real reference, strength, GAN-test, diversity, FD,
grade, and the grid's file; then the grade counts. A measurement, not a speed benchmark: nothing is
timed against a baseline. The default run takes about 3 minutes on one quiet CPU core (60 epochs of a
500-image GAN per seed, a scoring network, two small MLPs per checkpoint); BENCHMARKS.md's table is
the default run plus `--checkpoints 40 100 150 200` and `--seeds 0 1 2 --checkpoints 15 20 25 30 35 40`
(the strengths are deterministic: a checkpoint measured twice gave the same numbers).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _timing  # noqa: E402

_timing.add_repo_to_path()

import torch  # noqa: E402

from analysis.gan_judgement import FAIR_STRENGTH, GOOD_STRENGTH, grade  # noqa: E402
from bench._gan_loop import make_loop  # noqa: E402
from trainables.data import datasets as data  # noqa: E402
from trainables.data import sampling  # noqa: E402
from trainables.gan import engine as gan_engine  # noqa: E402
from trainables.gan.archs import GANS  # noqa: E402
from trainables.gan.grids import class_grid_png  # noqa: E402
from trainables.quality import scores as quality  # noqa: E402
from trainables.quality import scoring  # noqa: E402
from trainables.terms.gan_options import RECIPES, resolve_options  # noqa: E402

SIZE = 500
VALIDATION = 400   # the quick preset's "auto" validation split of mnist-5k (10% of 4,000)
SETTINGS = {"arch": "abadi", "conditioning": "conditional", "alpha": 1.0, "batch_size": 32, "lr": 2e-4, "beta1": 0.5}


def grid_png(loop, epoch: int) -> bytes:
    """The study's sample grid (gan_train._write_epoch_outputs): fixed noise, one row per class."""
    grid_z, grid_labels = gan_engine.fixed_noise(loop.spec, GANS[loop.spec.arch].latent_dim)
    gen = loop.sampler
    was_training = gen.training
    gen.eval()
    with torch.no_grad():
        images = gen(grid_z.to(loop.device), grid_labels.to(loop.device)).float()
    gen.train(was_training)
    return class_grid_png(sampling.to_uint8(images.flatten(0, 1)).cpu(), grid_labels.reshape(-1), loop.spec.num_classes,
                          title=f"GAN samples after epoch {epoch} (fixed noise; one row per class)",
                          class_names=loop.real.classes)


def measure(seed: int, checkpoints: list[int], recipe: str, train, test, validation, scorer, out: Path,
            device: torch.device) -> list[dict]:
    real = sampling.subset(train, SIZE, seed)
    out.joinpath(f"real_seed{seed}.png").write_bytes(class_grid_png(
        real.images, real.labels, real.num_classes, title=f"real images (n = {SIZE}, seed {seed})",
        class_names=real.classes))
    options = resolve_options(recipe, {})
    loop = make_loop(real, arch=SETTINGS["arch"], conditioning=SETTINGS["conditioning"], alpha=SETTINGS["alpha"],
                     seed=seed, batch_size=SETTINGS["batch_size"], lr=SETTINGS["lr"], beta1=SETTINGS["beta1"],
                     options=options, device=device)
    rows, seconds = [], 0.0
    for epoch in range(1, max(checkpoints) + 1):
        started = time.perf_counter()
        loop.run_epoch()
        seconds += time.perf_counter() - started
        if epoch not in checkpoints:
            continue
        pool = gan_engine.generate(loop.sampler, loop.spec, SIZE // real.num_classes,
                                   gan_engine.derive_seed(seed, "pool"), device, classes=real.classes)
        scores = quality.quality_scores(real, test, pool, scorer, seed=seed, device=device, validation=validation)
        meta = {"status": "ok", "classes": list(real.classes), **scores}
        judged = grade(meta)
        name = f"samples_seed{seed}_epoch{epoch:03d}.png"
        out.joinpath(name).write_bytes(grid_png(loop, epoch))
        row = {"seed": seed, "epoch": epoch, "train_s": seconds, "gan_train": scores["gan_train_acc"],
               "reference": scores["real_reference_acc"], "strength": judged.strength,
               "gan_test": scores["gan_test_acc"], "diversity": scores["sample_diversity"],
               "fd": scores["frechet_distance"], "grade": judged.label, "grid": name,
               "gate": f"{scores['gate_split']} {scores['gate_images']}+{scores['gate_images']} images, "
                       f"{scores['gate_steps']} steps each"}
        rows.append(row)
        print(f"seed {seed} epoch {epoch:3d} ({seconds:6.1f} s)  GAN-train {row['gan_train']:.3f}  real ref "
              f"{row['reference']:.3f}  strength {row['strength']:.2f}  GAN-test {row['gan_test']:.3f}  "
              f"diversity {row['diversity']:.2f}  FD {row['fd']:6.2f}  -> {row['grade']:4s}  {out / name}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[1, 2, 5, 10, 25, 60])
    parser.add_argument("--recipe", default="modern", choices=sorted(RECIPES))
    parser.add_argument("--out", type=Path, default=Path("/tmp/gan_gate"))
    _timing.add_device_argument(parser)
    args = parser.parse_args(argv)
    device = _timing.checked_device(parser, args)
    _timing.configure_threads()
    args.out.mkdir(parents=True, exist_ok=True)
    train, test = data.load_dataset("mnist-5k")
    train, validation = sampling.split_validation(train, VALIDATION)
    scorer = scoring.train_network(train, test, device)
    print(f"gan_gate: quick preset's GAN ({args.recipe} recipe), n = {SIZE} mnist-5k, validation {len(validation)} "
          f"images; cuts: weak < {FAIR_STRENGTH} <= fair < {GOOD_STRENGTH} <= good; scoring network test acc "
          f"{scorer.meta['test_acc']:.3f}", flush=True)
    rows = [row for seed in args.seeds for row in measure(seed, sorted(args.checkpoints), args.recipe, train, test,
                                                          validation, scorer, args.out, device)]
    print(f"gate: {rows[0]['gate']}")
    counts = {label: sum(r["grade"] == label for r in rows) for label in ("weak", "fair", "good")}
    print(f"gan_gate grades: weak={counts['weak']} fair={counts['fair']} good={counts['good']} "
          f"(of {len(rows)} checkpoints); now look at the grids in {args.out}")


if __name__ == "__main__":
    main()
