"""Image files -> uint8 tensors (C, H, W) at the study's image size: the only per-file decode, and the
decode of a user's scanned images (trainables.data.layout) on a thread pool (libjpeg, libpng and PIL
release the GIL), with a progress line for large sets.

`DecodeOptions` (trainables.data.headers) is what the study file's `image_size`, `image_resize` and
`image_channels` say. The size policy is applied once, here, at decode time, and the result is cached
with the decoded tensors (the cache key holds size, policy and channels: `DecodeOptions.key`).

Decoders: JPEG, PNG and WebP through torchvision.io (libjpeg-turbo, libpng, libwebp on the raw
bytes), measured faster than a PIL loop by bench/decode.py; everything else (TIFF, BMP, PPM/PGM,
16-bit or palette images torchvision declines) through PIL.

Policies, for a target of h x w:
  resize       stretch to h x w (aspect ratio not kept; every pixel of the file is used)
  center-crop  scale so the image covers h x w (the short side fits), then cut the centre
  pad          scale so the image fits inside h x w (the long side fits), then pad with black
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from trainables.data.errors import DataError
from trainables.data.headers import DecodeOptions
from trainables.data.images import ImageSet
from trainables.data.layout import ImageLayout, Pairs
from trainables.data.sampling import stratified_split

_TORCHVISION_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I"}   # scaled to 8 bits (PIL's convert("L") would clip)


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


# ---------------------------------------------------------------------------------------------
# A user's scanned images (trainables.data.layout), decoded on a thread pool
# ---------------------------------------------------------------------------------------------
PROGRESS_FROM = 2000          # images: smaller sets decode in a moment, without a progress line
PROGRESS_EVERY_S = 2.0


def _workers() -> int:
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def decode_pairs(pairs: Pairs, layout: ImageLayout, say: Callable[[str], None] | None = None,
                 workers: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images (N, C, H, W), int64 labels) for `pairs`, decoded on a thread pool; a progress
    line every few seconds when the set is large; the first file that fails is named."""
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    images = torch.empty((len(pairs), layout.channels, *layout.size), dtype=torch.uint8)

    def one(i: int) -> None:
        images[i] = decode_file(pairs[i][0], layout.mode, layout.options, layout.size)

    started = last = time.monotonic()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)      # each worker resizes one image; no nested thread pools
    try:
        with ThreadPoolExecutor(workers or _workers()) as pool:
            for done, _ in enumerate(pool.map(one, range(len(pairs))), start=1):
                now = time.monotonic()
                if len(pairs) >= PROGRESS_FROM and (now - last >= PROGRESS_EVERY_S or done == len(pairs)):
                    last = now
                    rate = done / max(now - started, 1e-9)
                    say(f"[study] decoding {layout.root}: {done:,}/{len(pairs):,} images ({rate:,.0f}/s)")
    finally:
        torch.set_num_threads(threads)
    labels = torch.tensor([label for _, label in pairs], dtype=torch.int64)
    return images, labels


# ---------------------------------------------------------------------------------------------
# The rows of the last decode, kept so that a changed folder decodes only what changed
# ---------------------------------------------------------------------------------------------

ROWS_FORMAT = 1


def _file_key(layout: ImageLayout, file: Path) -> str:
    stat = file.stat()
    return f"{file.relative_to(layout.root)}|{stat.st_size}|{stat.st_mtime_ns}"


def _rows_name(layout: ImageLayout) -> str:
    """One file per source, decode options, mode and size: the rows of its last decode."""
    what = f"{layout.source}|{layout.options.key()}|{layout.mode}|{layout.size}"
    return f"rows-{hashlib.sha256(what.encode()).hexdigest()[:16]}.pt"


def _read_rows(store, name: str) -> dict[str, torch.Tensor]:
    """{file key: decoded image} of the last decode; {} when there is none or it cannot be read."""
    import io

    try:
        payload = torch.load(io.BytesIO(store.read_bytes(name)), weights_only=True, map_location="cpu")
        if payload.get("format") != ROWS_FORMAT or len(payload["keys"]) != len(payload["images"]):
            return {}
        return dict(zip(payload["keys"], payload["images"], strict=True))
    except Exception:   # absent, torn or foreign: decode everything, as the first time
        return {}


def _write_rows(store, name: str, keys: list[str], images: torch.Tensor) -> None:
    import io

    from trainables.data import cache as data_cache

    if not data_cache.writes_allowed():     # `study plan`, load_dataset(write_cache=False): nothing written
        return
    buffer = io.BytesIO()
    torch.save({"format": ROWS_FORMAT, "keys": keys, "images": images}, buffer)
    try:
        store.write_bytes(buffer.getvalue(), name)
    except OSError:
        pass   # a read-only or full data_root only costs a full decode next time


def decode_all(layout: ImageLayout, data_root: Path | None, say: Callable[[str], None] | None = None):
    """(images, labels) of every pair of every split, in split order. With a data_root, the rows of the
    previous decode of this source are reused for every file whose path, size and mtime are unchanged,
    so a changed, added or removed file decodes only itself; the new rows are kept for the next time."""
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    pairs = [pair for split in sorted(layout.splits) for pair in layout.splits[split]]
    if data_root is None:
        return decode_pairs(pairs, layout, say)
    from trainables.files.storage import Store

    store, name = Store(Path(data_root) / ".cache"), _rows_name(layout)
    previous = _read_rows(store, name)
    keys = [_file_key(layout, file) for file, _ in pairs]
    missing = [i for i, key in enumerate(keys) if key not in previous]
    if previous and 0 < len(missing) < len(pairs):   # nothing reused is a plain decode, not an update
        say(f"[study] {layout.root}: {len(missing):,} of {len(pairs):,} images new or changed since the last "
            "decode; decoding only those")
    fresh, _ = decode_pairs([pairs[i] for i in missing], layout, say) if missing else (None, None)
    images = torch.empty((len(pairs), layout.channels, *layout.size), dtype=torch.uint8)
    filled = dict(zip(missing, fresh, strict=True)) if missing else {}
    for i, key in enumerate(keys):
        images[i] = filled[i] if i in filled else previous[key]
    if missing or len(previous) != len(keys):
        _write_rows(store, name, keys, images)
    return images, torch.tensor([label for _, label in pairs], dtype=torch.int64)


def decode_layout(layout: ImageLayout, data_root: Path | None = None) -> tuple[ImageSet, ImageSet]:
    """(train, test): the given splits, or a seeded stratified 80/20 hold-out of one split."""
    images, labels = decode_all(layout, data_root)
    if "all" in layout.splits:
        return stratified_split(images, labels, layout.classes)
    cut = len(layout.splits["test"])          # sorted split order: "test" before "train"
    return (ImageSet(images[cut:], labels[cut:], layout.classes),
            ImageSet(images[:cut], labels[:cut], layout.classes))
