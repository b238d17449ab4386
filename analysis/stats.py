"""Statistics over seeds: cell means with t-based 95% CIs, gains over R = 0 paired by seed, best R.

A *cell* is one combination of the design axes (everything but the seed). The seed fixes the real
subset, so an R > 0 trial and the R = 0 trial with the same seed saw the same real images: their
difference is a paired observation (DESIGN.md, "Every cell ... the gain over R = 0 paired by seed").
Only trials with status "ok" enter any statistic or ranking; diverged and errored ones are counted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.columns import DEFAULT_METRIC, axis_columns, is_gan_axis

CONFIDENCE = 0.95
ALPHA_LEVEL = 0.05
BOOTSTRAP_MIN_SEEDS = 5         # below this a bootstrap CI is too coarse to report
BOOTSTRAP_RESAMPLES = 10_000


@dataclass(frozen=True)
class Interval:
    mean: float
    std: float
    n: int
    lo: float
    hi: float


def mean_ci(values, confidence: float = CONFIDENCE) -> Interval:
    """Mean and two-sided t-distribution CI (std with ddof=1). One value: CI is NaN (no spread known)."""
    x = np.asarray(pd.Series(values, dtype="float64").dropna(), dtype=float)
    n = len(x)
    if n == 0:
        return Interval(np.nan, np.nan, 0, np.nan, np.nan)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, np.nan, 1, np.nan, np.nan)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1) * std / np.sqrt(n))
    return Interval(mean, std, n, mean - half, mean + half)


def paired_p_value(differences) -> float:
    """Two-sided paired t-test p-value (= one-sample t-test of the differences against 0)."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return np.nan
    if np.allclose(d, d[0]):
        # Zero spread: the t statistic is undefined. Identical runs differ by exactly 0 -> no evidence.
        return 1.0 if np.isclose(d[0], 0.0) else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_1samp(d, 0.0).pvalue)


