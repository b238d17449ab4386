"""Choosing images: class-balanced splits and subsets, synthetic draws, batches, augmentation and value
ranges. Batches are slices of a `torch.randperm` (`index_batches`) and classic augmentation is batched
tensor arithmetic (`augment_classic`): no per-sample Dataset/DataLoader path."""

from __future__ import annotations

import numbers
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from trainables.data.errors import DataError
from trainables.data.images import ImageSet

# Fixed holdout for datasets that ship without a test split (mnist-5k, folder:PATH without test/).
HOLDOUT_FRACTION = 0.2
HOLDOUT_SEED = 0


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


def stratified_quota(counts: list[int], total: int, floor: int = 1) -> list[int]:
    """Per-class counts of `total` images in the classes' proportions `counts`, at least `floor` per
    class: seats handed out one at a time to the class with the largest counts[c] / (quota[c] + 1)
    (D'Hondt), so the quota of a smaller total never exceeds that of a larger one and subsets nest."""
    import heapq

    quota = [min(floor, c) for c in counts]
    heap = [(-c / (q + 1), label) for label, (c, q) in enumerate(zip(counts, quota, strict=True)) if c > q]
    heapq.heapify(heap)
    for _ in range(total - sum(quota)):
        if not heap:
            break
        _, label = heapq.heappop(heap)
        quota[label] += 1
        if counts[label] > quota[label]:
            heapq.heappush(heap, (-counts[label] / (quota[label] + 1), label))
    return quota


def quota_for(data: ImageSet, n: int, sampling: str) -> list[int]:
    """How many images of each class a subset of n takes: equal (balanced) or in the split's proportions
    (stratified)."""
    if sampling == "stratified":
        return stratified_quota(data.class_counts().tolist(), n)
    return _balanced_quota(n, data.num_classes)


def max_balanced_size(data: ImageSet) -> int:
    """Largest n that `subset` can draw with equal counts per class: K x the smallest class."""
    return int(data.class_counts().min()) * data.num_classes


def subset(data: ImageSet, n: int | str, seed: int, *, name: str = "the dataset",
           sampling: str = "balanced") -> ImageSet:
    """n training images, class-balanced (or, sampling="stratified", in the split's class proportions,
    at least one per class) and seeded; nested: for one seed, the subset of n is contained in the
    subset of any larger n (Abadi sec. 4 grows the real set 500 -> 60k). n="full" is everything.

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
    if sampling == "stratified":
        if n > len(data):
            raise DataError(f"size {n} is more than {name} holds ({len(data)} training images)")
        return data.select(_balanced_index(data, quota_for(data, n, sampling), seed))
    largest = max_balanced_size(data)
    if n > largest:
        per_class = largest // k
        raise DataError(f"size {n} is more than {name} holds class-balanced: its smallest class has "
                        f"{per_class} training images, so n can be at most {largest} ({per_class} per class) "
                        "or \"full\"")
    return data.select(_balanced_index(data, _balanced_quota(n, k), seed))


def take_balanced(pool: ImageSet, count: int) -> ImageSet:
    """count images from a labelled pool (the GAN's synthetic images), class-balanced like `subset`;
    count=0 gives an empty set, so R=0 needs no special case.

    It takes the *first* images of each class in pool order (a pool is already a random sample), so
    a pool that grew keeps giving the same images: pools are generated so that their first images
    do not depend on their final size (trainables.gan.engine.generate). Nothing random: no seed.
    """
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
        raise DataError(f"cannot take {count!r} images: need a whole number >= 0")
    count = int(count)
    return _take_quota(pool, _balanced_quota(count, pool.num_classes), f"{count} class-balanced images")


def take_like(pool: ImageSet, count: int, mix: list[int]) -> ImageSet:
    """count images from a synthetic pool in the class mix `mix` (a real subset's class counts): the
    synthetic images of a stratified study follow its real class proportions. The first images of each
    class in pool order, like take_balanced."""
    return _take_quota(pool, stratified_quota(list(mix), count, floor=0), f"{count} images in the real class mix")


def _take_quota(pool: ImageSet, quota: list[int], what: str) -> ImageSet:
    """The first quota[c] images of each class c of a synthetic pool, or DataError naming the short class."""
    have = pool.class_counts().tolist()
    short = [(label, need, have[label]) for label, need in enumerate(quota) if need > have[label]]
    if short:
        label, need, got = short[0]
        raise DataError(f"synthetic pool is too small: {what} need {need} of class {pool.classes[label]!r} but "
                        f"the pool has {got}; generate a larger pool")
    return pool.select(first_per_class(pool.labels, quota))


def first_per_class(labels: torch.Tensor, quota: list[int]) -> torch.Tensor:
    """Sorted indices of the first quota[c] entries of each class c, in order."""
    labels = labels.cpu()
    picks = [torch.nonzero(labels == label).flatten()[:take] for label, take in enumerate(quota)]
    return torch.sort(torch.cat(picks)).values if picks else torch.empty(0, dtype=torch.long)


VALIDATION_SEED = 20_240_601   # one fixed split per dataset: every seed, study and GAN sees the same one


def split_validation(train: ImageSet, count: int, sampling: str = "balanced") -> tuple[ImageSet, ImageSet]:
    """(training images left, validation set): `count` images held out of the training split with a
    fixed seed, class-balanced (or stratified: in the split's proportions), before any real subset is
    drawn from what is left. count=0 gives an empty validation set and the training split unchanged."""
    if count <= 0:
        return train, train.select(torch.empty(0, dtype=torch.long))
    held = _balanced_index(train, quota_for(train, count, sampling), VALIDATION_SEED)
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

    The "classic augmentation" baseline of Zhang & Wu (DAGAN), done for the whole batch
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
