"""Trials -> cells: per-cell means with 95% CIs over seeds, and gains over R = 0 paired by seed.

A *cell* is one combination of the design axes (everything but the seed). The seed fixes the real
subset, so an R > 0 trial and the R = 0 trial with the same seed saw the same real images: their
difference is a paired observation (DESIGN.md, "Every cell ... the gain over R = 0 paired by seed").
Only trials with status "ok" enter any statistic or ranking; diverged and errored ones are counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.columns import axis_columns, is_gan_axis
from analysis.metrics import choose_metrics
from analysis.stats import BOOTSTRAP_MIN_SEEDS, bootstrap_ci, holm, mean_ci, paired_p_value

GAIN_COLUMNS = ("gain", "gain_lo", "gain_hi", "boot_lo", "boot_hi", "p_value", "p_holm", "n_pairs", "baseline")


def design_axes(df: pd.DataFrame) -> list[str]:
    return axis_columns(df.columns)


def varying_axes(df: pd.DataFrame) -> list[str]:
    """Design axes with more than one value among trials (GAN axes judged on R > 0 trials only)."""
    blanked = blank_gan_axes(df)
    return [a for a in design_axes(df) if blanked[a].replace("", np.nan).nunique(dropna=True) > 1]


def blank_gan_axes(df: pd.DataFrame) -> pd.DataFrame:
    """R = 0 trials use no GAN, so alpha/arch/gan_*/mix_filter mean nothing for them: set those to NaN.

    New runners write them blank already; older ones filled them. Either way one R = 0 cell then serves
    as the baseline of every GAN arm (every alpha, every arch).
    """
    df = df.copy()
    no_gan = df["ratio"].fillna(0) == 0
    for column in design_axes(df):
        if is_gan_axis(column):
            df[column] = df[column].astype(object)
            df.loc[no_gan, column] = np.nan
            df.loc[df[column].eq(""), column] = np.nan
    return df


def per_seed(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One value per (cell, seed) from ok trials; duplicates (e.g. R = 0 run once per alpha) averaged."""
    axes = design_axes(df)
    if metric not in df:
        return pd.DataFrame(columns=[*axes, "seed", "value"])
    ok = blank_gan_axes(df[df["status"] == "ok"])
    ok = ok[pd.to_numeric(ok[metric], errors="coerce").notna()]
    if ok.empty:
        return pd.DataFrame(columns=[*axes, "seed", "value"])
    ok[metric] = pd.to_numeric(ok[metric])
    out = ok.groupby([*axes, "seed"], dropna=False, sort=True)[metric].mean()
    return out.rename("value").reset_index()


