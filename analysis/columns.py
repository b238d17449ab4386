"""Column vocabulary of results.csv / curves.csv (docs/ARCHITECTURE.md, "Outputs").

One place that says which columns are metrics, which are experiment axes, and which axes belong to the
GAN (and so mean nothing for an R = 0 trial, which uses no GAN).
"""

from __future__ import annotations

# Final metrics of one classifier trial (DESIGN.md, "Metrics per trial").
METRICS = (
    "test_acc",
    "test_acc_max",
    "test_loss",
    "train_loss",
    "precision",
    "recall",
    "f1",
    "train_seconds",
    "images_per_second",
)

# Columns that identify or describe a trial but are not an axis of the design.
# train_images (real + synthetic count) follows from size and ratio, so it is bookkeeping, not an axis.
NON_AXIS = frozenset({"trial", "seed", "status", "reason", "gan_key", "per_class_acc", "train_images",
                      "trial_seconds", *METRICS})

# The axes every study has, in the order tables show them.
CORE_AXES = ("dataset", "size", "classifier", "real", "augment", "alpha", "ratio", "gan_arch", "conditioning")

# Axes that describe the GAN: irrelevant (blanked) for R = 0 rows. Any extra column whose name starts
# with "gan" (e.g. gan_epochs, gan.lr) is a GAN axis too.
GAN_AXES = frozenset({"alpha", "gan_arch", "conditioning"})

DEFAULT_METRIC = "test_acc_max"   # Abadi reports the best epoch's accuracy; DESIGN.md's search.metric default

STATUSES = ("ok", "error", "diverged")

# Training-set size of each bundled dataset, so `size = "full"` joins the papers' 60000 / 50000.
FULL_TRAIN_SIZES = {"mnist": 60000, "fashion-mnist": 60000, "cifar10": 50000, "svhn": 73257, "mnist-5k": 4000}

# Classes per dataset, for "near chance" warnings when the files do not say.
NUM_CLASSES = {"mnist": 10, "fashion-mnist": 10, "cifar10": 10, "svhn": 10, "mnist-5k": 10, "kdef": 7}

METRIC_LABELS = {
    "test_acc": "test accuracy (last epoch)",
    "test_acc_max": "test accuracy (best epoch)",
    "f1": "macro F1",
    "precision": "macro precision",
    "recall": "macro recall",
}


def is_gan_axis(column: str) -> bool:
    """True for axes that only matter when synthetic images are used (R > 0)."""
    return column in GAN_AXES or (column.startswith("gan") and column != "gan_key")


def axis_columns(columns) -> list[str]:
    """The design axes among `columns`: core axes first (in CORE_AXES order), then extra spec fields."""
    present = [c for c in CORE_AXES if c in columns]
    extra = sorted(c for c in columns if c not in NON_AXIS and c not in CORE_AXES)
    return present + extra


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))