def bootstrap_ci(differences, confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean, seeded so reports are reproducible."""
    d = np.asarray(differences, dtype=float)
    rng = np.random.default_rng(seed)
    means = rng.choice(d, size=(BOOTSTRAP_RESAMPLES, len(d)), replace=True).mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def stars(p: float) -> str:
    if p is None or not np.isfinite(p):
        return ""
    return "**" if p < 0.01 else "*" if p < ALPHA_LEVEL else ""


def default_metric(df: pd.DataFrame) -> str:
    if DEFAULT_METRIC in df and df[DEFAULT_METRIC].notna().any():
        return DEFAULT_METRIC
    return "test_acc"


# ---------------------------------------------------------------- cells
def design_axes(df: pd.DataFrame) -> list[str]:
    return axis_columns(df.columns)


def varying_axes(df: pd.DataFrame) -> list[str]:
    """Design axes with more than one value among trials (GAN axes judged on R > 0 trials only)."""
    blanked = blank_gan_axes(df)
    return [a for a in design_axes(df) if blanked[a].replace("", np.nan).nunique(dropna=True) > 1]


def blank_gan_axes(df: pd.DataFrame) -> pd.DataFrame:
    """R = 0 trials use no GAN, so alpha/arch/... mean nothing for them: set those to NaN.

    This lets one R = 0 cell serve as the baseline of every alpha, however the driver filled them.
    """
    df = df.copy()
    no_gan = df["ratio"].fillna(0) == 0
    for column in design_axes(df):
        if is_gan_axis(column):
            df[column] = df[column].astype(object)
            df.loc[no_gan, column] = np.nan
    return df


def per_seed(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One value per (cell, seed) from ok trials; duplicates (e.g. R = 0 run once per alpha) averaged."""
    ok = blank_gan_axes(df[df["status"] == "ok"])
    ok = ok[ok[metric].notna()]
    axes = design_axes(ok)
    if ok.empty:
        return pd.DataFrame(columns=[*axes, "seed", "value"])
    out = ok.groupby([*axes, "seed"], dropna=False, sort=True)[metric].mean()
    return out.rename("value").reset_index()


def cell_stats(df: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Per cell: mean, std, n, ci_lo, ci_hi over seeds, failed-trial counts and a note."""
    metric = metric or default_metric(df)
    axes = design_axes(df)
    seeds = per_seed(df, metric)
    rows = []
    for key, group in seeds.groupby(axes, dropna=False, sort=True):
        ci = mean_ci(group["value"])
        rows.append({**dict(zip(axes, key, strict=True)), "mean": ci.mean, "std": ci.std, "n": ci.n,
                     "ci_lo": ci.lo, "ci_hi": ci.hi})
    cells = pd.DataFrame(rows, columns=[*axes, "mean", "std", "n", "ci_lo", "ci_hi"])
    failed = blank_gan_axes(df[df["status"] != "ok"])
    if not failed.empty:
        counts = (failed.groupby([*axes, "status"], dropna=False).size().unstack("status", fill_value=0)
                  .reset_index())
        cells[axes], counts[axes] = cells[axes].astype(object), counts[axes].astype(object)
        cells = cells.merge(counts, on=axes, how="outer")
    for status in ("error", "diverged"):
        cells[status] = cells[status].fillna(0).astype(int) if status in cells else 0
    cells["n"] = cells["n"].fillna(0).astype(int)
    cells["note"] = [_cell_note(r) for r in cells.itertuples()]
    return cells.sort_values(axes, na_position="first", key=_sort_key).reset_index(drop=True)


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


def _sort_key(column: pd.Series) -> pd.Series:
    """Sort numbers numerically and put strings such as "full" after them."""
    numeric = pd.to_numeric(column, errors="coerce")
    if numeric.notna().sum() == column.notna().sum():
        return numeric
    return column.map(lambda v: (1, str(v)) if isinstance(v, str) else (0, v))


# ---------------------------------------------------------------- gains over R = 0
def pairing_keys(df: pd.DataFrame) -> list[str]:
    """What must match between a trial and its R = 0 partner: every non-GAN axis but ratio and real."""
    return [a for a in design_axes(df) if a not in ("ratio", "real") and not is_gan_axis(a)]


def gains(df: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Per cell with R > 0 (or synthetic-only): mean gain over the real-only R = 0 cell, paired by seed.

    Synthetic-only cells (real=False) are compared with the real R = 0 baseline too: their "gain" is
    what replacing the real images by synthetic ones costs (Abadi Table 2).
    Columns: axes, gain, gain_lo, gain_hi (t CI), boot_lo, boot_hi (when n >= 5), p_value, n_pairs,
    baseline (mean of the paired R = 0 values).
    """
    metric = metric or default_metric(df)
    axes = design_axes(df)
    seeds = per_seed(df, metric)
    is_base = (seeds["ratio"].fillna(0) == 0) & seeds["real"].astype(bool)
    keys = pairing_keys(df)
    base = (seeds[is_base].groupby([*keys, "seed"], dropna=False)["value"].mean()
            .rename("base_value").reset_index())
    paired = seeds[~is_base].merge(base, on=[*keys, "seed"], how="inner")
    columns = [*axes, "gain", "gain_lo", "gain_hi", "boot_lo", "boot_hi", "p_value", "n_pairs", "baseline"]
    rows = []
    for key, group in paired.groupby(axes, dropna=False, sort=True):
        diff = (group["value"] - group["base_value"]).to_numpy()
        ci = mean_ci(diff)
        boot = bootstrap_ci(diff) if len(diff) >= BOOTSTRAP_MIN_SEEDS else (np.nan, np.nan)
        rows.append({**dict(zip(axes, key, strict=True)), "gain": ci.mean, "gain_lo": ci.lo, "gain_hi": ci.hi,
                     "boot_lo": boot[0], "boot_hi": boot[1], "p_value": paired_p_value(diff),
                     "n_pairs": len(diff), "baseline": float(group["base_value"].mean())})
    return pd.DataFrame(rows, columns=columns)


def verdict(gain: float, p: float, lo: float) -> str:
    if not np.isfinite(p):
        return "untested (fewer than 2 paired seeds)"
    if p < ALPHA_LEVEL and gain > 0:
        return "helps"
    if p < ALPHA_LEVEL and gain < 0:
        return "hurts"
    return "no significant difference"


def best_ratio_table(df: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Best R > 0 per size (and per any other varying non-GAN axis), with its gain over R = 0.

    Columns: the grouping axes (size first), best_ratio, the GAN settings of the winner when they vary,
    mean (of `metric`), n, baseline (R = 0 mean), gain, gain_lo, gain_hi, p_value, verdict.
    Only ok trials rank; a cell whose every trial diverged or errored cannot be best.
    """
    metric = metric or default_metric(df)
    merged = cells_with_gains(df, metric)
    merged = merged[(merged["n"] > 0) & (merged["ratio"].fillna(0) > 0)]
    if merged.empty:
        return pd.DataFrame(columns=["size", "best_ratio", "mean", "n", "baseline", "gain", "gain_lo",
                                     "gain_hi", "p_value", "verdict"])
    varying = [a for a in varying_axes(df) if a != "ratio"]
    group_axes = ["size"] + [a for a in varying if a != "size" and not is_gan_axis(a)]
    gan_shown = [a for a in varying if is_gan_axis(a)]
    rows = []
    for key, group in merged.groupby(group_axes, dropna=False, sort=True):
        best = group.sort_values(["mean", "ratio"], ascending=[False, True]).iloc[0]
        rows.append({**dict(zip(group_axes, key, strict=True)), "best_ratio": best["ratio"],
                     **{a: best[a] for a in gan_shown}, "mean": best["mean"], "n": int(best["n"]),
                     "baseline": best["baseline"], "gain": best["gain"], "gain_lo": best["gain_lo"],
                     "gain_hi": best["gain_hi"], "p_value": best["p_value"],
                     "verdict": verdict(best["gain"], best["p_value"], best["gain_lo"])})
    out = pd.DataFrame(rows)
    return out.sort_values(group_axes, key=_sort_key).reset_index(drop=True)


def cells_with_gains(df: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """cell_stats joined with gains on the design axes (gain columns NaN for R = 0 cells)."""
    metric = metric or default_metric(df)
    axes = design_axes(df)
    cells, gain_table = cell_stats(df, metric), gains(df, metric)
    # All-NaN axes (e.g. gan_arch of a study without GANs) infer different dtypes in the two frames.
    for frame in (cells, gain_table):
        frame[axes] = frame[axes].astype(object)
    merged = cells.merge(gain_table, on=axes, how="left")
    for axis in axes:
        merged[axis] = pd.to_numeric(merged[axis]) if _all_numeric(merged[axis]) else merged[axis]
    return merged


def _all_numeric(column: pd.Series) -> bool:
    values = column.dropna()
    return len(values) > 0 and all(isinstance(v, int | float | np.number) and not isinstance(v, bool)
                                   for v in values)
