"""A dataset cache is trusted only when it is this dataset's: a valid-format file of
noise under a dataset's cache name (it once gave an "ok" study at chance accuracy), a cache whose
images do not match its content hash, or one decoded from other source files is set aside and the data
decoded again; load_dataset(write_cache=False), what `study plan` uses, writes nothing."""

from __future__ import annotations

import torch

from tests.test_data import make_folder
from trainables.data import cache as data_cache
from trainables.data import catalog
from trainables.data import datasets as data
from trainables.data.cache import cache_path
from trainables.data.images import ImageSet


def _folder(tmp_path):
    make_folder(tmp_path / "imgs", classes=("a", "b"), per_class=5)
    name = f"folder:{tmp_path / 'imgs'}"
    train, test = data.load_dataset(name, tmp_path / "root")
    return name, train, test, cache_path(catalog.dataset_info(name), tmp_path / "root")


def _forge(path, images_of, keep_content_hash=True):
    """Rewrite the cache with other images in the same valid format (shapes, labels, classes kept)."""
    payload = torch.load(path, weights_only=True)
    for split in ("train", "test"):
        payload[split]["images"] = images_of(payload[split]["images"])
    if not keep_content_hash:
        splits = [ImageSet(payload[s]["images"], payload[s]["labels"], tuple(payload[s]["classes"]))
                  for s in ("train", "test")]
        payload["content"] = data_cache.content_hash(*splits)
    torch.save(payload, path)


def test_a_valid_format_cache_of_noise_is_set_aside_and_the_data_decoded_again(tmp_path, capsys):
    name, train, _, path = _folder(tmp_path)
    _forge(path, lambda images: torch.randint(0, 256, images.shape, dtype=torch.uint8))
    again, _ = data.load_dataset(name, tmp_path / "root")
    assert torch.equal(again.images, train.images)
    out = capsys.readouterr().out
    assert "does not match" in out and "not the ones its content hash was taken of" in out
    assert path.with_name(path.name + ".damaged").exists() and path.exists()     # written again, trusted


def test_a_cache_decoded_from_other_source_files_is_set_aside(tmp_path, capsys):
    """A cache copied from a data_root that holds other files, consistent in itself (its own content
    hash), is not this data_root's: the fingerprint of the source files tells them apart."""
    import shutil

    from tests.test_data import write_mnist_layout

    write_mnist_layout(tmp_path / "a" / "MNIST" / "raw", n_train=30)
    arrays = write_mnist_layout(tmp_path / "b" / "MNIST" / "raw", n_train=40)     # other files
    data.load_dataset("mnist", tmp_path / "a")
    info = catalog.DATASETS["mnist"]
    (tmp_path / "b" / ".cache").mkdir()
    shutil.copy(cache_path(info, tmp_path / "a"), cache_path(info, tmp_path / "b"))
    train, _ = data.load_dataset("mnist", tmp_path / "b")
    assert len(train) == 40 and torch.equal(train.images[:, 0], torch.from_numpy(arrays["train"][0]))
    assert "decoded from other files than the dataset's files under this data_root now" in capsys.readouterr().out


def test_a_data_root_copied_with_its_times_keeps_its_cache(tmp_path, capsys):
    import shutil

    from tests.test_data import write_mnist_layout

    write_mnist_layout(tmp_path / "a" / "MNIST" / "raw")
    data.load_dataset("mnist", tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")                                 # copy2: times kept
    data.load_dataset("mnist", tmp_path / "b")
    assert "does not match" not in capsys.readouterr().out


def test_a_trusted_cache_is_read_without_decoding(tmp_path, monkeypatch):
    name, train, _, _ = _folder(tmp_path)
    monkeypatch.setattr(data, "read_images", lambda info, root: (_ for _ in ()).throw(
        AssertionError("decoded again despite a trusted cache")))
    again, _ = data.load_dataset(name, tmp_path / "root")
    assert torch.equal(again.images, train.images)


def test_without_write_cache_nothing_is_written_or_set_aside(tmp_path):
    make_folder(tmp_path / "imgs", classes=("a", "b"), per_class=5)
    name = f"folder:{tmp_path / 'imgs'}"
    train, _ = data.load_dataset(name, tmp_path / "root", write_cache=False)
    assert len(train) and not (tmp_path / "root").exists()
    path = cache_path(catalog.dataset_info(name), tmp_path / "root")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a cache")
    data.load_dataset(name, tmp_path / "root", write_cache=False)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]            # not set aside either
