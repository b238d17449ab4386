"""sampling = "balanced" | "stratified" for real subsets, per-class minimums checked
before anything runs, synthetic images in the real class mix, balanced accuracy in the report when the
test set is imbalanced. Unhappy paths first."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from study.checks import SpecError
from study.preflight import check_loaded_data
from study.spec import spec_from_dict, validation_rule
from trainables.data import sampling
from trainables.data.errors import DataError
from trainables.data.images import ImageSet


def imbalanced(counts=(40, 40, 4)) -> ImageSet:
    labels = torch.cat([torch.full((c,), k, dtype=torch.int64) for k, c in enumerate(counts)])
    images = torch.arange(len(labels), dtype=torch.int64).remainder(256).to(torch.uint8).view(-1, 1, 1, 1)
    return ImageSet(images.expand(-1, 1, 4, 4).contiguous(), labels, ("a", "b", "c"))


def spec(**top):
    return spec_from_dict({"sizes": [30], **top}, check_registries=False)


@pytest.mark.parametrize("value, problem", [("random", "unknown value"), (["balanced", "stratified"], "is a list")])
def test_sampling_must_be_one_known_value(value, problem):
    with pytest.raises(SpecError, match=f"^sampling: .*{problem}"):
        spec_from_dict({"sampling": value}, check_registries=False)


def test_balanced_sizes_beyond_the_smallest_class_name_stratified_as_the_way_out():
    with pytest.raises(SpecError, match=r'^sizes: 30 is more than .* \(12 class-balanced .*sampling = "stratified"'):
        check_loaded_data(spec(), [40, 40, 4], 10)


def test_stratified_size_beyond_the_split_is_refused():
    with pytest.raises(SpecError, match=r"^sizes: 90 is more than .* \(84 training images\)"):
        check_loaded_data(spec(sampling="stratified", sizes=[90]), [40, 40, 4], 10, ("a", "b", "c"))


def test_a_class_too_small_for_a_stratified_carve_is_refused_naming_it():
    carved = spec(sampling="stratified", sizes=[21], eval={"validation_from": "subset"})
    with pytest.raises(SpecError, match=r"^sizes: 21 drawn stratified gives class 'c' \(4 training images\) 1 image"):
        check_loaded_data(carved, [40, 40, 4], 10, ("a", "b", "c"))


def test_stratified_sizes_that_fit_pass():
    check_loaded_data(spec(sampling="stratified", sizes=[30, 84]), [40, 40, 4], 10, ("a", "b", "c"))


def test_a_stratified_subset_keeps_the_proportions_and_nests():
    train = imbalanced()
    small = sampling.subset(train, 21, 0, sampling="stratified")
    large = sampling.subset(train, 42, 0, sampling="stratified")
    assert small.class_counts().tolist() == [10, 10, 1] and large.class_counts().tolist() == [20, 20, 2]
    assert set(small.images[:, 0, 0, 0].tolist()) <= set(large.images[:, 0, 0, 0].tolist())
    assert sampling.subset(train, 3, 0, sampling="stratified").class_counts().tolist() == [1, 1, 1]
    with pytest.raises(DataError, match="more than"):
        sampling.subset(train, 12 + 1, 0)                 # balanced: 3 x the smallest class at most


def test_synthetic_images_follow_the_real_class_mix():
    pool = imbalanced((50, 50, 50))
    taken = sampling.take_like(pool, 42, [20, 20, 2])
    assert taken.class_counts().tolist() == [20, 20, 2]
    with pytest.raises(DataError, match="synthetic pool is too small"):
        sampling.take_like(imbalanced((5, 50, 50)), 42, [20, 20, 2])


def test_the_rule_and_the_gan_key():
    from study import plan

    balanced, stratified = spec(), spec(sampling="stratified")
    assert validation_rule(balanced).sampling == "balanced" and validation_rule(stratified).sampling == "stratified"
    point = plan.trial_points(balanced)[-1]
    key_b = plan.gan_job(balanced, point, 10).key_fields()
    key_s = plan.gan_job(stratified, point, 10).key_fields()
    assert "sampling" not in key_b and key_s["sampling"] == "stratified"   # balanced GAN caches stay valid


def test_the_pool_covers_the_largest_class_of_a_stratified_mix():
    from study import plan

    stratified = spec(sampling="stratified", sizes=[84])
    even = plan.gan_jobs(stratified, 84, 3, 0)
    skewed = plan.gan_jobs(stratified, 84, 3, 0, largest_share=40 / 84)
    assert max(j.pool_per_class for j in skewed.values()) >= max(j.pool_per_class for j in even.values())


def test_balanced_accuracy_table_only_for_an_imbalanced_test_set():
    from analysis.balanced import balanced_table

    rows = pd.DataFrame({"size": [30, 30], "classifier": ["mlp"] * 2, "ratio": [0.0, 1.0], "status": ["ok"] * 2,
                         "test_acc_at_best_val": [0.9, 0.8], "balanced_acc": [0.6, 0.7], "test_imbalance": [10.0] * 2})
    table = balanced_table(rows, "test_acc_at_best_val")
    assert table is not None and list(table.data["balanced_accuracy"]) == [0.6, 0.7]
    assert "balanced accuracy" in table.display.columns
    assert balanced_table(rows.assign(test_imbalance=1.0), "test_acc_at_best_val") is None
    assert balanced_table(rows.drop(columns="test_imbalance"), "test_acc_at_best_val") is None


@pytest.mark.parametrize("key, value", [("sampling", "stratified"), ("image_size", 64), ("image_resize", "pad"),
                                        ("image_channels", "rgb")])
def test_a_resume_cannot_change_the_images_or_how_subsets_are_drawn(key, value):
    from study.extend import check_extension

    old = spec()
    new = spec_from_dict({"sizes": [30], key: value}, check_registries=False)
    with pytest.raises(SpecError, match=f"^{key}: changing it from"):
        check_extension(old, new)
