"""One image file -> one uint8 tensor (C, H, W) at the study's image size: the only per-file decode.

`DecodeOptions` is what the study file's `image_size`, `image_resize` and `image_channels` say. The
size policy is applied once, here, at decode time, and the result is cached with the decoded tensors
(the cache key holds size, policy and channels: `DecodeOptions.key`).

Decoders: JPEG, PNG and WebP through torchvision.io (libjpeg-turbo, libpng, libwebp on the raw
bytes), measured faster than a PIL loop by bench/decode.py; everything else (TIFF, BMP, PPM/PGM,
16-bit or palette images torchvision declines) through PIL.

Policies, for a target of h x w:
  resize       stretch to h x w (aspect ratio not kept; every pixel of the file is used)
  center-crop  scale so the image covers h x w (the short side fits), then cut the centre
  pad          scale so the image fits inside h x w (the long side fits), then pad with black
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from trainables.data.errors import DataError
from trainables.terms.choices import IMAGE_CHANNELS, IMAGE_RESIZES

_TORCHVISION_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I"}   # scaled to 8 bits (PIL's convert("L") would clip)
REFUSED_MODES = {"F": "32-bit floating-point pixels have no fixed range to map to 0-255"}


@dataclass(frozen=True)
class DecodeOptions:
    """size: (height, width), or None for the files' own shared size; fit: one of IMAGE_RESIZES;
    channels: one of IMAGE_CHANNELS."""

    size: tuple[int, int] | None = None
    fit: str = "resize"
    channels: str = "auto"

    def __post_init__(self) -> None:
        if self.fit not in IMAGE_RESIZES:
            raise DataError(f"image_resize {self.fit!r} is not one of {' | '.join(IMAGE_RESIZES)}")
        if self.channels not in IMAGE_CHANNELS:
            raise DataError(f"image_channels {self.channels!r} is not one of {' | '.join(IMAGE_CHANNELS)}")

    @classmethod
    def of(cls, spec) -> DecodeOptions:
        """From a study spec (its top-level image_size, image_resize, image_channels)."""
        size = getattr(spec, "image_size", "native")
        size = None if size == "native" else tuple(size)
        return cls(size, getattr(spec, "image_resize", "resize"), getattr(spec, "image_channels", "auto"))

    def key(self) -> str:
        """'' for the defaults (today's cache names stay valid), else e.g. '-64x64-pad-rgb'."""
        if self.size is None and self.channels == "auto":
            return ""
        size = "native" if self.size is None else f"{self.size[0]}x{self.size[1]}-{self.fit}"
        return f"-{size}-{self.channels}"

    def mode(self, header_modes: set[str]) -> str:
        """The PIL mode every image becomes: "L" or "RGB"."""
        if self.channels == "grey":
            return "L"
        if self.channels == "rgb":
            return "RGB"
        return "L" if header_modes <= GRAY_MODES else "RGB"


def read_header(file: Path) -> tuple[str, tuple[int, int]]:
    """(PIL mode, (height, width)) from the file's header, no pixels decoded; DataError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            mode, size = image.mode, (image.height, image.width)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise DataError(f"cannot read image {file}: {err}; fix or remove the file") from err
    if mode in REFUSED_MODES:
        raise DataError(f"image {file} has mode {mode}: {REFUSED_MODES[mode]}; save it as 8- or 16-bit grey or RGB")
    return mode, size


def _eight_bit(image, mode: str, file: Path) -> np.ndarray:
    """PIL image -> uint8 (H, W) or (H, W, 3) in `mode`. 16-bit grey is scaled by 255/65535 (PIL's
    convert("L") clips it at 255); palette images go through their palette."""
    if image.mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(image, dtype=np.int64)
        if wide.min() < 0 or wide.max() > 65535:
            raise DataError(f"image {file} has 32-bit pixel values outside 0-65535; save it as 8- or 16-bit")
        grey = ((wide * 255 + 32767) // 65535).astype(np.uint8)
        return grey if mode == "L" else np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(image.convert(mode))


def _with_pil(file: Path, mode: str) -> torch.Tensor:
    from PIL import Image

    try:
        with Image.open(file) as image:
            pixels = _eight_bit(image, mode, file)
    except (OSError, SyntaxError, ValueError) as err:  # truncated data shows up only when pixels are decoded
        raise DataError(f"cannot decode image {file}: {err}; fix or remove the file") from err
    tensor = torch.from_numpy(np.array(pixels, copy=True))
    return tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)


def _with_torchvision(file: Path, mode: str) -> torch.Tensor | None:
    """(C, H, W) uint8 in `mode`, or None when torchvision declines the file (PIL then tries). Read as
    RGB always (palettes expanded, alpha dropped, grey repeated), then grey by PIL's own luma, so the
    pixels are the ones PIL's convert gives, whatever the file holds."""
    from torchvision.io import ImageReadMode, decode_image, read_file

    try:
        pixels = decode_image(read_file(str(file)), mode=ImageReadMode.RGB)
    except (RuntimeError, ValueError):
        return None
    if pixels.dtype != torch.uint8 or pixels.ndim != 3 or pixels.shape[0] != 3:
        return None      # 16-bit PNGs and the like: PIL scales them
    if mode == "RGB":
        return pixels
    # ITU-R 601-2 luma, in integers, exactly as PIL's convert("L") rounds it (exact for grey files)
    r, g, b = pixels.to(torch.int32)
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).to(torch.uint8)[None]


