"""The study file's schema: one frozen dataclass per section, each field with its default and its checker.

Defaults describe a quick offline study on mnist-5k. A field whose checker is `Axis` (or `ListOf`)
may be a list: each list is an axis of the grid. `Fixed` fields say how a study runs and take one
value. `build` turns a parsed TOML table into these dataclasses, refusing unknown keys.

Some of the less obvious keys (README.md describes the study file; `study show` prints a preset):
  top level    image_resize (resize | center-crop | pad: how image_size is reached), image_channels
               (auto | grey | rgb), first_seed (the study's seeds are first_seed .. first_seed + seeds
               - 1: `study confirm` starts past an explored study's seeds, so its subsets and GANs are fresh)
  [gan]        checkpoint_every (epochs between checkpoints and sample grids), beta1 (Adam's beta1;
               0.5 as in Radford et al.'s DCGAN)
  [classifier] compile (torch.compile the classifier; pays off on GPU for long runs), patience
               (early-stop: evaluations without a better validation accuracy before stopping),
               [classifier.NAME] sub-tables overriding keys for one classifier
  [search]     seed (the searcher's seed), max_concurrent (0 = as many trials as resources allow),
               asha (stop weak Optuna trials early), ratio_range (optuna only: sample R uniformly
               from [lo, hi] instead of from mix.ratios)
  [eval]       validation_from ("split": eval.validation held out of the training split before any
               subset; "subset": carved out of each real subset), validation_fraction (its share
               of each class of a subset under "subset"); see trainables/terms/validation.py
  [resources]  max_trials, max_gan_keys (the plan's size limits; study/limits.py says why)
  [faults]     max_failures (how often a crashed GAN run or classifier trial is retried)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from study.checks import (
    Axis,
    Bool,
    Choice,
    ChoiceOrCount,
    CountOrAuto,
    Fixed,
    Float,
    ImageSize,
    Int,
    ListOf,
    OptionalRange,
    Size,
    SpecError,
    Str,
    show,
    type_name,
)
from trainables.terms import validation as validation_rule
from trainables.terms.choices import (
    AUGMENTS,
    CONDITIONINGS,
    DEFAULT_DATA_ROOT,
    IMAGE_CHANNELS,
    IMAGE_RESIZES,
    MAX_IMAGE_SIDE_MODELS,
    MIN_IMAGE_SIDE,
    SAMPLINGS,
    SCHEDULES,
)
from trainables.terms.registry import suggest

SEARCH_MODES = ("grid", "optuna")
# epochs: the papers' protocol (epochs over the mixed set: R x n more images means more updates);
# steps: every R of a cell gets the updates of `epochs` epochs over the real subset alone;
# early-stop: evaluated every real-subset epoch's worth of updates, stopped after `patience`
# evaluations without a better validation accuracy, at most `epochs` evaluations.
GAN_REPEATS = ("per-seed", "once")
FILTERS = ("none", "confident")
REPORT_METRICS = ("test_acc_at_best_val", "test_acc", "test_acc_max", "f1")
# What Optuna may maximise: validation only. Every choice is made on validation; a search that
# maximised a test metric would report the best of many noisy test scores (the winner's curse).
SEARCH_METRICS = ("val_acc_max", "val_acc")
TEST_METRICS = ("test_acc_at_best_val", "test_acc", "test_acc_max", "f1")   # f1: macro F1 on the test set
# Accuracy points (1.0 = one percentage point): the smallest gain worth finding. The papers' claimed
# gains are 0.2-3 points at 87-99% baselines, so 1 point is the scale of the question; the analysis
# says "no meaningful difference" only when a whole CI lies inside +/- min_effect.
MIN_EFFECT_DEFAULT = 1.0
# eval.validation / validation_from / validation_fraction: the rule lives in trainables.terms.validation.
VALIDATION_CAP = validation_rule.CAP                  # "auto": 10% of the training split, at most this many images
VALIDATION_FRACTION = validation_rule.AUTO_FRACTION


def _field(default: Any, check) -> Any:
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"check": check})
    return field(default=default, metadata={"check": check})


def _section(cls: type) -> Any:
    return field(default_factory=cls, metadata={"section": cls})


@dataclass(frozen=True)
class GanSpec:
    """The GAN trained on each real subset (Abadi 3.2; Xing 2.2.2; Hooda III; Zhang & Wu 2.2)."""

    arch: str | tuple[str, ...] = _field("abadi", Axis(Str()))
    conditioning: str | tuple[str, ...] = _field("per-class", Axis(Choice(CONDITIONINGS)))
    alpha: tuple[float, ...] = _field((1.0,), ListOf(Float(0.0, exclusive=True)))
    epochs: int | tuple[int, ...] = _field(30, Axis(Int(1)))
    batch_size: int | tuple[int, ...] = _field(64, Axis(Int(1)))   # global: each of W workers takes batch/W
    lr: float | tuple[float, ...] = _field(2e-4, Axis(Float(0.0, exclusive=True)))
    beta1: float | tuple[float, ...] = _field(0.5, Axis(Float(0.0, maximum=1.0)))
    # A named bundle of the training options below (trainables.terms.gan_options.RECIPES); each option
    # left out (None) takes the recipe's value, each one set overrides it.
    recipe: str | tuple[str, ...] = _field("paper", Axis(Str()))
    loss: str | tuple[str, ...] | None = _field(None, Axis(Str()))
    diffaugment: str | tuple[str, ...] | None = _field(None, Axis(Str(r"[a-z, ]*", 'a comma list of translation, '
                                                                     'cutout, color, or "" for none')))
    diffaugment_strength: float | tuple[float, ...] | None = _field(None, Axis(Float(0.0)))
    ema: float | tuple[float, ...] | None = _field(None, Axis(Float(0.0, maximum=1.0)))
    spectral_norm: bool | tuple[bool, ...] | None = _field(None, Axis(Bool()))
    lr_d: float | tuple[float, ...] | None = _field(None, Axis(Float(0.0, exclusive=True)))
    lr_g: float | tuple[float, ...] | None = _field(None, Axis(Float(0.0, exclusive=True)))
    # per-seed: every seed its own real subset and GAN; once: one subset and GAN per size, the
    # classifier repeated (Abadi); a count k: k subsets and GANs per size, each with seeds / k
    # classifier repeats (a nested design). study.plan.subset_seed is the one rule.
    repeats: str | int = _field("per-seed", Fixed(ChoiceOrCount(
        GAN_REPEATS, 1, "GANs per size, each with seeds / count classifier repeats; it must divide seeds")))
    workers: int = _field(1, Fixed(Int(1)))
    checkpoint_every: int = _field(10, Fixed(Int(1)))


@dataclass(frozen=True)
class ClassifierSpec:
    """The classifier(s) trained on real + R x n synthetic images (Abadi 3.1; Xing 2.2.3)."""

    name: tuple[str, ...] = _field(("mlp",), ListOf(Str()))
    epochs: int | tuple[int, ...] = _field(15, Axis(Int(1)))
    batch_size: int | tuple[int, ...] = _field(64, Axis(Int(1)))
    lr: float | tuple[float, ...] = _field(1e-3, Axis(Float(0.0, exclusive=True)))
    schedule: str | tuple[str, ...] = _field("early-stop", Axis(Choice(SCHEDULES)))
    patience: int | tuple[int, ...] = _field(5, Axis(Int(1)))
    compile: bool = _field(False, Fixed(Bool()))
    # [classifier.NAME] sub-tables: NAME -> {key: value}, overriding the keys above for one classifier.
    by_name: dict = _field({}, None)


# Keys a [classifier.NAME] sub-table may set.
PER_CLASSIFIER_KEYS = ("epochs", "batch_size", "lr", "schedule", "patience")


@dataclass(frozen=True)
class MixSpec:
    """How the training set is built: R x n synthetic images, with or without the real ones."""

    ratios: tuple[float, ...] = _field((0.0, 0.5, 1.0, 2.0), ListOf(Float(0.0, maximum=1000.0,
                                                                          maximum_exclusive=False)))
    real: bool | tuple[bool, ...] = _field(True, Axis(Bool()))
    augment: str | tuple[str, ...] = _field("none", Axis(Choice(AUGMENTS)))
    # confident: keep only synthetic images that a classifier trained on the real subset assigns to
    # their label with probability >= filter_threshold (the GAN draws more to fill R x n).
    filter: str | tuple[str, ...] = _field("none", Axis(Choice(FILTERS)))
    filter_threshold: float | tuple[float, ...] = _field(0.9, Axis(Float(0.0, exclusive=True, maximum=1.0)))


@dataclass(frozen=True)
class EvalSpec:
    """The validation split every choice is made on, and what the tables report."""

    validation: int | str = _field("auto", CountOrAuto(f"{VALIDATION_FRACTION:.0%} of the training split, "
                                                       f"at most {VALIDATION_CAP}"))
    # split: eval.validation images held out of the training split before any subset (one set for the
    # whole study); subset: each real subset of n is carved into n - v training and v validation images,
    # v = validation_fraction of each class (trainables.terms.validation, the one home of the rule).
    validation_from: str = _field("split", Choice(validation_rule.SOURCES))
    validation_fraction: float = _field(validation_rule.DEFAULT_FRACTION, Float(
        0.0, exclusive=True, maximum=validation_rule.MAX_FRACTION, maximum_exclusive=False,
        unit='the share of each class of a real subset held out for validation under validation_from = "subset"'))
    metric: str = _field("test_acc_at_best_val", Choice(REPORT_METRICS))
    min_effect: float = _field(MIN_EFFECT_DEFAULT, Float(0.0, unit="accuracy points: 1.0 = one percentage point"))


@dataclass(frozen=True)
class SearchSpec:
    """Grid (every combination) or Optuna TPE over the axes."""

    mode: str = _field("grid", Choice(SEARCH_MODES))
    trials: int = _field(20, Int(1))
    metric: str = _field("val_acc_max", Choice(
        SEARCH_METRICS, refused=TEST_METRICS,
        refused_because="is a test metric: the search chooses on validation, never on test"))
    seed: int = _field(0, Int(0))
    max_concurrent: int = _field(0, Int(0))
    asha: bool = _field(False, Bool())
    ratio_range: tuple[float, float] | None = _field(None, OptionalRange())
    # An Optuna RDB URL: the search's trials persist there as an Optuna study named after the study,
    # which optuna-dashboard opens (`optuna-dashboard sqlite:///optuna.db`). Empty: in memory.
    storage: str = _field("", Str(r"|(sqlite|postgresql|mysql)(\+\w+)?://.*",
                                  "empty, or an Optuna RDB URL: sqlite:///optuna.db, postgresql://..., mysql://..."))


@dataclass(frozen=True)
class ResourcesSpec:
    """What one classifier trial reserves; fractional GPUs pack small trials onto one GPU."""

    # Ray counts resources in steps of 1e-4; a share below 0.01 of a core is a typo, not a plan.
    cpus_per_trial: float = _field(1.0, Float(0.01))
    gpus_per_trial: float = _field(0.0, Float(0.0))
    # A plan larger than these is refused (a typo'd axis, a range pasted as a list); raising one is the
    # explicit "yes, run it". Defaults and their reasons: study/limits.py.
    max_trials: int = _field(5000, Int(1))
    max_gan_keys: int = _field(500, Int(1))


@dataclass(frozen=True)
class FaultsSpec:
    """Retries for a crashed GAN run or classifier trial (Ray Train/Tune FailureConfig.max_failures)."""

    max_failures: int = _field(1, Int(0))


@dataclass(frozen=True)
class TrackingSpec:
    """Experiment trackers the classifier trials also report to, through Ray Tune's logger callbacks
    (optional extras: `pip install 'gan-augment-study[mlflow]'` or `[wandb]`)."""

    mlflow: str = _field("", Str(r".*", "empty, or an MLflow tracking URI: sqlite:///mlflow.db, http://host:5000"))
    wandb: str = _field("", Str(r"|[\w.-]+", "empty, or a Weights & Biases project name"))


@dataclass(frozen=True)
class Spec:
    """A resolved, validated study file."""

    name: str = _field("study", Str(r"[A-Za-z0-9][A-Za-z0-9._-]*",
                                    "letters, digits, '.', '_' and '-', starting with a letter or digit"))
    dataset: str = _field("mnist-5k", Str())
    data_root: str = _field(DEFAULT_DATA_ROOT, Str())
    # The size every image is decoded to, once (trainables.data.decode): "native" keeps the files' own
    # shared size; a side or [height, width] resizes by image_resize. image_channels: auto (grey when
    # every file is grey) | grey | rgb.
    image_size: str | tuple[int, int] = _field("native", ImageSize(MIN_IMAGE_SIDE, MAX_IMAGE_SIDE_MODELS))
    image_resize: str = _field("resize", Choice(IMAGE_RESIZES))
    image_channels: str = _field("auto", Choice(IMAGE_CHANNELS))
    # How a real subset of n is drawn: balanced (equal counts per class: the papers' protocol, and every
    # earlier study's numbers) | stratified (the training split's class proportions, >= 1 per class;
    # the synthetic images then follow the same class mix).
    sampling: str = _field("balanced", Fixed(Choice(SAMPLINGS)))
    sizes: tuple[int | str, ...] = _field((500, 1000), ListOf(Size()))
    seeds: int = _field(2, Int(1))
    first_seed: int = _field(0, Int(0))
    gan: GanSpec = _section(GanSpec)
    classifier: ClassifierSpec = _section(ClassifierSpec)
    mix: MixSpec = _section(MixSpec)
    eval: EvalSpec = _section(EvalSpec)
    search: SearchSpec = _section(SearchSpec)
    resources: ResourcesSpec = _section(ResourcesSpec)
    faults: FaultsSpec = _section(FaultsSpec)
    tracking: TrackingSpec = _section(TrackingSpec)

    @property
    def max_failures(self) -> int:
        return self.faults.max_failures


# The sections whose keys may be axes, in the order the grid nests them.
AXIS_SECTIONS = ("gan", "classifier", "mix")


def keys(cls: type) -> list[str]:
    """The keys a user may write in a section (by_name is written as [classifier.NAME] sub-tables)."""
    return [f.name for f in dataclasses.fields(cls) if f.name != "by_name"]


def sections() -> dict[str, type]:
    return {f.name: f.metadata["section"] for f in dataclasses.fields(Spec) if "section" in f.metadata}


def _field_check(cls: type, name: str):
    return next(f.metadata["check"] for f in dataclasses.fields(cls) if f.name == name)


def checked_name(value: str, where: str = "--name") -> str:
    """A study name as the `name` key allows it (no path separators, no leading dot: the folder
    `<storage>/<name>` stays inside the storage), for names that come from outside the spec."""
    return _field_check(Spec, "name")(where, value)


def _build_sub_tables(raw: Mapping[str, Any], prefix: str) -> dict:
    """[classifier.NAME] tables: scalar overrides of PER_CLASSIFIER_KEYS for one classifier."""
    result = {}
    for name, table in raw.items():
        out = {}
        for key, value in table.items():
            where = f"{prefix}{name}.{key}"
            if key not in PER_CLASSIFIER_KEYS:
                raise SpecError(where, f"unknown key{suggest(key, PER_CLASSIFIER_KEYS)}",
                                f"the keys of [{prefix}NAME]: {', '.join(PER_CLASSIFIER_KEYS)}")
            out[key] = Fixed(_field_check(ClassifierSpec, key).element)(where, value)
        result[name] = out
    return result


def build(cls: type, raw: Mapping[str, Any], prefix: str = "") -> Any:
    """Check `raw` against dataclass `cls` (unknown keys, types, ranges) and construct it."""
    known = keys(cls)
    has_sub_tables = any(f.name == "by_name" for f in dataclasses.fields(cls))
    sub_tables = {}
    for key, value in raw.items():
        if key in known:
            continue
        if has_sub_tables and isinstance(value, dict):
            sub_tables[key] = value     # [classifier.NAME]; NAME is checked against classifier.name
            continue
        where = f"{prefix}{key}"
        scope = f"the keys of [{prefix[:-1]}]" if prefix else "the top-level keys and sections"
        raise SpecError(where, f"unknown key{suggest(key, known)}", f"{scope}: {', '.join(known)}")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if "section" in f.metadata:
            section = raw.get(f.name, {})
            if not isinstance(section, dict):
                raise SpecError(key, f"{show(section)} is {type_name(section)}, not a table",
                                f"a [{f.name}] table with keys {', '.join(keys(f.metadata['section']))}")
            values[f.name] = build(f.metadata["section"], section, f"{key}.")
        elif f.name == "by_name":
            values[f.name] = _build_sub_tables(sub_tables, prefix)
        elif f.name in raw:
            values[f.name] = f.metadata["check"](key, raw[f.name])
    return cls(**values)


def as_values(value: Any) -> list:
    """A field's values as a list: one value, or each value of an axis."""
    return list(value) if isinstance(value, tuple) else [value]
