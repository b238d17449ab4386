"""`folder:PATH`: a user's labelled image folder (torchvision ImageFolder layout), scanned from file
headers and decoded once to uint8 tensors."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trainables.choices import FOLDER_PREFIX
from trainables.images import DataError, DatasetInfo, ImageSet
from trainables.sampling import stratified_split

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I"}   # scaled to 8 bits (PIL's convert("L") would clip)
_REFUSED_MODES = {"F": "32-bit floating-point pixels have no fixed range to map to 0-255"}
# A bound on what one image may decode to: a study trains on small images, and a decompression bomb
# (or a stray photograph) would otherwise take the machine's memory.
MAX_IMAGE_SIDE = 4096


@dataclass(frozen=True)
class _FolderLayout:
    """What a scan of an image folder found: per split, (file, label) pairs; one shared image size."""

    root: Path
    classes: tuple[str, ...]
    splits: dict[str, list[tuple[Path, int]]]  # {"all": ...} or {"train": ..., "test": ...}
    mode: str  # PIL mode every image is converted to: "L" or "RGB"
    size: tuple[int, int]  # (height, width)
    fingerprint: str  # changes when any file is added, removed or modified


def _inside(path: Path, root: Path) -> Path:
    """The real path of `path`; DataError naming it when it is a symlink that loops, dangles or leads
    out of `root` (a dataset must not read files the user did not put in it)."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as err:
        raise DataError(f"{path} is a broken or looping symlink ({err}); fix or remove it") from None
    if real != root and root not in real.parents:
        raise DataError(f"{path} is a symlink to {real}, outside the image folder {root}; copy the file in or "
                        "remove the link")
    return real


def _class_files(split_dir: Path, root: Path) -> dict[str, list[Path]]:
    """{class name: image files} for every subfolder of split_dir (recursive, like ImageFolder). Walks
    without following directory symlinks into loops; every symlink must stay inside `root`."""
    found = {}
    real_root = root.resolve()
    for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        _inside(class_dir, real_root)
        files, seen = [], set()
        for folder, dirs, names in os.walk(class_dir, followlinks=True):
            real_folder = _inside(Path(folder), real_root)
            if real_folder in seen:          # a directory link back up the tree: walk it once
                dirs[:] = []
                continue
            seen.add(real_folder)
            for name in names:
                file = Path(folder) / name
                if file.suffix.lower() in _IMAGE_SUFFIXES:
                    _inside(file, real_root)
                    files.append(file)
        found[class_dir.name] = sorted(files)
    return found


