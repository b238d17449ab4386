"""Differentiable augmentation of the discriminator's inputs (DiffAugment; Zhao et al. 2020).

With few real images the discriminator memorises them and the generator stops learning. DiffAugment
applies the same random, differentiable transforms to real and fake images *before* D (in both the
D and the G step, so G's gradients flow through them), which keeps D from overfitting without
changing the distribution G learns. Policies: `translation` (shift by up to 1/8 of the image, zero
padding), `cutout` (a zeroed square of half the image side), `color` (brightness, saturation,
contrast; RGB only). `strength` scales every magnitude (1 = the paper's). Images are in [-1, 1] and
shaped (..., C, H, W); leading dimensions (the group axis) are flattened and restored. Random draws
come from torch's global RNG, which the training loop reseeds per (seed, epoch, rank).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def _brightness(x: torch.Tensor, strength: float) -> torch.Tensor:
    return x + (torch.rand(x.shape[0], 1, 1, 1, device=x.device) - 0.5) * strength


def _saturation(x: torch.Tensor, strength: float) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (1 + (torch.rand(x.shape[0], 1, 1, 1, device=x.device) * 2 - 1) * strength) + mean


def _contrast(x: torch.Tensor, strength: float) -> torch.Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (1 + (torch.rand(x.shape[0], 1, 1, 1, device=x.device) - 0.5) * strength) + mean


def color(x: torch.Tensor, strength: float) -> torch.Tensor:
    return _contrast(_saturation(_brightness(x, strength), strength), strength)


def translation(x: torch.Tensor, strength: float) -> torch.Tensor:
    batch, _, height, width = x.shape
    shift_h, shift_w = int(height * TRANSLATION_RATIO * strength + 0.5), int(width * TRANSLATION_RATIO * strength + 0.5)
    if shift_h == 0 and shift_w == 0:
        return x
    dy = torch.randint(-shift_h, shift_h + 1, size=[batch, 1, 1], device=x.device)
    dx = torch.randint(-shift_w, shift_w + 1, size=[batch, 1, 1], device=x.device)
    grid_b, grid_y, grid_x = torch.meshgrid(torch.arange(batch, device=x.device), torch.arange(height, device=x.device),
                                            torch.arange(width, device=x.device), indexing="ij")
    grid_y = torch.clamp(grid_y + dy + 1, 0, height + 1)
    grid_x = torch.clamp(grid_x + dx + 1, 0, width + 1)
    padded = F.pad(x, [1, 1, 1, 1], value=-1.0)        # -1 is black in [-1, 1]
    return padded.permute(0, 2, 3, 1)[grid_b, grid_y, grid_x].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, strength: float) -> torch.Tensor:
    batch, _, height, width = x.shape
    size_h, size_w = int(height * CUTOUT_RATIO * strength + 0.5), int(width * CUTOUT_RATIO * strength + 0.5)
    if size_h == 0 or size_w == 0:
        return x
    off_y = torch.randint(0, height + (1 - size_h % 2), size=[batch, 1, 1], device=x.device)
    off_x = torch.randint(0, width + (1 - size_w % 2), size=[batch, 1, 1], device=x.device)
    grid_b, grid_y, grid_x = torch.meshgrid(torch.arange(batch, device=x.device), torch.arange(size_h, device=x.device),
                                            torch.arange(size_w, device=x.device), indexing="ij")
    grid_y = torch.clamp(grid_y + off_y - size_h // 2, 0, height - 1)
    grid_x = torch.clamp(grid_x + off_x - size_w // 2, 0, width - 1)
    mask = torch.ones(batch, height, width, dtype=x.dtype, device=x.device)
    mask[grid_b, grid_y, grid_x] = 0
    return x * mask.unsqueeze(1) + (mask.unsqueeze(1) - 1)   # the cut square becomes -1 (black)


# The transforms of trainables.terms.gan_options.DIFFAUGMENT_POLICIES, where a policy string is parsed
# and checked (without torch, for the study file's check).
POLICIES: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], strength: float) -> torch.Tensor:
    """x (..., C, H, W) with every transform of `policy` applied, differentiably."""
    if not policy or strength <= 0:
        return x
    shape = x.shape
    flat = x.reshape(-1, *shape[-3:])
    for name in policy:
        flat = POLICIES[name](flat, strength)
    return flat.contiguous().reshape(shape)
