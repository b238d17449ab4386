"""A dataset as a study sees it before any pixel is decoded: its shape, classes and where its images
come from. No torch: the study file's check reads it (trainables.data.catalog), and the loader
(trainables.data.datasets) decodes by it."""

from __future__ import annotations

from dataclasses import dataclass, field

from trainables.data.headers import DecodeOptions
from trainables.data.layout import ImageLayout


@dataclass(frozen=True)
class DatasetInfo:
    """A catalog entry: what a dataset looks like and how its images are found."""

    name: str
    shape: tuple[int, int, int]  # (C, H, W), after the decode options
    num_classes: int
    hflip: bool  # whether a horizontal flip preserves the label (not for digits)
    source: str  # origin and the paper/section that uses it, for docs
    # Smallest class in the train split, so a spec's `n` can be checked without loading the data.
    known_train_per_class: int | None = None
    cache_key: str = ""  # file name stem under <data_root>/.cache; defaults to `name`
    layout: ImageLayout | None = None  # a user's scanned files (folder:PATH, csv:PATH); None: a bundled dataset
    # A bundled dataset taken at another size or channel count: converted in bulk after its own decode.
    options: DecodeOptions = field(default_factory=DecodeOptions)

    @property
    def max_train_size(self) -> int | None:
        """Largest class-balanced n (`subset`) when the per-class count is known up front."""
        if self.known_train_per_class is None:
            return None
        return self.known_train_per_class * self.num_classes


def user_entry(name: str, layout: ImageLayout, source: str, kind: str) -> DatasetInfo:
    """The entry of a user's images: scanned from headers, decoded on load, cached under a key of the
    files' fingerprint and the decode options."""
    return DatasetInfo(
        name=name, shape=(layout.channels, *layout.size), num_classes=len(layout.classes), hflip=True, source=source,
        known_train_per_class=None, layout=layout,
        # 2: 16-bit images scaled, not clipped; the options' key is '' for the defaults
        cache_key=f"{kind}2-{layout.fingerprint}{layout.options.key()}")
