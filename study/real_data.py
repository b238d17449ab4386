"""The study's real data, loaded once: the dataset's splits at the study's image size, and the validation
split held out of training by the study's rule."""

from __future__ import annotations

from study.spec import validation_rule
from trainables.data import sampling
from trainables.data.catalog import dataset_info
from trainables.data.datasets import load_entry
from trainables.data.headers import DecodeOptions


def load_real_data(spec, write_cache: bool = True):
    """(train, test, validation, info): the dataset once, its validation split held out of training
    (none under eval.validation_from = "subset": each trial carves its own, trainables.data.validation)."""
    info = dataset_info(spec.dataset, DecodeOptions.of(spec))
    train, test = load_entry(info, spec.data_root, write_cache=write_cache)   # its files scanned once
    validation_size = validation_rule(spec).held_out(len(train))
    train, validation = sampling.split_validation(train, validation_size, spec.sampling)
    return train, test, validation, info
