"""The one classifier training engine: Tune classifier trials, GAN quality scores and benchmarks.

Data stays as uint8 tensors on the training device; an epoch is a list of randperm index slices
(`sampling.index_batches`), each converted to [-1, 1] and augmented as one batched tensor op. There is
no Dataset/DataLoader: for in-memory images the per-sample path is the slow part, not the model.
Conv nets run in channels_last on every device (oneDNN's native layout on the CPU: a cnn2 step is
1.6-1.8x faster, resnet18 1.13x; see `channels_last_pays`); on CUDA the forward pass also runs under
bf16 autocast.

Reproducibility: build the model inside `seeded(seed)`, then call `train_classifier(..., seed=seed)`;
the seed fixes the initial weights, the batch order, the augmentation draws and dropout, and the
caller's global RNG state is left as it was.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from trainables.data import sampling
from trainables.data.images import ImageSet
from trainables.terms.choices import AUGMENTS, SCHEDULES

EVAL_BATCH_SIZE = 1024


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the trial ends as 'diverged' with this reason."""

    def __init__(self, epoch: int, message: str):
        super().__init__(f"diverged at epoch {epoch}: {message}")
        self.epoch = epoch
        self.reason = message


@dataclass
class FitResult:
    """Final metrics of one training run (results.csv's metric columns: docs/ARCHITECTURE.md, "Outputs"). An "epoch" is one
    evaluation period of the schedule (see `Schedule`)."""

    test_acc: float  # last epoch
    test_acc_max: float  # best epoch chosen on test (what Abadi reports: the papers' protocol, optimistic)
    test_loss: float  # last epoch
    train_loss: float  # last epoch, mean over its batches weighted by batch size
    precision: float  # macro, at the selected epoch (best validation accuracy; the last without validation)
    recall: float  # macro, at the selected epoch
    f1: float  # macro (mean of per-class F1), at the selected epoch
    per_class_acc: list[float]  # at the selected epoch, = per-class recall
    train_seconds: float  # optimisation only, evaluation excluded
    images_per_second: float  # training images processed per training second
    epochs: list[dict] = field(default_factory=list)  # {epoch, val_acc, val_loss, test_acc, test_loss, train_loss}
    val_acc_max: float = math.nan  # best validation accuracy (NaN without a validation set)
    best_val_epoch: int | None = None  # the epoch it was reached (the first, on ties)
    test_acc_at_best_val: float = math.nan  # test accuracy at that epoch: the honest metric
    train_steps: int = 0  # optimizer updates
    stopped_early: bool = False


@dataclass(frozen=True)
class Schedule:
    """How long a classifier trains and when it is evaluated.

    periods: evaluation periods (the cap under early stopping). period_steps: optimizer updates per
    period, or None for one pass over the training set (an epoch). patience: stop after this many
    periods without a better validation accuracy (None: never stop early).
    """

    periods: int
    period_steps: int | None = None
    patience: int | None = None


def _epochs_schedule(epochs: int, patience: int, real_steps: int) -> Schedule:
    return Schedule(epochs)


def _steps_schedule(epochs: int, patience: int, real_steps: int) -> Schedule:
    return Schedule(epochs, real_steps)


def _early_stop_schedule(epochs: int, patience: int, real_steps: int) -> Schedule:
    return Schedule(epochs, real_steps, patience)


# classifier.schedule -> Schedule. "epochs" is the papers' protocol: epochs over the mixed set, so a
# trial with R x n synthetic images makes (1 + R) times the updates of R = 0. "steps" gives every R
# of a cell the updates of `epochs` epochs over the real subset alone. "early-stop" evaluates at the
# same step counts and stops after `patience` evaluations without a better validation accuracy.
SCHEDULE_BUILDERS = {"epochs": _epochs_schedule, "steps": _steps_schedule, "early-stop": _early_stop_schedule}
assert tuple(SCHEDULE_BUILDERS) == SCHEDULES, "one builder per schedule a study file may name (terms.choices)"


