"""The types every data module shares: an in-memory labelled image set and a dataset's registry entry
(the error a user can fix is trainables.data.errors.DataError)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trainables.data.errors import DataError


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
