"""gan_flops: achieved GFLOP/s of one GAN training step vs this machine's sgemm GFLOP/s, same run.

FLOPs of one G+D training step (one D step on real and fake, one G step, the Adam updates are not
counted: FlopCounterMode counts matmuls and convolutions, forward and backward) are counted with
torch.utils.flop_counter.FlopCounterMode, then divided by the median measured step time. The
machine's reference is the median GFLOP/s of a float32 2048x2048 torch.mm (MKL sgemm). Both use the
same torch thread count. A second reference, a large 3x3 convolution forward (oneDNN, the library
that runs the GAN's convolutions), is printed beside it: on AMD CPUs MKL's sgemm takes a non-AVX-512
path while oneDNN's convolutions use AVX-512, so sgemm understates what the convolutions can reach.
FLOPs of a vmapped per-class step are counted on the equivalent loop step: the counter books
vmap's grouped-convolution backward at several times its arithmetic (422 vs 76 GFLOP measured for
the same 10 GANs), while the work done is the same. Steps: abadi alpha 1 on mnist-5k, (a) one label-conditioned GAN, batch 64 and (b)
the 10 per-class GANs of a 500-image key batched with vmap (10 x 50 images per step, the quick
preset's shape). Target: GAN step >= 50% of sgemm.

On `--device cuda` the step runs as the Train worker runs it there (bf16 autocast, channels_last, data
on the device) and the references are a float32 matmul and convolution on the GPU; bench/gpu_path.py
puts the bf16 step against a bf16 matmul.

Run: .venv/bin/python bench/gan_flops.py [--device cpu|cuda]   (default: cuda when there is one)
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from bench import _timing  # noqa: E402
from bench._gan_loop import GanLoop, make_loop  # noqa: E402
from trainables.data import datasets as data  # noqa: E402
from trainables.data import sampling

SGEMM_SIZE = 2048
STEP_REPEATS = 9


def sgemm_gflops(device: torch.device, size: int = SGEMM_SIZE, repeats: int = 9) -> float:
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    seconds = statistics.median(_timing.repeat(lambda: torch.mm(a, b), repeats=repeats, warmup=2))
    return 2 * size**3 / seconds / 1e9


def big_conv_gflops(device: torch.device, repeats: int = 7) -> float:
    """A convolution big enough to run oneDNN (cuDNN) near its peak: 256->256 channels, 3x3, 32x32, batch 16."""
    x, w = torch.randn(16, 256, 32, 32, device=device), torch.randn(256, 256, 3, 3, device=device)
    seconds = statistics.median(_timing.repeat(lambda: F.conv2d(x, w, padding=1), repeats=repeats, warmup=2))
    return 2 * 16 * 256 * 256 * 9 * 32 * 32 / seconds / 1e9


def step_flops(loop: GanLoop) -> int:
    index, noise_gen = next(loop.batches(1))
    with FlopCounterMode(display=False) as counter:
        loop.step(index, noise_gen)
    return counter.get_total_flops()


def step_seconds(loop: GanLoop) -> float:
    index, noise_gen = next(loop.batches(1))
    return statistics.median(_timing.repeat(lambda: loop.step(index, noise_gen), repeats=STEP_REPEATS, warmup=2))


def main() -> None:
    device = _timing.bench_device(__doc__.splitlines()[0])
    threads = _timing.configure_threads()
    train, _ = data.load_dataset("mnist-5k")
    real = sampling.subset(train, 500, 0)
    cases = {
        "gan_step_gflops": ("conditional", "vmap", "1 label-conditioned GAN, batch 64"),
        "gan_step_gflops_per_class": ("per-class", "vmap", "10 per-class GANs vmapped, 10 x 50 per step"),
        "gan_step_gflops_per_class_loop": ("per-class", "loop", "10 per-class GANs one after another, 10 x 50"),
    }
    for name, (conditioning, grouping, what) in cases.items():
        loop = make_loop(real, conditioning=conditioning, grouping=grouping, alpha=1.0, batch_size=64, device=device)
        counted = loop if grouping != "vmap" or conditioning == "conditional" else make_loop(
            real, conditioning=conditioning, grouping="loop", alpha=1.0, batch_size=64, device=device)
        flops = step_flops(counted)
        # References measured right next to each step timing: the shared machine's load drifts.
        sgemm = sgemm_gflops(device)
        seconds = step_seconds(loop)
        conv = big_conv_gflops(device)
        achieved = flops / seconds / 1e9
        print(f"{name}: abadi alpha 1, {what}: {flops / 1e9:.2f} GFLOP per G+D step, {seconds * 1e3:.1f} ms "
              f"per step (median of {STEP_REPEATS}) = {achieved:.1f} GFLOP/s on {device}; torch threads {threads}; "
              f"sgemm {SGEMM_SIZE}^2 float32 {sgemm:.1f} GFLOP/s; big oneDNN conv {conv:.1f} GFLOP/s "
              f"(step at {achieved / conv:.0%} of it); ratio = step GFLOP/s / sgemm GFLOP/s (target 0.5)")
        _timing.result(name, achieved, sgemm, achieved / sgemm)


if __name__ == "__main__":
    main()
