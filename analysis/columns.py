"""Column vocabulary of results.csv / curves.csv (docs/ARCHITECTURE.md, "Outputs").

One place that says which columns are metrics, which are experiment axes, and which axes belong to the
GAN (and so mean nothing for an R = 0 trial, which uses no GAN). Which metric a report shows and which
one chooses is decided in analysis/metrics.py.
"""

from __future__ import annotations

# Accuracy-like final metrics of one classifier trial (DESIGN.md, "Metrics per trial"). The first
# three are empty when a study has no validation split, and absent from results.csv files written
# before validation existed.
VALIDATION_METRICS = ("val_acc_max", "best_val_epoch", "test_acc_at_best_val")
ACCURACY_METRICS = (
    *VALIDATION_METRICS,
    "test_acc",
    "test_acc_max",
    "test_loss",
    "train_loss",
    "precision",
    "recall",
    "f1",
    "balanced_acc",   # mean per-class recall at the reported epoch (issue 28): beside accuracy on an imbalanced test set
)
# What a trial cost: bookkeeping, never an axis of the design. train_images (real + synthetic count)
# follows from size and ratio; train_steps and epochs_trained follow from the schedule.
COST_METRICS = ("train_seconds", "images_per_second", "train_images", "train_steps", "epochs_trained")
# Images a trial validated on: the split's hold-out (eval.validation_from = "split"), or the part carved
# out of its own subset ("subset"), which `size` (the labelled budget n) includes. Never an axis.
VALIDATION_COUNT = "validation_images"
METRICS = (*ACCURACY_METRICS, *COST_METRICS)

# Columns that identify or describe a trial but are not an axis of the design (`subset_seed` names the
# independent unit: the real subset and its GAN; seeds inside it are classifier repeats). `study` names the source
# folder when several folders are merged into one report: replicate folders of one design must pool.
NON_AXIS = frozenset({"trial", "seed", "subset_seed", "status", "reason", "gan_key", "per_class_acc", "trial_seconds",
                      "study", "trial_id", "curve", VALIDATION_COUNT, "test_imbalance", *METRICS})

# The axes every study has, in the order tables show them.
CORE_AXES = ("dataset", "size", "classifier", "real", "augment", "alpha", "ratio", "gan_arch", "conditioning")

# Axes that describe the GAN or how its images are used: irrelevant (blanked) for R = 0 rows, so one
# R = 0 trial is the baseline of every GAN arm. Any column named gan_<key> (gan_epochs, gan_recipe) and
# the synthetic-sample filter (mix_filter, mix_filter_threshold) are GAN axes too.
GAN_AXES = frozenset({"alpha", "gan_arch", "conditioning"})
GAN_AXIS_PREFIXES = ("gan_", "gan.", "mix_filter")

STATUSES = ("ok", "error", "diverged")

# The training split of each bundled dataset, before the validation hold-out. A `size = "full"` subset is
# this less the hold-out; analysis/load.full_sizes reads that true count from what the trials wrote and
# uses this table (with trainables.terms.validation.ValidationRule) only for a folder whose trials recorded none. The
# registry (trainables.data.datasets.DATASETS) knows each split's smallest class, not its total, and imports torch;
# tests/test_published.py checks that the two agree.
FULL_TRAIN_SIZES = {"mnist": 60000, "fashion-mnist": 60000, "cifar10": 50000, "svhn": 73257, "mnist-5k": 4000}

# Classes per dataset, for "near chance" warnings when the files do not say, and to turn DAGAN's per-class
# sizes into totals; kdef: Zhang & Wu Table 5 in published.csv (no loader: KDEF is not openly downloadable).
NUM_CLASSES = {"mnist": 10, "fashion-mnist": 10, "cifar10": 10, "svhn": 10, "mnist-5k": 10, "kdef": 7}


def is_gan_axis(column: str) -> bool:
    """True for axes that only matter when synthetic images are used (R > 0)."""
    return column in GAN_AXES or (column.startswith(GAN_AXIS_PREFIXES) and column != "gan_key")


def axis_columns(columns) -> list[str]:
    """The design axes among `columns`: core axes first (in CORE_AXES order), then extra spec fields."""
    present = [c for c in CORE_AXES if c in columns]
    extra = sorted(c for c in columns if c not in NON_AXIS and c not in CORE_AXES)
    return present + extra
