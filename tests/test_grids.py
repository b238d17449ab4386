"""Sample grids: one row per class; the GAN's per-epoch grids and the real one are scaled up
to a readable size and labelled with their title and each row's class."""

from __future__ import annotations

import io

import torch
from PIL import Image

from trainables.gan.grids import GRID_COLUMNS, MIN_WIDTH, PAD, class_grid_png


def _images(num_classes: int = 3, per_class: int = 4, channels: int = 1):
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    images = (labels.view(-1, 1, 1, 1) * 80 + 40).to(torch.uint8).expand(-1, channels, 28, 28).contiguous()
    return images, labels


def test_an_unlabelled_grid_is_the_plain_tile():
    images, labels = _images()
    image = Image.open(io.BytesIO(class_grid_png(images, labels, 3)))
    assert image.size == (GRID_COLUMNS * (28 + PAD) + PAD, 3 * (28 + PAD) + PAD)


def test_a_labelled_grid_is_readable_and_keeps_each_row_in_its_place():
    images, labels = _images(channels=3)
    png = class_grid_png(images, labels, 3, title="GAN samples after epoch 5", class_names=("cat", "dog", "ship"))
    image = Image.open(io.BytesIO(png)).convert("L")
    plain_width = GRID_COLUMNS * (28 + PAD) + PAD
    scale = -(-MIN_WIDTH // plain_width)
    assert image.width > MIN_WIDTH and image.height > 3 * (28 + PAD) * scale
    # The middle of row k's first image (past the labels): the class's grey level, scaled up, not moved.
    top = image.height - (3 * (28 + PAD) + PAD) * scale
    left = image.width - plain_width * scale
    for row, value in enumerate((40, 120, 200)):
        y = top + (PAD + row * (28 + PAD) + 14) * scale
        assert abs(image.getpixel((left + (PAD + 14) * scale, y)) - value) <= 1
