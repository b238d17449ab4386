"""Sample grids as PNG bytes: one row per class, a fixed number of columns.

The GAN stage writes `samples_epochNNN.png` (generated images) and `real_samples.png` (the real
subset the GAN learnt from) in the same layout, so the report can put them side by side and a
reader sees at a glance whether each row still looks like its class and whether the images of
one row differ from each other (mode collapse shows as a row of near-identical images).

Pure tensor code plus torchvision's PNG encoder: no matplotlib, works from any Ray worker, and the
bytes go through `storage.Store` so grids land on s3:// or gs:// as well as a local disk.
"""

from __future__ import annotations

import torch

GRID_COLUMNS = 10
PAD = 2
PAD_VALUE = 128  # mid grey separates black-background digits and dark CIFAR images alike


def tile(rows: torch.Tensor, pad: int = PAD, pad_value: int = PAD_VALUE) -> torch.Tensor:
    """(R, Ccols, C, H, W) uint8 -> one (C, R*(H+pad)+pad, Ccols*(W+pad)+pad) uint8 image."""
    if rows.dtype != torch.uint8 or rows.dim() != 5:
        raise TypeError(f"tile expects uint8 (rows, cols, C, H, W), got {rows.dtype} {tuple(rows.shape)}")
    n_rows, n_cols, channels, height, width = rows.shape
    padded = torch.nn.functional.pad(rows, (0, pad, 0, pad), value=pad_value)  # pad right and bottom
    # (R, Cc, C, H+p, W+p) -> (C, R, H+p, Cc, W+p) -> (C, R*(H+p), Cc*(W+p))
    grid = padded.permute(2, 0, 3, 1, 4).reshape(channels, n_rows * (height + pad), n_cols * (width + pad))
    return torch.nn.functional.pad(grid, (pad, 0, pad, 0), value=pad_value)  # and the top-left border


def rows_by_class(images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                  columns: int = GRID_COLUMNS) -> torch.Tensor:
    """The first `columns` images of each class as (K, columns, C, H, W); missing slots are black."""
    images, labels = images.cpu(), labels.cpu()
    out = torch.zeros((num_classes, columns, *images.shape[1:]), dtype=torch.uint8)
    for k in range(num_classes):
        picked = images[labels == k][:columns]
        out[k, : picked.shape[0]] = picked
    return out


def png_bytes(image: torch.Tensor) -> bytes:
    """Encode a uint8 (C, H, W) image (C = 1 or 3) as PNG."""
    # Imported here: torchvision's import costs ~1 s, and the driver and every classifier trial import
    # this module (through gan_stage) without ever drawing a grid.
    from torchvision.io import encode_png

    return encode_png(image.cpu().contiguous()).numpy().tobytes()


def class_grid_png(images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                   columns: int = GRID_COLUMNS) -> bytes:
    """PNG of a class-per-row grid of uint8 images (N, C, H, W) with int labels (N,)."""
    return png_bytes(tile(rows_by_class(images, labels, num_classes, columns)))
