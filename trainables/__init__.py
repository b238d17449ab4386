"""Data, models and training code that Ray runs: the registries users name in a study file.

    from trainables import DATASETS, GANS, CLASSIFIERS

The registries load on first use, so that importing a light module of this package (storage, for
the analysis package's file writes) does not import torch.
"""

from importlib import import_module

_REGISTRIES = {"CLASSIFIERS": "trainables.classifier.models", "DATASETS": "trainables.data.datasets", "GANS": "trainables.gan.archs",
               "DataError": "trainables.data.images"}

__all__ = sorted(_REGISTRIES)


def __getattr__(name: str):
    if name in _REGISTRIES:
        return getattr(import_module(_REGISTRIES[name]), name)
    raise AttributeError(f"module 'trainables' has no attribute {name!r}")
