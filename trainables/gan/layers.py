"""Building blocks every GAN architecture in trainables/gan/archs.py shares: DCGAN initialisation, the width
multiplier, shape checks, the upsampling plan, one-hot conditioning and transposed convolutions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

Shape = tuple[int, int, int]


def dcgan_init_(module: nn.Module) -> nn.Module:
    """DCGAN initialisation (Radford et al. 2016, section 4): weights ~ N(0, 0.02), BN scale ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def width(base: int, alpha: float) -> int:
    """Channel count `base * alpha`, rounded, at least 1."""
    return max(1, int(round(base * alpha)))


def check_shape(shape, arch: str) -> Shape:
    if len(shape) != 3 or any(int(s) < 1 for s in shape):
        raise ValueError(f"{arch}: image shape must be (C, H, W) with positive sizes, got {tuple(shape)}")
    return int(shape[0]), int(shape[1]), int(shape[2])


def check_alpha(alpha: float, arch: str) -> float:
    """The study file's schema refused alpha <= 0 (naming gan.alpha); a direct caller's mistake is asserted."""
    assert alpha > 0, f"{arch}: alpha must be > 0 (a width multiplier), got {alpha}"
    return alpha


def upsampling_plan(height: int, width_: int, max_doublings: int, arch: str) -> tuple[int, int, int]:
    """(start_h, start_w, doublings): halve both sides while they stay even and >= 4.

    32 -> 4x4 and 3 doublings, 28 -> 7x7 and 2 doublings, 64 -> 4x4 and 4. The generator starts
    from the small map and doubles it with stride-2 transposed convolutions; the discriminator
    mirrors that with stride-2 convolutions.
    """
    h, w, doublings = height, width_, 0
    while doublings < max_doublings and h % 2 == 0 and w % 2 == 0 and h // 2 >= 4 and w // 2 >= 4:
        h, w, doublings = h // 2, w // 2, doublings + 1
    if doublings == 0:
        raise ValueError(
            f"{arch}: image size {height}x{width_} cannot be halved (needs even sides >= 8); "
            "resize the images (e.g. to 28x28 or 32x32)"
        )
    return h, w, doublings


def extra_doublings(height: int, width_: int, start: int = 8) -> int:
    """Halvings that bring a map of height x width_ (even sides) down to `start` pixels: 0 up to 32x32
    images' maps, 1 for 64, 2 for 128 (architectures whose paper fixes the depth at 28/32 grow by this)."""
    extra = 0
    while height > start and width_ > start and height % 2 == 0 and width_ % 2 == 0:
        height, width_, extra = height // 2, width_ // 2, extra + 1
    return extra


class Conditioning(nn.Module):
    """Label bookkeeping shared by every generator and discriminator."""

    def __init__(self, num_classes: int | None):
        super().__init__()
        if num_classes is not None and num_classes < 2:
            raise ValueError(f"num_classes must be >= 2 for a conditional model, got {num_classes}")
        self.num_classes = num_classes

    @property
    def label_dim(self) -> int:
        return self.num_classes or 0

    def _one_hot(self, labels: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
        """One-hot labels (B, K) in like's dtype, or None for an unconditional model."""
        if self.num_classes is None:
            if labels is not None:
                raise ValueError("this model is unconditional (num_classes=None); call it without labels")
            return None
        if labels is None:
            raise ValueError(f"this model is conditioned on {self.num_classes} classes; pass labels")
        return F.one_hot(labels.long(), self.num_classes).to(like.dtype)

    def _with_label_vector(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        onehot = self._one_hot(labels, z)
        return z if onehot is None else torch.cat([z, onehot], dim=1)

    def _with_label_maps(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        onehot = self._one_hot(labels, x)
        if onehot is None:
            return x
        maps = onehot[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return torch.cat([x, maps], dim=1)


def tconv_double(c_in: int, c_out: int, kernel: int) -> nn.ConvTranspose2d:
    """Transposed convolution that exactly doubles H and W ('same' padding, stride 2)."""
    return nn.ConvTranspose2d(c_in, c_out, kernel, stride=2, padding=kernel // 2, output_padding=1)


def tconv_same(c_in: int, c_out: int, kernel: int) -> nn.ConvTranspose2d:
    """Transposed convolution that keeps H and W (odd kernel, stride 1)."""
    return nn.ConvTranspose2d(c_in, c_out, kernel, stride=1, padding=kernel // 2)


def tconv(c_in: int, c_out: int, kernel: int, stride: int) -> nn.ConvTranspose2d:
    return tconv_double(c_in, c_out, kernel) if stride == 2 else tconv_same(c_in, c_out, kernel)


def strides(layers: int, doublings: int) -> list[int]:
    """Stride per layer: the last `doublings` layers upsample, the first ones keep the size."""
    return [1] * (layers - doublings) + [2] * doublings
