"""Balanced accuracy beside accuracy, when the test set is imbalanced.

On a test set whose classes differ in size, accuracy weighs each class by its count, so a classifier
that ignores a small class can still score high; balanced accuracy (the mean per-class recall, which
each trial records at its reported epoch as `balanced_acc`) weighs every class the same. The trials
record their test set's imbalance (`test_imbalance`: largest over smallest class count); from
IMBALANCED on, the report adds this table: per size, classifier and R, both means over the trials.
"""

from __future__ import annotations

import pandas as pd

from analysis.render import Table

IMBALANCED = 1.5     # largest / smallest test class: below this, the two numbers barely differ


def imbalance(trials: pd.DataFrame) -> float | None:
    """The test set's imbalance as the trials recorded it, or None when no trial recorded it (none finished)."""
    if "test_imbalance" not in trials or "balanced_acc" not in trials:
        return None
    values = pd.to_numeric(trials["test_imbalance"], errors="coerce").dropna()
    return float(values.max()) if len(values) else None


def balanced_table(trials: pd.DataFrame, metric: str) -> Table | None:
    """Accuracy (`metric`) and balanced accuracy per size x classifier x R, or None when the test set
    is balanced (or the trials did not record it)."""
    ratio = imbalance(trials)
    if ratio is None or ratio < IMBALANCED:
        return None
    ok = trials[trials.get("status", "ok") == "ok"] if "status" in trials else trials
    keys = [c for c in ("size", "classifier", "ratio") if c in ok]
    if ok.empty or not keys:
        return None
    numbers = ok.assign(**{m: pd.to_numeric(ok[m], errors="coerce") for m in (metric, "balanced_acc")})
    data = numbers.groupby(keys, dropna=False).agg(
        accuracy=(metric, "mean"), balanced_accuracy=("balanced_acc", "mean"), trials=(metric, "size")).reset_index()
    display = data.copy()
    for column in ("accuracy", "balanced_accuracy"):
        display[column] = data[column].map(lambda v: "" if pd.isna(v) else f"{100 * v:.1f}")
    display = display.rename(columns={"accuracy": f"accuracy ({metric})", "balanced_accuracy": "balanced accuracy"})
    note = (f"The test set is imbalanced (largest class {ratio:.1f}x the smallest): balanced accuracy is the mean "
            "per-class recall at the same epoch, every class weighed the same; percent, means over the trials.")
    return Table("balanced_accuracy", "Accuracy and balanced accuracy (imbalanced test set)", display.astype(str),
                 data, (note,))
