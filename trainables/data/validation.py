"""The study's validation images, carved by the one rule (trainables.terms.validation.ValidationRule):
the subset a trial, a GAN and the synthetic-sample filter train on, and the images they validate on."""

from __future__ import annotations

import torch

from trainables.data.errors import DataError
from trainables.terms.validation import ValidationRule, carve_seed, per_class, smallest_fraction


def carve(real, fraction: float, subset_seed: int, *, name: str = "the subset"):
    """(training part, validation part) of a real subset: per class, per_class(count, fraction) images
    chosen by a seeded permutation go to validation, the rest train; disjoint, original order kept.
    A class that would get no validation image, or no training image, is a DataError naming it."""
    generator = torch.Generator().manual_seed(carve_seed(subset_seed))
    labels = real.labels.cpu()
    held = []
    for label in range(real.num_classes):
        members = torch.nonzero(labels == label).flatten()
        count = len(members)
        if count == 0:
            continue
        take = per_class(count, fraction)
        if take < 1 or take >= count:
            problem = "no validation image" if take < 1 else "no training image"
            raise DataError(f"eval.validation_fraction {fraction:g} leaves class {real.classes[label]!r} of "
                            f"{name} ({count} image(s)) with {problem}; a subset needs at least 2 images per "
                            f"class and a fraction >= {smallest_fraction(count):.3g}")
        held.append(members[torch.randperm(count, generator=generator)[:take]])
    held_index = torch.sort(torch.cat(held)).values if held else torch.empty(0, dtype=torch.long)
    keep = torch.ones(len(real), dtype=torch.bool)
    keep[held_index] = False
    return real.select(torch.nonzero(keep).flatten()), real.select(held_index)


def real_sets(train, validation, size, subset_seed: int, rule: ValidationRule):
    """(real training images, validation images) of one real subset: the one place a trial, a GAN and
    the filter get them. `train`, `validation`: the training split after the driver's hold-out and
    the held-out set (empty or None under "subset"). "split": the subset of `size` and the shared
    validation set; "subset": the subset of `size` carved by `carve`."""
    from trainables.data import sampling

    real = sampling.subset(train, size, subset_seed, sampling=rule.sampling)
    if not rule.per_subset:
        return real, validation
    return carve(real, rule.fraction, subset_seed, name=f"the subset of {size} (seed {subset_seed})")
