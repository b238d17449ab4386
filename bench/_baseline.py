"""The baseline every bench compares against: a torchvision-style per-sample input pipeline.

`PilImageDataset` is written the way torchvision.datasets.MNIST/CIFAR10 are: it keeps the raw
uint8 array, and `__getitem__` builds one PIL image per sample and runs the transform on it
(ToTensor + Normalize to [-1, 1], optionally RandomCrop / RandomHorizontalFlip). A DataLoader then
collates the samples into batches. It yields exactly the values `trainables.data.sampling.to_model_input` gives, so
our path and the baseline feed identical numbers to identical models.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms


class PilImageDataset(Dataset):
    """(image, label) per index through PIL and torchvision transforms, like torchvision's MNIST."""

    def __init__(self, images_uint8: torch.Tensor, labels: torch.Tensor, transform):
        # torchvision keeps MNIST as an (N, H, W) uint8 tensor and CIFAR-10 as (N, H, W, C) numpy.
        array = images_uint8.permute(0, 2, 3, 1).contiguous().numpy()
        self.images = array[..., 0] if array.shape[-1] == 1 else array
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = Image.fromarray(np.asarray(self.images[index]))
        return self.transform(image), self.labels[index]


def pil_transform(channels: int, *, augment: bool = False, size: int = 28, pad: int = 2,
                  hflip: bool = False) -> transforms.Compose:
    """ToTensor + Normalize(0.5, 0.5) (= x / 127.5 - 1), after RandomCrop(+flip) when augmenting."""
    steps = []
    if augment:
        steps.append(transforms.RandomCrop(size, padding=pad))
        if hflip:
            steps.append(transforms.RandomHorizontalFlip())
    steps += [transforms.ToTensor(), transforms.Normalize((0.5,) * channels, (0.5,) * channels)]
    return transforms.Compose(steps)


def pil_loader(images_uint8: torch.Tensor, labels: torch.Tensor, *, batch_size: int, shuffle: bool = True,
               num_workers: int = 0, augment: bool = False, hflip: bool = False, pad: int = 2,
               seed: int = 0, persistent_workers: bool = False, drop_last: bool = False,
               pin_memory: bool = False) -> DataLoader:
    """A DataLoader over PilImageDataset with the usual tutorial settings."""
    channels, size = int(images_uint8.shape[1]), int(images_uint8.shape[2])
    dataset = PilImageDataset(images_uint8, labels,
                              pil_transform(channels, augment=augment, size=size, pad=pad, hflip=hflip))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      generator=torch.Generator().manual_seed(seed), drop_last=drop_last,
                      persistent_workers=persistent_workers and num_workers > 0, pin_memory=pin_memory)
