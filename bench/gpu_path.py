"""gpu_path: the GPU path of training, measured against the device's own matmul in the same run.

- gan_step_tflops: one label-conditioned GAN training step (bench/_gan_loop: real images resident on
  the device, noise drawn there, bf16 autocast on CUDA, channels_last) at a batch large enough to
  fill the device, FLOPs counted with FlopCounterMode, against a square bf16 matmul (float32 on the
  CPU) measured here: the device's reachable peak for dense math.
- per_class_vmap_vs_loop: one epoch of a key's 10 per-class GANs as one vmapped group vs one GAN at a
  time (what trainables.runners.gan_keys.AUTO_GROUPING picks per device).
- classifier_epoch: one epoch of the study's classifier on the device (fit.train_classifier), images
  per second, data resident on the device.

`--device` defaults to cuda when torch sees one. `--dry` shrinks every size so the script's whole
path runs in seconds on a CPU (what CI-like machines without a GPU can check).

Run: .venv/bin/python bench/gpu_path.py [--device cuda|cpu] [--dry]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from bench import _timing  # noqa: E402
from bench._gan_loop import make_loop  # noqa: E402
from trainables.classifier import fit  # noqa: E402
from trainables.classifier.models import CLASSIFIERS  # noqa: E402
from trainables.data import datasets as data
from trainables.data import sampling
from trainables.data.images import ImageSet


def timed(fn, repeats: int, warmup: int = 2) -> float:
    """Median seconds of fn() (_timing.time_call drains the GPU before and after each call)."""
    return statistics.median(_timing.repeat(fn, repeats=repeats, warmup=warmup))


def matmul_tflops(device: torch.device, size: int) -> float:
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a, b = torch.randn(size, size, device=device, dtype=dtype), torch.randn(size, size, device=device, dtype=dtype)
    return 2 * size**3 / timed(lambda: torch.mm(a, b), repeats=10) / 1e12


def gan_step_tflops(real: ImageSet, device: torch.device, batch_size: int) -> float:
    loop = make_loop(real, alpha=1.0, batch_size=batch_size, device=device)
    index, noise_gen = next(loop.batches(1))
    with FlopCounterMode(display=False) as counter:
        loop.step(index, noise_gen)
    return counter.get_total_flops() / timed(lambda: loop.step(index, noise_gen), repeats=10) / 1e12


def per_class_epochs(real: ImageSet, device: torch.device) -> tuple[float, float]:
    """Seconds of one epoch of the key's per-class GANs: (vmap group, loop over GANs)."""
    seconds = []
    for grouping in ("vmap", "loop"):
        loop = make_loop(real, conditioning="per-class", grouping=grouping, batch_size=32, device=device)
        seconds.append(timed(loop.run_epoch, repeats=3, warmup=1))
    return seconds[0], seconds[1]


def classifier_images_per_second(train: ImageSet, test: ImageSet, device: torch.device) -> float:
    with fit.seeded(0):
        model = CLASSIFIERS["cnn2"](*train.shape, train.num_classes)
    result = fit.train_classifier(model, train, test, epochs=2, batch_size=256, lr=1e-3, seed=0, augment="none",
                                  hflip=False, device=device)
    return result.images_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _timing.add_device_argument(parser)
    parser.add_argument("--dry", action="store_true", help="tiny sizes: the whole path in seconds on a CPU")
    args = parser.parse_args()
    device = _timing.checked_device(parser, args)
    _timing.configure_threads()
    train, test = data.load_dataset("mnist-5k")
    if args.dry:
        train, test = sampling.subset(train, 200, 0), sampling.subset(test, 100, 0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"gpu_path on {name} (torch {torch.__version__}{', dry sizes' if args.dry else ''})", flush=True)

    peak = matmul_tflops(device, 256 if args.dry else 8192)
    step = gan_step_tflops(sampling.subset(train, 100 if args.dry else 4000, 0), device, 64 if args.dry else 1024)
    print(f"gan_step_tflops: abadi conditional GAN step, {'bf16 autocast' if device.type == 'cuda' else 'float32'}, "
          f"vs a square {'bf16' if device.type == 'cuda' else 'float32'} matmul: {step:.2f} vs {peak:.2f} TFLOP/s")
    _timing.result("gan_step_tflops", step, peak, step / peak)

    vmap, loop = per_class_epochs(sampling.subset(train, 200 if args.dry else 1000, 0), device)
    print(f"per_class_vmap_vs_loop: one epoch of 10 per-class GANs: vmap {vmap:.3f} s, loop {loop:.3f} s")
    _timing.result("per_class_vmap_vs_loop", vmap, loop, loop / vmap)

    images = classifier_images_per_second(train, test, device)
    print(f"classifier_epoch: cnn2, batch 256, data on {device.type}: {images:.0f} images/s")


if __name__ == "__main__":
    main()
