"""Per-class accuracy per cell, mean over seeds (results.csv `per_class_acc`, a JSON list per trial).

A GAN that collapsed on a class can leave the overall accuracy flat while one class drops; this table
shows it. A trial takes per_class_acc at the best-validation epoch (the last one without a validation split).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analysis.cells import blank_gan_axes, design_axes, sort_key, varying_axes
from analysis.metrics import SELECTION_METRIC, has_data
from analysis.render import Table, fmt_axis


def parse_per_class(value) -> np.ndarray | None:
    if isinstance(value, list | tuple | np.ndarray):
        values = value
    elif isinstance(value, str) and value.strip().startswith("["):
        try:
            values = json.loads(value)
        except json.JSONDecodeError:
            return None
    else:
        return None
    array = np.asarray(values, dtype=float)
    return array if array.ndim == 1 and len(array) else None


def _ok_vectors(trials: pd.DataFrame) -> pd.DataFrame:
    ok = trials[trials["status"] == "ok"].copy()
    ok["_vector"] = [parse_per_class(v) for v in ok.get("per_class_acc", pd.Series(index=ok.index))]
    return ok[ok["_vector"].map(lambda v: v is not None)]


def has_per_class(ctx) -> bool:
    return "per_class_acc" in ctx.trials and not _ok_vectors(ctx.trials).empty


def per_class_frame(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: the varying axes, n (seeds), class_0 ... class_{K-1}, worst_class, worst_acc."""
    ok = _ok_vectors(trials)
    if ok.empty:
        return pd.DataFrame()
    ok = blank_gan_axes(ok)
    axes, shown = design_axes(trials), varying_axes(trials)
    classes = max(len(v) for v in ok["_vector"])
    rows = []
    for key, group in ok.groupby(axes, dropna=False, sort=True):
        # Seeds first (duplicates of one seed averaged), then the mean over seeds.
        per_seed = [np.mean(np.stack([_pad(v, classes) for v in g["_vector"]]), axis=0)
                    for _, g in group.groupby("seed")]
        mean = np.nanmean(np.stack(per_seed), axis=0)
        cell = dict(zip(axes, key, strict=True))
        worst = int(np.nanargmin(mean))
        rows.append({**{a: cell[a] for a in shown}, "n": len(per_seed),
                     **{f"class_{i}": mean[i] for i in range(classes)},
                     "worst_class": worst, "worst_acc": mean[worst]})
    out = pd.DataFrame(rows)
    return out.sort_values(shown, key=sort_key, na_position="first").reset_index(drop=True) if shown else out


def _pad(vector: np.ndarray, classes: int) -> np.ndarray:
    return np.pad(vector, (0, classes - len(vector)), constant_values=np.nan)


def build_per_class(ctx, builder) -> Table:
    data = per_class_frame(ctx.trials)
    display = data.copy()
    for column in display:
        if column.startswith("class_") or column == "worst_acc":
            display[column] = display[column].map(lambda v: "" if np.isnan(v) else f"{v:.3f}")
        elif column != "n":
            display[column] = display[column].map(fmt_axis)
    display = display.rename(columns={"size": "size (real images)", "worst_class": "worst class",
                                      "worst_acc": "worst class acc",
                                      **{c: c.replace("_", " ") for c in display if c.startswith("class_")}})
    epoch = ("the epoch of best validation accuracy" if has_data(ctx.trials, SELECTION_METRIC)
             else "the last epoch (no validation split)")
    notes = (f"Accuracy on each class's test images at {epoch}; mean over seeds; R = 0 rows use no GAN.",
             "A class far below the others at R > 0 but not at R = 0 points at a GAN that collapsed or "
             "drew the wrong class there (see the GAN quality section).")
    return Table(builder.name, builder.title, display, data, notes)
