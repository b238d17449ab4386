"""`folder:PATH`: a user's labelled image folder (torchvision ImageFolder layout), scanned from file
headers and decoded once to uint8 tensors."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trainables.images import DataError, DatasetInfo, ImageSet
from trainables.sampling import stratified_split

FOLDER_PREFIX = "folder:"


_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


@dataclass(frozen=True)
class _FolderLayout:
    """What a scan of an image folder found: per split, (file, label) pairs; one shared image size."""

    root: Path
    classes: tuple[str, ...]
    splits: dict[str, list[tuple[Path, int]]]  # {"all": ...} or {"train": ..., "test": ...}
    mode: str  # PIL mode every image is converted to: "L" or "RGB"
    size: tuple[int, int]  # (height, width)
    fingerprint: str  # changes when any file is added, removed or modified


def _class_files(split_dir: Path) -> dict[str, list[Path]]:
    """{class name: image files} for every subfolder of split_dir (recursive, like ImageFolder)."""
    found = {}
    for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found[class_dir.name] = sorted(p for p in class_dir.rglob("*")
                                       if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)
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
    per_split = {split: _class_files(directory) for split, directory in split_dirs.items()}
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
                except (UnidentifiedImageError, OSError) as err:
                    raise DataError(f"cannot read image {file}: {err}; fix or remove the file") from err
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


def _decode_folder(layout: _FolderLayout) -> tuple[ImageSet, ImageSet]:
    """Decode every image once into one uint8 tensor per split (PIL; the only per-file loop)."""
    from PIL import Image

    def decode(pairs: list[tuple[Path, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        channels = 1 if layout.mode == "L" else 3
        images = torch.empty((len(pairs), channels, *layout.size), dtype=torch.uint8)
        for i, (file, _) in enumerate(pairs):
            try:
                with Image.open(file) as image:
                    pixels = np.asarray(image.convert(layout.mode))
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
        cache_key=f"folder-{layout.fingerprint}")
