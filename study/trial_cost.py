"""What a classifier trial is expected to cost, relative to the others of its study: the ETA's weights.

A trial's compute is about (real + synthetic images) x epochs x the classifier's forward FLOPs per
image (the backward pass is a fixed multiple of it). Counting every trial as one unit made the ETA
grow from 1.5 to 6 minutes when slow trials (large n, large R, alexnet) followed fast ones. Epochs are
the cap (early stopping ends most trials sooner, about proportionally across one study's trials). The
FLOPs are measured once per classifier on one image of the study's shape (a fraction of a second);
a classifier that cannot be measured counts as the cheapest one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from study import plan


def classifier_flops(names: Iterable[str], shape: tuple[int, int, int], num_classes: int) -> dict[str, float]:
    """name -> forward FLOPs of one image (1.0 where it cannot be measured)."""
    import torch

    from trainables.classifier.models import CLASSIFIERS

    measured: dict[str, float] = {}
    for name in sorted(set(names)):
        try:
            measured[name] = _forward_flops(CLASSIFIERS[name](*shape, num_classes).eval(), torch.zeros(1, *shape))
        except Exception:   # an exotic model the count cannot run: the ETA is only less exact
            measured[name] = 1.0
    floor = min(measured.values(), default=1.0)
    return {name: max(flops, floor) for name, flops in measured.items()}


def _forward_flops(model, image) -> float:
    """2 x the multiply-adds of the model's convolutions and linear layers on `image`, counted by forward
    hooks: nearly all of a classifier's compute, as torch.utils.flop_counter counts it (it agrees on the
    registry's models), without that counter's import of torch._dynamo (1.5 s of CPU in every study
    driver, which trains nothing itself)."""
    import torch
    from torch import nn

    counted = [0]

    def count(module, inputs, output) -> None:
        if isinstance(module, nn.Linear):
            counted[0] += output.numel() * module.in_features
        else:   # a convolution: each output element sums over its kernel and its group's input channels
            kernel = module.weight[0].numel()   # in_channels / groups x kernel size
            counted[0] += output.numel() * kernel

    layers = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, layers)]
    try:
        with torch.no_grad():
            model(image)
    finally:
        for hook in hooks:
            hook.remove()
    return float(2 * counted[0]) or 1.0


def trial_images(point: dict, train_size: int) -> int:
    n = plan.resolved_size(point["size"], train_size)
    real = n if point.get("real", True) else 0
    return real + int(round(float(point.get("ratio", 0.0)) * n))


def cost_model(flops: dict[str, float], train_size: int) -> Callable[[dict], float]:
    """point -> its expected cost (images x epochs cap x FLOPs per image)."""
    def cost(point: dict) -> float:
        epochs = int(point.get("classifier_epochs") or 1)
        return trial_images(point, train_size) * epochs * flops.get(point.get("classifier"), 1.0)

    return cost
