"""A user's labelled image files (from a folder, `folder:PATH`, or a label file, `csv:PATH`), checked
from their headers, then decoded once, in parallel, into uint8 tensors at the study's image size.

`scan` reads every header (no pixels): image modes, sizes, the fingerprint that changes when any file
is added, removed or modified. Without `image_size` every image must share one size and the refusal
names the key that fixes it. `decode` runs `trainables.data.decode.decode_file` over a thread pool
(libjpeg, libpng and PIL release the GIL), with a progress line for large sets.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from trainables.data.decode import DecodeOptions, decode_file, read_header
from trainables.data.errors import DataError
from trainables.data.images import DatasetInfo, ImageSet
from trainables.data.sampling import stratified_split

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
# A bound on what one image may decode to: a study trains on small images, and a decompression bomb
# (or a stray photograph) would otherwise take the machine's memory.
MAX_IMAGE_SIDE = 4096
PROGRESS_FROM = 2000          # images: smaller sets decode in a moment, without a progress line
PROGRESS_EVERY_S = 2.0
Pairs = list[tuple[Path, int]]


@dataclass(frozen=True)
class ImageLayout:
    """What a scan found: per split, (file, label) pairs; the mode and size every image decodes to."""

    root: Path
    classes: tuple[str, ...]
    splits: dict[str, Pairs]  # {"all": ...} or {"train": ..., "test": ...}
    mode: str  # "L" or "RGB"
    size: tuple[int, int]  # (height, width) after decoding
    fingerprint: str  # changes when any file is added, removed or modified, or the decode options change
    options: DecodeOptions
    source: str = ""  # the folder or label file (not its contents): names the rows kept for the next decode

    @property
    def count(self) -> int:
        return sum(len(pairs) for pairs in self.splits.values())


def _size_refusal(file: Path, size: tuple[int, int], first: Path, first_size: tuple[int, int]) -> DataError:
    return DataError(f"image {file} is {size[0]}x{size[1]} but {first} is {first_size[0]}x{first_size[1]}; all "
                     "images must share one size, or set image_size (e.g. image_size = 64, or [height, width]) to "
                     'resize them once at decode (image_resize = "resize" | "center-crop" | "pad")', key="image_size")


def scan(root: Path, classes: tuple[str, ...], splits: dict[str, Pairs], options: DecodeOptions,
         identity: str, source: str = "") -> ImageLayout:
    """Read every header: refuse unreadable files, refused modes, oversized images and (without
    image_size) mixed sizes, each naming the file. `identity` names the source in the fingerprint
    (the folder, or the label file and its contents)."""
    modes: set[str] = set()
    native, native_source = None, None
    digest = hashlib.sha256(identity.encode())
    for split in sorted(splits):
        for file, label in splits[split]:
            mode, file_size = read_header(file)
            modes.add(mode)
            if max(file_size) > MAX_IMAGE_SIDE:
                raise DataError(f"image {file} is {file_size[0]}x{file_size[1]}; at most {MAX_IMAGE_SIDE} pixels "
                                "a side (resize the images first)")
            if native is None:
                native, native_source = file_size, file
            elif file_size != native and options.size is None:
                raise _size_refusal(file, file_size, native_source, native)
            stat = file.stat()
            digest.update(f"{split}|{label}|{file.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    size = options.size or native
    return ImageLayout(root, classes, splits, options.mode(modes), size, digest.hexdigest()[:16], options,
                       source or identity)


def _workers() -> int:
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def decode_pairs(pairs: Pairs, layout: ImageLayout, say: Callable[[str], None] | None = None,
                 workers: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images (N, C, H, W), int64 labels) for `pairs`, decoded on a thread pool; a progress
    line every few seconds when the set is large; the first file that fails is named."""
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    channels = 1 if layout.mode == "L" else 3
    images = torch.empty((len(pairs), channels, *layout.size), dtype=torch.uint8)

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
    channels = 1 if layout.mode == "L" else 3
    images = torch.empty((len(pairs), channels, *layout.size), dtype=torch.uint8)
    filled = dict(zip(missing, fresh, strict=True)) if missing else {}
    for i, key in enumerate(keys):
        images[i] = filled[i] if i in filled else previous[key]
    if missing or len(previous) != len(keys):
        _write_rows(store, name, keys, images)
    return images, torch.tensor([label for _, label in pairs], dtype=torch.int64)


def decode(layout: ImageLayout, data_root: Path | None = None) -> tuple[ImageSet, ImageSet]:
    """(train, test): the given splits, or a seeded stratified 80/20 hold-out of one split."""
    images, labels = decode_all(layout, data_root)
    if "all" in layout.splits:
        return stratified_split(images, labels, layout.classes)
    cut = len(layout.splits["test"])          # sorted split order: "test" before "train"
    return (ImageSet(images[cut:], labels[cut:], layout.classes),
            ImageSet(images[:cut], labels[:cut], layout.classes))


def dataset_entry(name: str, layout: ImageLayout, source: str, kind: str) -> DatasetInfo:
    """The registry entry of a user's images: scanned from headers, decoded on load, cached under a
    key of the files' fingerprint and the decode options."""
    channels = 1 if layout.mode == "L" else 3
    return DatasetInfo(
        name=name, shape=(channels, *layout.size), num_classes=len(layout.classes), hflip=True, source=source,
        load=lambda root: decode(layout, root), known_train_per_class=None,
        # 2: 16-bit images scaled, not clipped; the options' key is '' for the defaults
        cache_key=f"{kind}2-{layout.fingerprint}{layout.options.key()}")
