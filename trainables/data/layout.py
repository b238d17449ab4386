"""A user's labelled image files (from a folder, `folder:PATH`, or a label file, `csv:PATH`), checked
from their headers; trainables.data.decode decodes them once the study runs. No torch here.

`scan` reads every header (no pixels): image modes, sizes, the fingerprint that changes when any file
is added, removed or modified. Without `image_size` every image must share one size and the refusal
names the key that fixes it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from trainables.data.errors import DataError
from trainables.data.headers import DecodeOptions, read_header

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
# A bound on what one image may decode to: a study trains on small images, and a decompression bomb
# (or a stray photograph) would otherwise take the machine's memory.
MAX_IMAGE_SIDE = 4096
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

    @property
    def channels(self) -> int:
        """Channels of every decoded image: 1 for grey ("L"), 3 for RGB."""
        return 1 if self.mode == "L" else 3


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