def _scan_folder(path_text: str) -> _FolderLayout:
    """Check the folder's layout and read every image header (not pixels): classes, mode, size."""
    from PIL import Image, UnidentifiedImageError

    root = Path(path_text).expanduser()
    usage = "use folder:/path/to/images with one subfolder of images per class"
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; {usage}")
    has_split_dirs = (root / "train").is_dir() and (root / "test").is_dir()
    split_dirs = {"train": root / "train", "test": root / "test"} if has_split_dirs else {"all": root}
    per_split = {split: _class_files(directory, root) for split, directory in split_dirs.items()}
    first = per_split["train" if has_split_dirs else "all"]
    if not first:
        raise DataError(f"image folder {split_dirs.get('train', root)} has no class subfolders; {usage}")
    if len(first) < 2:
        raise DataError(f"image folder {root} has a single class ({next(iter(first))!r}); "
                        "a classifier needs at least two class subfolders")
    classes = tuple(first)
    for split, files in per_split.items():
        extra = sorted(set(files) - set(classes))
        if extra:
            raise DataError(f"{split_dirs[split]} has classes {extra} that train/ lacks; "
                            "give train/ and test/ the same class subfolders")
        for name, paths in files.items():
            if not paths and (split != "test"):
                raise DataError(f"class folder {split_dirs[split] / name} holds no images "
                                f"(looked for {', '.join(_IMAGE_SUFFIXES)}); add images or remove it")

    splits: dict[str, list[tuple[Path, int]]] = {}
    modes, size, size_source, digest = set(), None, None, hashlib.sha256(str(root.resolve()).encode())
    for split, files in per_split.items():
        pairs = []
        for label, name in enumerate(classes):
            for file in files.get(name, []):
                try:
                    with Image.open(file) as image:
                        modes.add(image.mode)
                        file_size = (image.height, image.width)
                except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
                    raise DataError(f"cannot read image {file}: {err}; fix or remove the file") from err
                if image.mode in _REFUSED_MODES:
                    raise DataError(f"image {file} has mode {image.mode}: {_REFUSED_MODES[image.mode]}; save it as "
                                    "8- or 16-bit grey or RGB")
                if max(file_size) > MAX_IMAGE_SIDE:
                    raise DataError(f"image {file} is {file_size[0]}x{file_size[1]}; at most {MAX_IMAGE_SIDE} pixels "
                                    "a side (resize the images first)")
                if size is None:
                    size, size_source = file_size, file
                elif file_size != size:
                    raise DataError(f"image {file} is {file_size[0]}x{file_size[1]} but {size_source} is "
                                    f"{size[0]}x{size[1]}; all images must share one size (resize them first)")
                stat = file.stat()
                digest.update(f"{file.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
                pairs.append((file, label))
        splits[split] = pairs
    mode = "L" if modes <= _GRAY_MODES else "RGB"
    return _FolderLayout(root, classes, splits, mode, size, digest.hexdigest()[:16])


def _eight_bit(image, mode: str, file: Path) -> np.ndarray:
    """The image's pixels as uint8 in `mode` ("L" or "RGB"). 16-bit grey is scaled by 255/65535 (PIL's
    convert("L") clips it at 255, which turned most 16-bit images white); palette images go through
    their palette."""
    if image.mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(image, dtype=np.int64)
        if wide.min() < 0 or wide.max() > 65535:
            raise DataError(f"image {file} has 32-bit pixel values outside 0-65535; save it as 8- or 16-bit")
        grey = ((wide * 255 + 32767) // 65535).astype(np.uint8)
        return grey if mode == "L" else np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(image.convert(mode))


def _decode_folder(layout: _FolderLayout) -> tuple[ImageSet, ImageSet]:
    """Decode every image once into one uint8 tensor per split (PIL; the only per-file loop)."""
    from PIL import Image

    def decode(pairs: list[tuple[Path, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        channels = 1 if layout.mode == "L" else 3
        images = torch.empty((len(pairs), channels, *layout.size), dtype=torch.uint8)
        for i, (file, _) in enumerate(pairs):
            try:
                with Image.open(file) as image:
                    pixels = _eight_bit(image, layout.mode, file)
            except OSError as err:  # truncated data shows up only when pixels are decoded
                raise DataError(f"cannot decode image {file}: {err}; fix or remove the file") from err
            images[i] = torch.from_numpy(pixels.reshape(*layout.size, channels).copy()).permute(2, 0, 1)
        labels = torch.tensor([label for _, label in pairs], dtype=torch.int64)
        return images, labels

    if "all" in layout.splits:
        return stratified_split(*decode(layout.splits["all"]), layout.classes)
    train, test = decode(layout.splits["train"]), decode(layout.splits["test"])
    return ImageSet(*train, layout.classes), ImageSet(*test, layout.classes)


def folder_info(name: str) -> DatasetInfo:
    """The registry entry of `folder:PATH`: scanned from file headers, decoded on load."""
    layout = _scan_folder(name[len(FOLDER_PREFIX):])
    channels = 1 if layout.mode == "L" else 3
    return DatasetInfo(
        name=name, shape=(channels, *layout.size), num_classes=len(layout.classes), hflip=True,
        source=f"user image folder {layout.root} (torchvision ImageFolder layout)",
        load=lambda _root: _decode_folder(layout), known_train_per_class=None,
        cache_key=f"folder2-{layout.fingerprint}")  # 2: 16-bit images scaled, not clipped
