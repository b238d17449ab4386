"""The study file: parsed TOML -> a validated frozen `Spec` (reading, `--set` and TOML back: study.spec_text).

A study file (README.md describes it; `study show` prints a preset's) names a dataset, the real sample sizes, the GAN, the
classifiers, the synthetic-to-real ratios R, the validation split, the search mode and the
resources. Every key has a default (study.schema); unknown keys are errors; any key of [gan],
[classifier] and [mix] may be a list, which makes it an axis of the grid (study.plan).

Everything is checked before any work starts, and every problem the user can fix raises `SpecError`,
whose message is one line: `<key>: <problem>; allowed: <allowed values>`. Spec files are parsed
with tomllib and nothing in them is evaluated as code.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from study.checks import FULL, SpecError
from study.schema import (
    PER_CLASSIFIER_KEYS,
    Spec,
    as_values,
    build,
)
from study.size_checks import check_sizes_fit
from study.spec_text import apply_overrides, parse_toml, read_raw
from trainables.data.catalog import DATASETS, dataset_info
from trainables.data.errors import DataError
from trainables.data.headers import DecodeOptions
from trainables.terms import choices
from trainables.terms.choices import CONDITIONAL_ONLY_ARCHS, CSV_PREFIX, FOLDER_PREFIX
from trainables.terms.gan_options import CHOSEN_LOSSES, RECIPES, check_loss, check_policy, resolve_options
from trainables.terms.registry import Registry, suggest
from trainables.terms.validation import ValidationRule, smallest_fraction
from trainables.terms.validation import per_class as carved_per_class

# --------------------------------------------------------------------------------------------------
# Checks across keys, and checks against the registries and the file system.
# --------------------------------------------------------------------------------------------------

# The names the GAN and classifier registries hold (trainables.gan.archs.GANS and
# trainables.classifier.models.CLASSIFIERS hold their torch code, built on the same names).
GAN_NAMES = Registry("GAN", dict.fromkeys(choices.GAN_ARCHS))
CLASSIFIER_NAMES = Registry("classifier", dict.fromkeys(choices.CLASSIFIER_NAMES))


def _check_validation_source(spec: Spec) -> None:
    """Under validation_from = "subset" the validation images are a share of each subset; a count of
    images held out of the training split would be a second, contradictory rule."""
    if spec.eval.validation_from == "subset" and spec.eval.validation != "auto":
        raise SpecError("eval.validation", f"{spec.eval.validation} images held out of the training split "
                        'contradicts eval.validation_from = "subset", which carves validation_fraction of each '
                        "real subset", '"auto" (the default, unused under "subset") with validation_from = '
                        '"subset", or validation_from = "split" with a count (0: none)')


def _check_validation_use(spec: Spec) -> None:
    """Early stopping and validation metrics need a validation split."""
    if spec.eval.validation != 0 or spec.eval.validation_from == "subset":
        return
    if "early-stop" in _all_classifier_values(spec, "schedule"):
        raise SpecError("classifier.schedule", "early-stop needs a validation split but eval.validation = 0",
                        'epochs | steps, or eval.validation = "auto" or a number > 0')
    if spec.search.mode == "optuna":   # its objective is a validation metric (test metrics are refused)
        raise SpecError("eval.validation", f"0 leaves Optuna nothing to maximise: search.metric "
                        f"{spec.search.metric} needs a validation split", '"auto" or a number > 0, or search.mode = "grid"')


def _check_repeats(spec: Spec) -> None:
    """A count of GANs per size must divide the seeds: each GAN gets the same number of classifier
    repeats, so every independent unit weighs the same (also after `study resume --set seeds=...`)."""
    count = spec.gan.repeats
    if isinstance(count, str) or spec.seeds % count == 0:
        return
    divisors = [d for d in range(1, spec.seeds + 1) if spec.seeds % d == 0]
    raise SpecError("gan.repeats", f"{count} GANs per size do not divide seeds = {spec.seeds} (each GAN gets "
                    "seeds / count classifier repeats)",
                    f"per-seed | once | a count that divides seeds ({', '.join(map(str, divisors))}), "
                    f"or seeds a multiple of {count}")


def _check_search_storage(spec: Spec) -> None:
    if spec.search.storage and spec.search.mode != "optuna":
        raise SpecError("search.storage", f"{spec.search.storage} is set but search.mode = {spec.search.mode!r} "
                        "(a grid search has no Optuna study to keep)", 'search.mode = "optuna", or storage = ""')


def _all_classifier_values(spec: Spec, key: str) -> set:
    values = set(as_values(getattr(spec.classifier, key)))
    values |= {table[key] for table in spec.classifier.by_name.values() if key in table}
    return values


def _check_per_classifier_tables(spec: Spec) -> None:
    for name in spec.classifier.by_name:
        if name not in spec.classifier.name:
            raise SpecError(f"classifier.{name}", f"a [classifier.{name}] table for a classifier this study "
                            f"does not train{suggest(name, spec.classifier.name)}",
                            f"[classifier.NAME] with NAME in classifier.name ({', '.join(spec.classifier.name)}), "
                            f"setting {', '.join(PER_CLASSIFIER_KEYS)}")


def _check_workers(spec: Spec) -> None:
    """gan.batch_size is the global batch: each of the W workers takes batch_size / W."""
    for batch in as_values(spec.gan.batch_size):
        if batch % spec.gan.workers:
            raise SpecError("gan.batch_size", f"{batch} is not divisible by gan.workers = {spec.gan.workers} "
                            "(the batch size is the global batch, split evenly over the workers)",
                            f"a multiple of {spec.gan.workers}, or change gan.workers")


def _check_grid(spec: Spec) -> None:
    """The grid must hold at least one trial that trains on something; Optuna cannot skip points."""
    from study import plan

    if spec.search.mode == "optuna":
        if False in as_values(spec.mix.real) and min(plan.candidate_ratios(spec)) == 0:
            key = "search.ratio_range" if plan.samples_ratio_range(spec) else "mix.ratios"
            raise SpecError(key, "Optuna could draw R = 0 with mix.real = false, which trains on nothing",
                            "ratios > 0 when mix.real can be false in optuna mode, or mix.real = true")
        return
    if not plan.grid_points(spec):
        raise SpecError("mix.ratios", "every combination trains on nothing (R = 0 with mix.real = false)",
                        "a ratio > 0 when mix.real = false, or mix.real = true")


def validation_rule(spec: Spec) -> ValidationRule:
    """The study's validation rule (trainables.terms.validation): split hold-out or a share of each subset."""
    return dataclasses.replace(ValidationRule.of(spec.eval), sampling=spec.sampling)