def schedule_for(kind: str, epochs: int, patience: int, real_images: int, batch_size: int) -> Schedule:
    """The Schedule of a trial whose real subset has `real_images` images (updates of one real epoch:
    ceil(real_images / batch_size))."""
    if kind not in SCHEDULE_BUILDERS:
        raise ValueError(f"unknown schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")
    return SCHEDULE_BUILDERS[kind](epochs, patience, max(1, math.ceil(real_images / batch_size)))


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's global RNG (CPU and CUDA) seeded, restoring the outer state after.

    Use it around model construction so the initial weights depend on `seed` only:
        with fit.seeded(seed):
            model = CLASSIFIERS[name](c, h, w, k)
    """
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, K) int64 counts: row = true class, column = predicted class."""
    flat = labels.long().cpu() * num_classes + predictions.long().cpu()
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def metrics_from_confusion(confusion: torch.Tensor) -> dict:
    """Accuracy, macro precision/recall/F1 and per-class accuracy from a confusion matrix.

    Same definitions as sklearn's macro averages with zero_division=0: a class never predicted
    has precision 0, a class with no test images has recall 0, and F1 is averaged per class
    (not computed from the averaged precision and recall).
    """
    confusion = confusion.double()
    correct = confusion.diag()
    true_counts, predicted_counts = confusion.sum(1), confusion.sum(0)
    recall = torch.where(true_counts > 0, correct / true_counts.clamp(min=1), 0.0)
    precision = torch.where(predicted_counts > 0, correct / predicted_counts.clamp(min=1), 0.0)
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-12), 0.0)
    return {
        "accuracy": float(correct.sum() / confusion.sum().clamp(min=1)),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
        "per_class_acc": recall.tolist(),
    }


def channels_last_pays(model: nn.Module) -> bool:
    """Whether `model` should run in channels_last: it has 2D (transposed) convolutions, and all its
    parameters are at most 4D (the stacked (K, ...) weights of a vmapped group are 5D and cannot).

    Measured on a 2-core AMD CPU, 1 thread, train step at batch 64: cnn2 1.57x (28x28) and 1.77x
    (32x32) faster than NCHW, lenet 1.2x, alexnet 1.1x, inception 1.5-2.0x, resnet18 1.13x, the
    abadi GAN 1.09-1.14x; on CUDA channels_last is what tensor-core convolutions want.
    """
    has_conv = any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in model.modules())
    return has_conv and all(p.dim() <= 4 for p in model.parameters())


