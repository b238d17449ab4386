"""What the study file's image keys ask of a user's images, and each file's header: both without
torch or pixels, so a study file is checked (and a folder scanned) before anything heavy is imported.

`DecodeOptions` is what the study file's `image_size`, `image_resize` and `image_channels` say; the
size policy is applied once, at decode time, by trainables.data.decode, and its result is cached
under `DecodeOptions.key`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trainables.data.errors import DataError
from trainables.terms.choices import IMAGE_CHANNELS, IMAGE_RESIZES

GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L"}
REFUSED_MODES = {"F": "32-bit floating-point pixels have no fixed range to map to 0-255"}


@dataclass(frozen=True)
class DecodeOptions:
    """size: (height, width), or None for the files' own shared size; fit: one of IMAGE_RESIZES;
    channels: one of IMAGE_CHANNELS."""

    size: tuple[int, int] | None = None
    fit: str = "resize"
    channels: str = "auto"

    def __post_init__(self) -> None:
        if self.fit not in IMAGE_RESIZES:
            raise DataError(f"image_resize {self.fit!r} is not one of {' | '.join(IMAGE_RESIZES)}")
        if self.channels not in IMAGE_CHANNELS:
            raise DataError(f"image_channels {self.channels!r} is not one of {' | '.join(IMAGE_CHANNELS)}")

    @classmethod
    def of(cls, spec) -> DecodeOptions:
        """From a study spec (its top-level image_size, image_resize, image_channels)."""
        size = getattr(spec, "image_size", "native")
        size = None if size == "native" else tuple(size)
        return cls(size, getattr(spec, "image_resize", "resize"), getattr(spec, "image_channels", "auto"))

    def key(self) -> str:
        """'' for the defaults (today's cache names stay valid), else e.g. '-64x64-pad-rgb'."""
        if self.size is None and self.channels == "auto":
            return ""
        size = "native" if self.size is None else f"{self.size[0]}x{self.size[1]}-{self.fit}"
        return f"-{size}-{self.channels}"

    def mode(self, header_modes: set[str]) -> str:
        """The PIL mode every image becomes: "L" or "RGB"."""
        if self.channels == "grey":
            return "L"
        if self.channels == "rgb":
            return "RGB"
        return "L" if header_modes <= GRAY_MODES else "RGB"


def read_header(file: Path) -> tuple[str, tuple[int, int]]:
    """(PIL mode, (height, width)) from the file's header, no pixels decoded; DataError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            mode, size = image.mode, (image.height, image.width)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise DataError(f"cannot read image {file}: {err}; fix or remove the file") from err
    if mode in REFUSED_MODES:
        raise DataError(f"image {file} has mode {mode}: {REFUSED_MODES[mode]}; save it as 8- or 16-bit grey or RGB")
    return mode, size
