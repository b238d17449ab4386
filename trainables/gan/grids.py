"""Sample grids as PNG bytes: one row per class, a fixed number of columns.

The GAN stage writes `samples_epochNNN.png` (generated images) and `real_samples.png` (the real
subset the GAN learnt from) in the same layout, so the report can put them side by side and a
reader sees at a glance whether each row still looks like its class and whether the images of
one row differ from each other (mode collapse shows as a row of near-identical images).

Pure tensor code plus torchvision's PNG encoder: no matplotlib, works from any Ray worker, and the
bytes go through `trainables.files.storage.Store` so grids land on s3:// or gs:// as well as a local disk.
"""

from __future__ import annotations

import io

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
    # this module (through trainables.gan.engine) without ever drawing a grid.
    from torchvision.io import encode_png

    return encode_png(image.cpu().contiguous()).numpy().tobytes()


MIN_WIDTH = 600      # pixels: a 28x28 grid is scaled up (nearest) until a person can see the strokes
LABEL_SIZE = 14      # font size of the title and class labels


def labelled_png(grid: torch.Tensor, title: str, row_labels: list[str], cell_height: int) -> bytes:
    """A tiled grid (C, H, W) uint8, scaled up by a whole factor, with `title` above it and one label per
    row at its left (the class of that row), as PNG."""
    from PIL import Image, ImageDraw, ImageFont

    channels, height, width = grid.shape
    scale = max(1, -(-MIN_WIDTH // width))
    array = grid.permute(1, 2, 0).cpu().numpy()
    image = Image.fromarray(array[..., 0] if channels == 1 else array)
    image = image.resize((width * scale, height * scale), Image.NEAREST)
    try:
        font = ImageFont.load_default(size=LABEL_SIZE)
    except TypeError:   # Pillow < 10.1: the fixed bitmap font
        font = ImageFont.load_default()
    measure = ImageDraw.Draw(image)
    left = 8 + max((measure.textlength(label, font=font) for label in row_labels), default=0)
    top = LABEL_SIZE + 12
    canvas = Image.new(image.mode, (int(left) + image.width, top + image.height), color=255 if channels == 1
                       else (255, 255, 255))
    canvas.paste(image, (int(left), top))
    draw = ImageDraw.Draw(canvas)
    draw.text((int(left), 4), title, fill=0 if channels == 1 else (0, 0, 0), font=font)
    for row, label in enumerate(row_labels):
        middle = top + (PAD + row * (cell_height + PAD) + cell_height / 2) * scale
        draw.text((4, middle - LABEL_SIZE / 2), label, fill=0 if channels == 1 else (0, 0, 0), font=font)
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


def class_grid_png(images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                   columns: int = GRID_COLUMNS, title: str | None = None,
                   class_names: tuple[str, ...] | list[str] | None = None) -> bytes:
    """PNG of a class-per-row grid of uint8 images (N, C, H, W) with int labels (N,); with a `title`,
    scaled up and labelled (the title above, each row's class at its left)."""
    grid = tile(rows_by_class(images, labels, num_classes, columns))
    if title is None:
        return png_bytes(grid)
    names = list(class_names) if class_names is not None else [str(k) for k in range(num_classes)]
    return labelled_png(grid, title, names, images.shape[-2])