def _autocast(device: torch.device):
    """bf16 autocast on CUDA (no loss scaling needed for bf16); a no-op elsewhere."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


def _prepare(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _logits(model: nn.Module, images: torch.Tensor, batch_size: int, device: torch.device,
            channels_last: bool) -> torch.Tensor:
    """Float32 logits for uint8 images, in eval mode and large batches, on `device`."""
    was_training = model.training
    model.eval()
    outputs = []
    with torch.no_grad(), _autocast(device):
        for start in range(0, images.shape[0], batch_size):
            x = sampling.to_model_input(images[start:start + batch_size].to(device, non_blocking=True))
            outputs.append(model(_prepare(x, channels_last)).float())
    model.train(was_training)
    if not outputs:
        return torch.empty(0, 0, device=device)
    return torch.cat(outputs)


def predict(model: nn.Module, images_uint8: torch.Tensor, batch_size: int = EVAL_BATCH_SIZE,
            device: str | torch.device = "cpu") -> torch.Tensor:
    """Logits (N, K), float32 on the CPU, for uint8 images (N, C, H, W); the model moves to `device`.

    Runs in eval mode without gradients and restores the model's train/eval mode afterwards.
    """
    device = torch.device(device)
    model.to(device)
    return _logits(model, images_uint8, batch_size, device, channels_last_pays(model)).cpu()


def _check_args(train, test, epochs: int, batch_size: int, lr: float, augment: str) -> None:
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}, got {augment!r}")
    if len(train) == 0:
        raise ValueError("the training set is empty; use a size > 0 or a ratio > 0 with real = false")
    if len(test) == 0:
        raise ValueError("the test set is empty")
    if train.shape != test.shape:
        raise ValueError(f"train images {train.shape} and test images {test.shape} differ in shape")


def _period_batches(n: int, batch_size: int, generator: torch.Generator, drop_last: bool,
                    period_steps: int | None) -> Iterator[list[torch.Tensor]]:
    """The index batches of each evaluation period: one pass over the data per period, or a fixed
    number of updates cut from back-to-back passes (each pass a fresh permutation)."""
    if period_steps is None:
        while True:
            yield list(sampling.index_batches(n, batch_size, generator, drop_last=drop_last))
    stream = itertools.chain.from_iterable(sampling.index_batches(n, batch_size, generator, drop_last=drop_last)
                                           for _ in itertools.count())
    while True:
        yield list(itertools.islice(stream, period_steps))


def _evaluate(model, images, labels, device, channels_last) -> tuple[float, float, torch.Tensor]:
    """(accuracy, loss, predictions) on a whole labelled set."""
    logits = _logits(model, images, EVAL_BATCH_SIZE, device, channels_last)
    loss = float(F.cross_entropy(logits, labels))
    predictions = logits.argmax(1)
    return float((predictions == labels).double().mean()), loss, predictions


def train_classifier(
    model: nn.Module,
    train: ImageSet,
    test: ImageSet,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    augment: str = "none",
    hflip: bool = False,
    device: str | torch.device = "cpu",
    on_epoch: Callable[[int, dict], None] | None = None,
    validation: ImageSet | None = None,
    schedule: Schedule | None = None,
) -> FitResult:
    """Train `model` with Adam and cross-entropy, evaluating on the validation and the whole test set
    after every period of `schedule` (default: `epochs` epochs over `train`).

    Every choice is made on validation, never on test: the selected epoch (best validation accuracy)
    gives test_acc_at_best_val and the macro metrics; early stopping watches validation only.
    `augment="classic"` applies `sampling.augment_classic` (random crop after padding, plus a horizontal
    flip when `hflip`) to every batch. `on_epoch(epoch, metrics)` runs after each period with metrics
    {epoch, val_acc, val_loss, test_acc, test_loss, train_loss}; an exception it raises stops
    training and propagates. Raises TrainingDiverged when a period's training loss is NaN/inf.
    """
    schedule = schedule or Schedule(epochs)
    epochs = schedule.periods
    has_validation = validation is not None and len(validation) > 0
    _check_args(train, test, epochs, batch_size, lr, augment)
    device = torch.device(device)
    num_classes = max(train.num_classes, test.num_classes)
    channels_last = channels_last_pays(model)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    # Moved once; every batch below is an index slice of tensors already on the device.
    train_images, train_labels = train.images.to(device), train.labels.to(device)
    test_images, test_labels = test.images.to(device), test.labels.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(train)
    # A final batch of one image breaks BatchNorm in training mode ("expected more than 1 value
    # per channel"); drop it in that single case rather than fail or silently skip more.
    drop_last = n > 1 and n % batch_size == 1

    if has_validation:
        val_images, val_labels = validation.images.to(device), validation.labels.to(device)

    history: list[dict] = []
    train_seconds, images_seen, steps = 0.0, 0, 0
    best_val, best_epoch, selected_predictions, stopped_early = -math.inf, None, None, False
    with seeded(seed):  # dropout draws come from the global RNG: pin them to the seed as well
        order_gen = torch.Generator(device=device).manual_seed(seed)
        augment_gen = torch.Generator(device=device).manual_seed(seed + 1)
        periods = _period_batches(n, batch_size, order_gen, drop_last, schedule.period_steps)
        for epoch in range(1, epochs + 1):
            model.train()
            loss_sum = torch.zeros((), device=device)
            seen = 0
            started = time.perf_counter()
            for index in next(periods):
                index = index.to(device)
                x = sampling.to_model_input(train_images[index])
                if augment == "classic":
                    x = sampling.augment_classic(x, augment_gen, hflip)
                with _autocast(device):
                    logits = model(_prepare(x, channels_last))
                loss = F.cross_entropy(logits.float(), train_labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                # Accumulated on the device: one host sync per epoch, not per batch.
                loss_sum += loss.detach() * index.numel()
                seen += index.numel()
                steps += 1
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            train_seconds += time.perf_counter() - started
            images_seen += seen
            train_loss = float(loss_sum) / max(seen, 1)
            if not math.isfinite(train_loss):
                raise TrainingDiverged(epoch, f"training loss is {train_loss} (try a lower lr)")

            test_acc, test_loss, predictions = _evaluate(model, test_images, test_labels, device, channels_last)
            if not math.isfinite(test_loss):
                raise TrainingDiverged(epoch, f"test loss is {test_loss} (the model outputs non-finite logits)")
            val_acc, val_loss = math.nan, math.nan
            if has_validation:
                val_acc, val_loss, _ = _evaluate(model, val_images, val_labels, device, channels_last)
                if val_acc > best_val:
                    best_val, best_epoch, selected_predictions = val_acc, epoch, predictions
            metrics = {"epoch": epoch, "val_acc": val_acc, "val_loss": val_loss, "test_acc": test_acc,
                       "test_loss": test_loss, "train_loss": train_loss}
            history.append(metrics)
            if on_epoch is not None:
                on_epoch(epoch, dict(metrics))
            if schedule.patience and best_epoch is not None and epoch - best_epoch >= schedule.patience:
                stopped_early = epoch < epochs
                break

    selected = selected_predictions if selected_predictions is not None else predictions
    final = metrics_from_confusion(confusion_matrix(test_labels, selected, num_classes))
    last = history[-1]
    return FitResult(
        test_acc=last["test_acc"],
        test_acc_max=max(m["test_acc"] for m in history),
        test_loss=last["test_loss"],
        train_loss=last["train_loss"],
        precision=final["precision"],
        recall=final["recall"],
        f1=final["f1"],
        per_class_acc=final["per_class_acc"],
        train_seconds=train_seconds,
        images_per_second=images_seen / train_seconds if train_seconds > 0 else 0.0,
        epochs=history,
        val_acc_max=best_val if has_validation else math.nan,
        best_val_epoch=best_epoch,
        test_acc_at_best_val=history[best_epoch - 1]["test_acc"] if best_epoch else math.nan,
        train_steps=steps,
        stopped_early=stopped_early,
    )
