"""data_loading: one epoch of training batches, our tensor path vs a torchvision-style DataLoader.

Ours: `sampling.index_batches` (randperm slices) -> uint8 index -> `sampling.to_model_input`, optionally
`sampling.augment_classic` on the whole batch. Baseline: `PilImageDataset` + DataLoader (PIL image per
sample, ToTensor + Normalize, optionally RandomCrop), num_workers=0 (a 2-core laptop) and, as a
second baseline, num_workers=2 with persistent workers (its start-up cost excluded, the strongest
form of that baseline). Same images (mnist-5k train, 4,000), batch 64. Target: >= 5x.

On `--device cuda` both sides deliver batches on the GPU: ours indexes images resident on the device
(as fit.train_classifier does), the DataLoader's batches are pinned and copied per batch (pin_memory,
`.to(device, non_blocking=True)`, as the PyTorch examples do).

Run: .venv/bin/python bench/data_loading.py [--device cpu|cuda]   (default: cuda when there is one)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench import _timing  # noqa: E402
from bench._baseline import pil_loader  # noqa: E402
from trainables.data import datasets as data  # noqa: E402
from trainables.data import sampling
from trainables.data.images import ImageSet

BATCH_SIZE = 64
REPEATS = 7
EPOCHS_PER_REPEAT = 3  # one epoch of ours is a few milliseconds: time several per repeat


def our_epoch(train: ImageSet, augment: bool, generator: torch.Generator) -> int:
    """Consume one epoch the way fit.train_classifier makes it; returns the images seen."""
    seen = 0
    for index in sampling.index_batches(len(train), BATCH_SIZE, generator):   # train and generator on one device
        x = sampling.to_model_input(train.images[index])
        if augment:
            x = sampling.augment_classic(x, generator, hflip=False)
        y = train.labels[index]
        seen += y.numel() + 0 * x.shape[0]
    return seen


def loader_epoch(loader, device: torch.device) -> int:
    seen = 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        seen += y.numel() + 0 * x.shape[0]
    return seen


def main() -> None:
    device = _timing.bench_device(__doc__.splitlines()[0])
    threads = _timing.configure_threads()
    cpu_train, _ = data.load_dataset("mnist-5k")
    train = ImageSet(cpu_train.images.to(device), cpu_train.labels.to(device), cpu_train.classes)
    print(f"data_loading: mnist-5k train {len(train)} images {train.shape}, batch {BATCH_SIZE}, "
          f"torch threads {threads}, {EPOCHS_PER_REPEAT} epochs per repeat, device {device}")
    generator = torch.Generator(device=device).manual_seed(0)
    cases = [
        ("data_loading", False, 0),
        ("data_loading_classic_aug", True, 0),
        ("data_loading_vs_workers2", False, 2),
    ]
    for name, augment, workers in cases:
        loader = pil_loader(cpu_train.images, cpu_train.labels, batch_size=BATCH_SIZE, num_workers=workers,
                            augment=augment, pad=sampling.default_pad(28, 28), persistent_workers=True,
                            pin_memory=device.type == "cuda")
        assert our_epoch(train, augment, generator) == loader_epoch(loader, device) == len(train)
        timings = _timing.compare(
            lambda a=augment: [our_epoch(train, a, generator) for _ in range(EPOCHS_PER_REPEAT)],
            lambda ld=loader: [loader_epoch(ld, device) for _ in range(EPOCHS_PER_REPEAT)], repeats=REPEATS)
        timings = _timing.Timings([t / EPOCHS_PER_REPEAT for t in timings.ours],
                                  [t / EPOCHS_PER_REPEAT for t in timings.baseline])
        print(f"{name}: augment={'classic' if augment else 'none'}, baseline num_workers={workers}; "
              f"ours {len(train) / timings.ours_median:,.0f} images/s, "
              f"baseline {len(train) / timings.baseline_median:,.0f} images/s")
        _timing.report_timings(name, timings, "epoch")
        del loader


if __name__ == "__main__":
    main()
