"""The columns of results.csv and curves.csv (docs/ARCHITECTURE.md, "Outputs"): the one vocabulary the
driver writes them in (study.results) and the analysis reads them in. It says which columns are
settings, which are metrics, which are axes of the design, and which axes belong to the GAN (and so
mean nothing for an R = 0 trial, which uses no GAN). Which metric a report shows and which one chooses
is decided in analysis/metrics.py; a record's curve row is trainables.files.trial_records.CURVE_COLUMNS.
"""

from __future__ import annotations

# results.csv's names for the settings every study has; any other setting of [gan], [classifier] and
# [mix] is `<section>_<key>` (gan_epochs, classifier_lr, mix_filter).
COLUMN_NAMES = {("gan", "alpha"): "alpha", ("gan", "arch"): "gan_arch", ("gan", "conditioning"): "conditioning",
                ("classifier", "name"): "classifier", ("mix", "ratios"): "ratio", ("mix", "real"): "real",
                ("mix", "augment"): "augment"}


def column_name(section: str, key: str) -> str:
    """The results.csv column of the setting `key` of [section]."""
    return COLUMN_NAMES.get((section, key), f"{section}_{key}")


def dotted_key_column(key: str) -> str:
    """The column of a dotted spec key: gan.alpha -> alpha, gan.epochs -> gan_epochs, and a key of a
    nested table (classifier.lenet.epochs) with every dot made an underscore."""
    section, _, rest = key.partition(".")
    return COLUMN_NAMES.get((section, rest), key.replace(".", "_"))


# The settings every results.csv has, in its order; other settings get a column when they vary.
# subset_seed (study.plan.subset_seed) names the trial's independent unit, its real subset and GAN;
# `seed` is the classifier repeat (they are equal under gan.repeats = "per-seed"). Every row has it,
# R = 0 too: the analysis pairs a GAN arm with the baseline of the same subset.
UNIT_COLUMN = "subset_seed"
SETTING_COLUMNS = ("size", "alpha", "ratio", "classifier", "seed", UNIT_COLUMN, "real", "augment", "gan_arch",
                   "conditioning")

# Accuracy-like final metrics of one classifier trial. The first three are empty when a study has no
# validation split.
VALIDATION_METRICS = ("val_acc_max", "best_val_epoch", "test_acc_at_best_val")
TEST_METRICS = ("test_acc", "test_acc_max", "test_loss", "train_loss", "precision", "recall", "f1")
# Mean per-class recall at the reported epoch: beside accuracy on an imbalanced test set, whose
# imbalance (largest / smallest class) is TEST_IMBALANCE.
BALANCED_ACCURACY, TEST_IMBALANCE = "balanced_acc", "test_imbalance"
ACCURACY_METRICS = (*VALIDATION_METRICS, *TEST_METRICS, BALANCED_ACCURACY)
# What a trial cost: bookkeeping, never an axis of the design. train_images (real + synthetic count)
# follows from size and ratio; train_steps and epochs_trained follow from the schedule.
COST_METRICS = ("train_seconds", "images_per_second", "train_images", "train_steps", "epochs_trained")
# Images a trial validated on: the split's hold-out (eval.validation_from = "split"), or the part carved
# out of its own subset ("subset"), which `size` (the labelled budget n) includes. Never an axis.
VALIDATION_COUNT = "validation_images"
METRICS = (*ACCURACY_METRICS, *COST_METRICS)
# A trial's final values in results.csv, in its order (a trial's record holds them under these names).
METRIC_COLUMNS = (*VALIDATION_METRICS, *TEST_METRICS, *COST_METRICS, VALIDATION_COUNT, BALANCED_ACCURACY,
                  TEST_IMBALANCE)
# Per-class test accuracies: a JSON list in one column.
PER_CLASS = "per_class_acc"
# What became of a trial: ok | error | diverged, why, and the GAN it read ("" for none).
OUTCOME_COLUMNS = ("gan_key", "status", "reason")


def results_columns(settings) -> list[str]:
    """results.csv's columns, in order, for a study whose setting columns are `settings`."""
    return ["trial", "dataset", *settings, *OUTCOME_COLUMNS, *METRIC_COLUMNS, PER_CLASS]


# Columns that identify or describe a trial but are not an axis of the design (`subset_seed` names the
# independent unit: the real subset and its GAN; seeds inside it are classifier repeats). `study` names the
# source folder when several folders are merged into one report: replicate folders of one design must pool.
NON_AXIS = frozenset({"trial", "seed", UNIT_COLUMN, *OUTCOME_COLUMNS, PER_CLASS, "trial_seconds", "study",
                      "trial_id", "curve", VALIDATION_COUNT, TEST_IMBALANCE, *METRICS})

# The axes every study has, in the order tables show them.
CORE_AXES = ("dataset", "size", "classifier", "real", "augment", "alpha", "ratio", "gan_arch", "conditioning")

# Axes that describe the GAN or how its images are used: irrelevant (blanked) for R = 0 rows, so one
# R = 0 trial is the baseline of every GAN arm. Any column named gan_<key> (gan_epochs, gan_recipe) and
# the synthetic-sample filter (mix_filter, mix_filter_threshold) are GAN axes too.
GAN_AXES = frozenset({"alpha", "gan_arch", "conditioning"})
GAN_AXIS_PREFIXES = ("gan_", "gan.", "mix_filter")


def is_gan_axis(column: str) -> bool:
    """True for axes that only matter when synthetic images are used (R > 0)."""
    return column in GAN_AXES or (column.startswith(GAN_AXIS_PREFIXES) and column != "gan_key")


def axis_columns(columns) -> list[str]:
    """The design axes among `columns`: core axes first (in CORE_AXES order), then extra spec fields."""
    present = [c for c in CORE_AXES if c in columns]
    extra = sorted(c for c in columns if c not in NON_AXIS and c not in CORE_AXES)
    return present + extra
