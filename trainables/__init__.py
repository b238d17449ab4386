"""Data, models and training code that Ray runs: the registries users name in a study file.

    from trainables import DATASETS, GANS, CLASSIFIERS
"""

from trainables.classifiers import CLASSIFIERS
from trainables.data import DATASETS, DataError
from trainables.gans import GANS

__all__ = ["CLASSIFIERS", "DATASETS", "GANS", "DataError"]