def _check_carve(spec: Spec, num_classes: int) -> None:
    """Under validation_from = "subset", the smallest size's smallest class (class-balanced: n // K
    images) must give at least one validation image and keep at least one training image."""
    if spec.eval.validation_from != "subset":
        return
    sizes = [s for s in spec.sizes if s != FULL]
    if not sizes:
        return
    smallest = min(sizes)
    per_class = smallest // num_classes
    if per_class < 2:
        raise SpecError("sizes", f"{smallest} ({per_class} image per class) cannot be split into training and "
                        'validation images (eval.validation_from = "subset")',
                        f"sizes >= {2 * num_classes} ({num_classes} classes, 2 per class), or "
                        'eval.validation_from = "split"')
    fraction = spec.eval.validation_fraction
    if carved_per_class(per_class, fraction) < 1:
        least = smallest_fraction(per_class)
        raise SpecError("eval.validation_fraction", f"{fraction:g} of the smallest size {smallest} ({per_class} "
                        f"images per class) gives no validation image per class",
                        f"a fraction from {least:.3g} to 0.5 (one image per class at size {smallest}), or "
                        "larger sizes")


def _check_sizes(spec: Spec, num_classes: int, per_class: int | None) -> None:
    """Sizes against the dataset, after the validation split takes its images out of every class."""
    for size in spec.sizes:
        if size != FULL and size < num_classes:
            raise SpecError("sizes", f"{size} is fewer than one image per class ({num_classes} classes)",
                            f'integers >= {num_classes} for {spec.dataset}, or "{FULL}"')
    _check_carve(spec, num_classes)
    if per_class is None:
        return      # a folder dataset: its class sizes are known once it is decoded (trainables.data.sampling.subset checks)
    total = per_class * num_classes
    largest = max((s for s in spec.sizes if s != FULL), default=0)
    if largest > total and spec.sampling == "balanced":
        raise SpecError("sizes", f"{largest} is more than {spec.dataset} has ({total} class-balanced "
                                 "training images)", f'integers from {num_classes} to {total}, or "{FULL}"')
    validation = ValidationRule(spec.eval.validation_from, spec.eval.validation).held_out(total)
    held_out = -(-validation // num_classes)    # the class-balanced split takes at most this per class
    if held_out >= per_class:
        raise SpecError("eval.validation", f"{validation} images leave no training images in {spec.dataset} "
                        f"({per_class} per class)", f"fewer than {total}, or 0")
    if spec.sampling == "balanced":   # stratified needs every class's count: checked once the data is loaded
        check_sizes_fit(spec, [per_class - held_out] * num_classes, held_out=validation)


FOLDER_ALLOWED = "folder:PATH where PATH is a directory with one subfolder of images per class"
CSV_ALLOWED = "csv:PATH where PATH is a label file of path,label[,split] rows, paths relative to its folder"


def _check_folder(spec: Spec) -> None:
    """A `folder:PATH` dataset must name an existing directory (its layout is checked by trainables.data.folders)."""
    path = Path(spec.dataset[len(FOLDER_PREFIX):]).expanduser()
    if not path.exists():
        raise SpecError("dataset", f"folder {str(path)!r} does not exist", FOLDER_ALLOWED)
    if not path.is_dir():
        raise SpecError("dataset", f"{str(path)!r} is not a directory", FOLDER_ALLOWED)


def _check_label_file(spec: Spec) -> None:
    """A `csv:PATH` dataset must name an existing file (its rows are checked by trainables.data.label_files)."""
    path = Path(spec.dataset[len(CSV_PREFIX):]).expanduser()
    if not path.is_file():
        raise SpecError("dataset", f"label file {str(path)!r} does not exist", CSV_ALLOWED)


def _check_registries(spec: Spec) -> None:
    """Names must be registry names; sizes must fit the dataset (a user's images are scanned from their
    headers). Without torch: a refused study file costs a fraction of a second."""
    allowed = DATASETS.allowed()
    if spec.dataset.startswith(FOLDER_PREFIX):
        _check_folder(spec)
        allowed = FOLDER_ALLOWED
    elif spec.dataset.startswith(CSV_PREFIX):
        _check_label_file(spec)
        allowed = CSV_ALLOWED
    elif problem := DATASETS.problem(spec.dataset):
        raise SpecError("dataset", problem, allowed)
    try:   # for a folder or label file: scans file headers, decodes nothing
        info = dataset_info(spec.dataset, DecodeOptions.of(spec))
    except DataError as error:
        if getattr(error, "key", "dataset") == "image_size":
            raise SpecError("image_size", str(error), 'a side from 28 to 128, or [height, width]') from None
        raise SpecError("dataset", str(error), allowed) from None
    _check_sizes(spec, info.num_classes, info.known_train_per_class)

    for arch in as_values(spec.gan.arch):
        if problem := GAN_NAMES.problem(arch):
            raise SpecError("gan.arch", problem, GAN_NAMES.allowed())
        conditionings = set(as_values(spec.gan.conditioning))
        if arch in CONDITIONAL_ONLY_ARCHS and conditionings != {"conditional"}:
            raise SpecError("gan.conditioning", f"{arch} is a label-conditioned GAN and cannot be trained "
                            "per-class", "conditional")
    _check_gan_options(spec, info.shape[0])
    for name in [*spec.classifier.name, *spec.classifier.by_name]:
        if problem := CLASSIFIER_NAMES.problem(name):
            key = "classifier.name" if name in spec.classifier.name else f"classifier.{name}"
            raise SpecError(key, problem, CLASSIFIER_NAMES.allowed())


def _check_gan_options(spec: Spec, channels: int) -> None:
    """Recipes against the registry; options against every architecture they are combined with."""
    for recipe in as_values(spec.gan.recipe):
        if recipe not in RECIPES:
            raise SpecError("gan.recipe", f"unknown recipe {recipe!r}{suggest(recipe, RECIPES)}", " | ".join(RECIPES))
    checks = (("loss", lambda options, arch: check_loss(options.loss, arch in CONDITIONAL_ONLY_ARCHS),
               " | ".join(CHOSEN_LOSSES) + " (DAGAN's 2K-way discriminator: bce only)"),
              ("diffaugment", lambda options, arch: check_policy(options.diffaugment, channels),
               'a comma list of translation, cutout, color (color: RGB only), or ""'))
    for recipe, arch in itertools.product(as_values(spec.gan.recipe), as_values(spec.gan.arch)):
        for key, check, allowed in checks:
            for value in as_values(getattr(spec.gan, key)):
                try:
                    check(resolve_options(recipe, {key: value}), arch)
                except ValueError as error:
                    raise SpecError(f"gan.{key}", f"{error} (gan.arch {arch}, gan.recipe {recipe})", allowed) from None


def spec_from_dict(raw: Mapping[str, Any], *, check_registries: bool = True) -> Spec:
    """Validate a parsed study file (defaults filled in) and return the frozen Spec.

    check_registries=False skips the checks against the registries and the dataset (a user's images are
    scanned); use it only to read a spec that was validated before (for example a run's spec.toml).
    """
    spec = build(Spec, raw)
    _check_per_classifier_tables(spec)
    _check_validation_source(spec)
    _check_validation_use(spec)
    _check_repeats(spec)
    _check_search_storage(spec)
    _check_workers(spec)
    _check_grid(spec)
    if check_registries:
        _check_registries(spec)
    return spec


def load_spec(path_or_preset: str | Path, overrides: Sequence[str] = (), *,
              check_registries: bool = True) -> Spec:
    """Read a study file (a .toml path, or the name of a bundled preset), apply `--set` overrides
    (`section.key=value`) and validate the result. Raises SpecError on any problem."""
    raw = read_raw(path_or_preset)
    return spec_from_dict(apply_overrides(raw, overrides), check_registries=check_registries)


def loads_spec(text: str, overrides: Sequence[str] = (), *, check_registries: bool = True) -> Spec:
    """Like load_spec, from TOML text (for example a run's spec.toml)."""
    raw = parse_toml(text, "<string>")
    return spec_from_dict(apply_overrides(raw, overrides), check_registries=check_registries)
