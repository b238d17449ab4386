"""The data room's user error, importable without torch: the CLI classifies a refusal by its type
before (or without) loading the data layer."""

from __future__ import annotations


class DataError(ValueError):
    """A dataset problem the user can fix (unknown name, missing files, bad folder, n too large).
    `key`: the study-file key that fixes it, when it is not `dataset` (mixed sizes: image_size)."""

    def __init__(self, message: str, key: str = "dataset"):
        super().__init__(message)
        self.key = key
