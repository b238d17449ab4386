"""Data, models and training code that Ray runs: the registries users name in a study file.

    from trainables import DATASETS, GANS, CLASSIFIERS

The registries load on first use, so that importing a light module of this package (storage, for
the analysis package's file writes) does not import torch. The names a study file may use are
checked without torch (trainables.terms, trainables.data.catalog); GANS and CLASSIFIERS import it.
"""

from importlib import import_module

_REGISTRIES = {"CLASSIFIERS": "trainables.classifier.models", "DATASETS": "trainables.data.catalog",
               "GANS": "trainables.gan.archs", "DataError": "trainables.data.errors"}

__all__ = sorted(_REGISTRIES)


def __getattr__(name: str):
    if name in _REGISTRIES:
        return getattr(import_module(_REGISTRIES[name]), name)
    raise AttributeError(f"module 'trainables' has no attribute {name!r}")
