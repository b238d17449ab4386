"""classifier_train: fit.train_classifier vs a plain PyTorch loop over a torchvision-style DataLoader.

Both sides get the same model (built from the same seed), the same data (mnist-5k, 4,000 train,
1,000 test), batch 64, Adam lr 1e-3, cross-entropy, the same epochs, and both evaluate on the whole
test set after every epoch (fit does; so the baseline does too, through a test DataLoader). Timed
end to end per call (model build + training + evaluation). Both final accuracies are printed: the
speed-up only counts if the accuracy matches within seed noise. Target: >= 1.3x.

On `--device cuda` both train on the GPU: ours as a study trial does there (data resident on the
device, bf16 autocast, channels_last), the baseline with pinned DataLoader batches copied per batch.

Run: .venv/bin/python bench/classifier_train.py [--device cpu|cuda]   (default: cuda when there is one)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bench import _timing  # noqa: E402
from bench._baseline import pil_loader  # noqa: E402
from trainables.classifier import fit  # noqa: E402
from trainables.classifier.models import CLASSIFIERS  # noqa: E402
from trainables.data import datasets as data
from trainables.data.images import ImageSet

BATCH_SIZE = 64
LR = 1e-3
SEED = 0
# (classifier, epochs, repeats): cnn2 costs ~20x an mlp epoch, so fewer epochs and repeats.
CASES = (("mlp", 3, 5), ("cnn2", 2, 3))


def build(name: str, train: ImageSet) -> torch.nn.Module:
    with fit.seeded(SEED):
        return CLASSIFIERS[name](*train.shape, train.num_classes)


def ours(name: str, epochs: int, train: ImageSet, test: ImageSet, device: torch.device) -> float:
    model = build(name, train)
    result = fit.train_classifier(model, train, test, epochs=epochs, batch_size=BATCH_SIZE, lr=LR, seed=SEED,
                                  device=device)
    return result.test_acc


def baseline(name: str, epochs: int, train: ImageSet, test: ImageSet, device: torch.device) -> float:
    """The loop of the PyTorch MNIST example: DataLoader in, Adam step per batch, test every epoch."""
    model = build(name, train).to(device)
    pin = device.type == "cuda"
    train_loader = pil_loader(train.images, train.labels, batch_size=BATCH_SIZE, shuffle=True, seed=SEED, pin_memory=pin)
    test_loader = pil_loader(test.images, test.labels, batch_size=1000, shuffle=False, pin_memory=pin)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    with fit.seeded(SEED):  # same dropout treatment as fit: global RNG pinned, restored after
        for _ in range(epochs):
            model.train()
            for x, y in train_loader:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
            model.eval()
            correct, total, test_loss = 0, 0, 0.0
            with torch.no_grad():
                for x, y in test_loader:
                    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                    logits = model(x)
                    test_loss += float(F.cross_entropy(logits, y, reduction="sum"))
                    correct += int((logits.argmax(1) == y).sum())
                    total += y.numel()
    return correct / total


def main() -> None:
    device = _timing.bench_device(__doc__.splitlines()[0])
    threads = _timing.configure_threads()
    train, test = data.load_dataset("mnist-5k")
    print(f"classifier_train: mnist-5k {len(train)} train / {len(test)} test, batch {BATCH_SIZE}, lr {LR}, "
          f"Adam, torch threads {threads}, device {device}; baseline DataLoader num_workers=0")
    for name, epochs, repeats in CASES:
        accuracy = {"ours": [], "baseline": []}

        def run_ours(name=name, epochs=epochs, accuracy=accuracy):
            accuracy["ours"].append(ours(name, epochs, train, test, device))

        def run_baseline(name=name, epochs=epochs, accuracy=accuracy):
            accuracy["baseline"].append(baseline(name, epochs, train, test, device))

        timings = _timing.compare(run_ours, run_baseline, repeats=repeats)
        print(f"classifier_train_{name}: {epochs} epochs; final test accuracy ours {accuracy['ours'][-1]:.4f}, "
              f"baseline {accuracy['baseline'][-1]:.4f} (each side deterministic for a fixed seed; "
              f"the two differ only in batch order)")
        _timing.report_timings(f"classifier_train_{name}", timings, f"training run ({epochs} epochs + evals)")


if __name__ == "__main__":
    main()
