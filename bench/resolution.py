"""resolution: what 64x64 costs against 32x32, in the same run.

One GAN epoch (abadi, conditional, alpha 1, batch 64, 500 mnist-5k images, the Train worker's epoch
body via bench/_gan_loop) and one classifier epoch (mlp and cnn2, batch 64, 500 images, via
fit.train_classifier with a 200-image test set) on the same images decoded at 32x32 ("baseline") and
64x64 ("ours", trainables.data.decode.convert_all: the bulk resize a registry dataset gets from image_size).
The ratio is 64x64 seconds / 32x32 seconds: how much longer a 64x64 study's epochs take. 4x the pixels
is the naive guess; depth that follows resolution keeps the GAN's start map at 8x8.

Run: .venv/bin/python bench/resolution.py [--device cpu|cuda]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _timing  # noqa: E402
from bench._gan_loop import make_loop  # noqa: E402
from trainables.classifier import fit  # noqa: E402
from trainables.classifier.models import CLASSIFIERS  # noqa: E402
from trainables.data import datasets as data
from trainables.data import sampling
from trainables.data.decode import convert_all  # noqa: E402
from trainables.data.headers import DecodeOptions  # noqa: E402
from trainables.data.images import ImageSet

SIZE, TEST, SEED = 500, 200, 0


def at(images: ImageSet, side: int) -> ImageSet:
    return ImageSet(convert_all(images.images, DecodeOptions((side, side))), images.labels, images.classes)


def report(name: str, timings, what: str) -> None:
    print(f"{name}: seconds per {what}, median of {len(timings.ours)} interleaved repeats (64x64 "
          f"{_timing.spread(timings.ours)}, 32x32 {_timing.spread(timings.baseline)}); ratio = 64x64 / 32x32 seconds",
          flush=True)
    _timing.result(name, timings.ours_median, timings.baseline_median, timings.ours_median / timings.baseline_median)


def main() -> None:
    device = _timing.bench_device(__doc__.splitlines()[0])
    threads = _timing.configure_threads()
    train, test = data.load_dataset("mnist-5k")
    real, held = sampling.subset(train, SIZE, SEED), sampling.subset(test, TEST, SEED)
    sets = {side: (at(real, side), at(held, side)) for side in (32, 64)}
    print(f"resolution: {SIZE} images, device {device}, {threads} thread(s)", flush=True)

    loops = {side: make_loop(sets[side][0], device=device) for side in (32, 64)}
    timings = _timing.compare(loops[64].run_epoch, loops[32].run_epoch, repeats=3)
    report("gan_epoch_abadi_64_vs_32", timings, "GAN epoch")

    for name in ("mlp", "cnn2"):
        def epoch(side: int, name: str = name):
            with fit.seeded(SEED):
                model = CLASSIFIERS[name](*sets[side][0].shape, 10)
            fit.train_classifier(model, sets[side][0], sets[side][1], epochs=1, batch_size=64, lr=1e-3, seed=SEED,
                                 device=device)
        timings = _timing.compare(lambda: epoch(64), lambda: epoch(32), repeats=3)
        report(f"classifier_epoch_{name}_64_vs_32", timings, "classifier epoch")


if __name__ == "__main__":
    main()