def cell_stats(df: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Per cell: mean, std, n, ci_lo, ci_hi over seeds, failed-trial counts and a note."""
    metric = metric or choose_metrics(df).reported
    axes = design_axes(df)
    seeds = per_seed(df, metric)
    rows = []
    for key, group in seeds.groupby(axes, dropna=False, sort=True):
        ci = mean_ci(group["value"])
        rows.append({**dict(zip(axes, key, strict=True)), "mean": ci.mean, "std": ci.std, "n": ci.n,
                     "ci_lo": ci.lo, "ci_hi": ci.hi})
    cells = pd.DataFrame(rows, columns=[*axes, "mean", "std", "n", "ci_lo", "ci_hi"])
    # A cell whose every trial failed still gets a row: the tables show "— (3 diverged)", not "not run".
    failed = blank_gan_axes(df[df["status"] != "ok"])
    cells[axes] = cells[axes].astype(object)
    if not failed.empty:
        counts = (failed.groupby([*axes, "status"], dropna=False).size().unstack("status", fill_value=0)
                  .reset_index())
        counts[axes] = counts[axes].astype(object)
        cells = cells.merge(counts, on=axes, how="outer")
    for status in ("error", "diverged"):
        cells[status] = cells[status].fillna(0).astype(int) if status in cells else 0
    cells["n"] = cells["n"].fillna(0).astype(int)
    cells["note"] = [_cell_note(r) for r in cells.itertuples()]
    for axis in axes:
        cells[axis] = _restore_type(cells[axis])
    return cells.sort_values(axes, na_position="first", key=sort_key).reset_index(drop=True)


def _cell_note(row) -> str:
    parts = []
    if row.n == 1:
        parts.append("one seed only: no CI")
    if row.n == 0:
        parts.append("no successful trial")
    for status in ("diverged", "error"):
        count = getattr(row, status)
        if count:
            parts.append(f"{count} {status}")
    return "; ".join(parts)


def sort_key(column: pd.Series) -> pd.Series:
    """Sort numbers numerically and put strings such as "full" after them."""
    numeric = pd.to_numeric(column, errors="coerce")
    if numeric.notna().sum() == column.notna().sum():
        return numeric
    return column.map(lambda v: (1, str(v)) if isinstance(v, str) else (0, v))


# ---------------------------------------------------------------- gains over R = 0
def pairing_keys(df: pd.DataFrame) -> list[str]:
    """What must match between a trial and its R = 0 partner: every non-GAN axis but ratio and real.

    augment and classifier (and classifier_*) stay in: classic augmentation is compared with classic
    augmentation (DAGAN's C_aug), a lenet with a lenet.
    """
    return [a for a in design_axes(df) if a not in ("ratio", "real") and not is_gan_axis(a)]


def family_keys(axes: list[str]) -> list[str]:
    """Holm's family: the ratios tested with every other axis equal (size, alpha, arch, real, ...)."""
    return [a for a in axes if a != "ratio"]


def gains(df: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Per cell with R > 0 (or synthetic-only): mean gain over the real-only R = 0 cell, paired by seed.

    Synthetic-only cells (real=False) are compared with the real R = 0 baseline too: their "gain" is
    what replacing the real images by synthetic ones costs (Abadi Table 2).
    Columns: axes, gain, gain_lo, gain_hi (t CI), boot_lo, boot_hi (BCa bootstrap, when n >= 5),
    p_value (paired t), p_holm (Holm over the family of ratios, see family_keys), n_pairs, baseline
    (mean of the paired R = 0 values).
    """
    metric = metric or choose_metrics(df).reported
    axes = design_axes(df)
    seeds = per_seed(df, metric)
    is_base = (seeds["ratio"].fillna(0) == 0) & seeds["real"].astype(bool)
    keys = pairing_keys(df)
    base = (seeds[is_base].groupby([*keys, "seed"], dropna=False)["value"].mean()
            .rename("base_value").reset_index())
    for frame in (seeds, base):
        frame[keys] = frame[keys].astype(object)
    paired = seeds[~is_base].merge(base, on=[*keys, "seed"], how="inner")
    rows = []
    for key, group in paired.groupby(axes, dropna=False, sort=True):
        diff = (group["value"] - group["base_value"]).to_numpy()
        ci = mean_ci(diff)
        boot = bootstrap_ci(diff) if len(diff) >= BOOTSTRAP_MIN_SEEDS else (np.nan, np.nan)
        rows.append({**dict(zip(axes, key, strict=True)), "gain": ci.mean, "gain_lo": ci.lo, "gain_hi": ci.hi,
                     "boot_lo": boot[0], "boot_hi": boot[1], "p_value": paired_p_value(diff),
                     "p_holm": np.nan, "n_pairs": len(diff), "baseline": float(group["base_value"].mean())})
    out = pd.DataFrame(rows, columns=[*axes, *GAIN_COLUMNS])
    family = family_keys(axes)
    if len(out):
        out[family] = out[family].astype(object)
        for _, members in out.groupby(family, dropna=False, sort=False):
            out.loc[members.index, "p_holm"] = holm(members["p_value"].to_numpy())
    return out


def cells_with_gains(df: pd.DataFrame, metric: str | None = None, select_on: str | None = None) -> pd.DataFrame:
    """cell_stats joined with gains (NaN for R = 0 cells) and `select_mean`, the mean over seeds of the
    selection metric (val_acc_max unless the study has none), which every best-R choice ranks on."""
    if metric is None or select_on is None:
        choice = choose_metrics(df)
        metric, select_on = metric or choice.reported, select_on or choice.selection
    axes = design_axes(df)
    cells, gain_table = cell_stats(df, metric), gains(df, metric)
    # All-NaN axes (e.g. gan_arch of a study without GANs) infer different dtypes in the two frames.
    for frame in (cells, gain_table):
        frame[axes] = frame[axes].astype(object)
    merged = cells.merge(gain_table, on=axes, how="left")
    if select_on == metric:
        merged["select_mean"] = merged["mean"]
    else:
        selection = cell_stats(df, select_on)[[*axes, "mean"]].rename(columns={"mean": "select_mean"})
        selection[axes] = selection[axes].astype(object)
        merged = merged.merge(selection, on=axes, how="left")
    for axis in axes:
        merged[axis] = _restore_type(merged[axis])
    return merged


def _restore_type(column: pd.Series) -> pd.Series:
    """Axes go through object dtype for merging; numeric axes come back numeric for sorting and :g."""
    values = column.dropna()
    if len(values) == len(column) and len(values) and all(isinstance(v, bool | np.bool_) for v in values):
        return column.astype(bool)
    if len(values) and all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values):
        return pd.to_numeric(column)
    return column
