"""GAN augmentation against the cheap alternative: classic augmentation (flips, crops) without a GAN.

A study with `mix.augment = ["none", "classic"]` can answer more than "do GAN images beat R = 0": it
can say whether classic augmentation alone already gives the gain, and what GAN images add on top of
it. Both comparisons are paired by independent unit (the same real subset), like every gain here:

- classic alone: R = 0 with classic augmentation minus R = 0 without it;
- GAN vs classic: the chosen GAN cell without classic augmentation minus R = 0 with it.

Each comparison is its own family (Holm over the sizes and classifiers it covers); the GAN-on-top-of-
classic gain is the best-R row with augment = classic (analysis/selection.py) and is not recomputed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.cells import pairing_keys, per_unit
from analysis.stats import holm, holm_levels, mean_ci, paired_p_value
from trainables.files.results_columns import UNIT_COLUMN

CLASSIC, NONE = "classic", "none"
COLUMNS = ("gain", "gain_lo", "gain_hi", "p_value", "p_holm", "adj_lo", "adj_hi", "n_pairs")


def has_classic_arm(df: pd.DataFrame) -> bool:
    return "augment" in df and {CLASSIC, NONE} <= set(df["augment"].dropna().astype(str))


def _baselines(units: pd.DataFrame) -> pd.DataFrame:
    return units[(units["ratio"].fillna(0) == 0) & units["real"].astype(bool)]


def _paired_diffs(left: pd.DataFrame, right: pd.DataFrame, keys: list[str], unit: str) -> list[tuple[dict, np.ndarray]]:
    """(labels, left - right per unit) for every combination of `keys` both sides have."""
    left, right = left.copy(), right.copy()
    for frame in (left, right):
        frame[keys] = frame[keys].astype(object)
    paired = left.merge(right, on=[*keys, unit], suffixes=("", "_ref"))
    return [(dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
             (group["value"] - group["value_ref"]).to_numpy())
            for key, group in paired.groupby(keys, dropna=False, sort=True)]


def _family(found: list[tuple[dict, np.ndarray]]) -> pd.DataFrame:
    """One row per comparison; Holm over all of them, with the intervals that agree with it."""
    if not found:
        return pd.DataFrame(columns=COLUMNS)
    raw = np.array([paired_p_value(diff) for _, diff in found], dtype=float)
    counted = np.where(np.isfinite(raw), raw, 1.0)
    adjusted, levels = holm(counted), holm_levels(counted)
    rows = []
    for (labels, diff), p, p_adj, level in zip(found, raw, adjusted, levels, strict=True):
        ci, adj = mean_ci(diff), mean_ci(diff, 1 - level)
        rows.append({**labels, "gain": ci.mean, "gain_lo": ci.lo, "gain_hi": ci.hi, "p_value": p,
                     "p_holm": p_adj if np.isfinite(p) else np.nan, "adj_lo": adj.lo, "adj_hi": adj.hi,
                     "n_pairs": len(diff)})
    return pd.DataFrame(rows)


def _columns(frame: pd.DataFrame, keys: list[str], unit: str) -> pd.DataFrame:
    return frame[[*keys, unit, "value"]]


def classic_alone(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per size x classifier (every non-GAN axis but augment): R = 0 classic minus R = 0 none."""
    if not has_classic_arm(df):
        return pd.DataFrame(columns=COLUMNS)
    unit = UNIT_COLUMN
    base = _baselines(per_unit(df, metric))
    keys = [k for k in pairing_keys(df) if k != "augment"]
    return _family(_paired_diffs(_columns(base[base["augment"] == CLASSIC], keys, unit),
                                 _columns(base[base["augment"] == NONE], keys, unit), keys, unit))


def gan_versus_classic(df: pd.DataFrame, metric: str, best: pd.DataFrame) -> pd.DataFrame:
    """Per best-R row without classic augmentation: that GAN cell minus R = 0 with classic augmentation
    (which buys more: GAN images, or flips and crops?). best_ratio names the GAN cell compared."""
    if not has_classic_arm(df) or best.empty or "augment" not in best:
        return pd.DataFrame(columns=COLUMNS)
    unit = UNIT_COLUMN
    units = per_unit(df, metric)
    keys = [k for k in pairing_keys(df) if k != "augment"]
    base = _baselines(units)
    classic = _columns(base[base["augment"] == CLASSIC], keys, unit)
    # The chosen cell: its group's axes, its R and the GAN settings best_ratio_table names.
    matched = [a for a in best.columns if a in units.columns and a not in (unit, "value", "repeats", "ratio")]
    found = []
    for _, row in best[best["augment"] == NONE].iterrows():
        if "real" in row and not bool(row["real"]):
            continue
        mask = units["ratio"] == row["best_ratio"]
        for axis in matched:
            mask &= units[axis].isna() if pd.isna(row[axis]) else (units[axis] == row[axis])
        for labels, diff in _paired_diffs(_columns(units[mask], keys, unit), classic, keys, unit):
            found.append(({**labels, "best_ratio": row["best_ratio"]}, diff))
    return _family(found)