def _scale(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(..., C, H, W) uint8 scaled to `size` (bilinear with antialiasing, as PIL's resize filters)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    batch = image if image.ndim == 4 else image[None]
    scaled = F.interpolate(batch.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
    scaled = scaled.round().clamp(0, 255).to(torch.uint8)
    return scaled if image.ndim == 4 else scaled[0]


def fit(image: torch.Tensor, options: DecodeOptions) -> torch.Tensor:
    """Apply the size policy to one decoded (C, H, W) uint8 image, or a batch (N, C, H, W) of one size."""
    if options.size is None:
        return image
    th, tw = options.size
    h, w = image.shape[-2:]
    if options.fit == "resize":
        return _scale(image, (th, tw))
    grow = max(th / h, tw / w) if options.fit == "center-crop" else min(th / h, tw / w)
    sh, sw = max(1, round(h * grow)), max(1, round(w * grow))
    if options.fit == "center-crop":
        sh, sw = max(sh, th), max(sw, tw)
        scaled = _scale(image, (sh, sw))
        top, left = (sh - th) // 2, (sw - tw) // 2
        return scaled[..., top:top + th, left:left + tw].contiguous()
    sh, sw = min(sh, th), min(sw, tw)
    scaled = _scale(image, (sh, sw))
    top, left = (th - sh) // 2, (tw - sw) // 2
    return F.pad(scaled, (left, tw - sw - left, top, th - sh - top), value=0)


def decode_file(file: Path, mode: str, options: DecodeOptions, expect: tuple[int, int]) -> torch.Tensor:
    """The file's pixels as uint8 (C, H, W) in `mode` at the study's size; `expect` is the size every
    decoded image must have (the target, or the files' shared native size)."""
    image = _with_torchvision(file, mode) if file.suffix.lower() in _TORCHVISION_SUFFIXES else None
    if image is None:
        image = _with_pil(file, mode)
    image = fit(image, options)
    if tuple(image.shape[1:]) != tuple(expect):
        raise DataError(f"image {file} decodes to {image.shape[1]}x{image.shape[2]}, its header said "
                        f"{expect[0]}x{expect[1]}; fix or remove the file")
    return image


def convert_all(images: torch.Tensor, options: DecodeOptions, chunk: int = 1024) -> torch.Tensor:
    """A registry dataset's uint8 (N, C, H, W) images at the study's size and channels (its files are
    one size already, so the whole set goes through `fit` in batches)."""
    channels = images.shape[1]
    want = {"grey": 1, "rgb": 3}.get(options.channels, channels)
    out = []
    for start in range(0, len(images), chunk):
        batch = images[start:start + chunk]
        if want == 3 and channels == 1:
            batch = batch.expand(-1, 3, -1, -1)
        elif want == 1 and channels == 3:
            r, g, b = batch.to(torch.int32).unbind(1)
            batch = ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).to(torch.uint8)[:, None]
        out.append(fit(batch, options) if options.size is not None else batch)
    return torch.cat(out).contiguous() if out else images
