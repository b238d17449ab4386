"""Trials -> cells: per-cell means with 95% CIs over independent units, and gains over R = 0 paired
by unit.

A *cell* is one combination of the design axes (everything but the seed). An *independent unit* is a
real subset and the GAN trained on it (results.csv's `subset_seed`); the seeds inside a unit are
classifier repeats (`gan.repeats = "once"` or a count: a nested design). An R > 0 trial and the R = 0
trial of the same unit saw the same real images, so their difference is a paired observation; the
classifier repeats of a unit are averaged first, so a study of one GAN with three classifier seeds is
one observation, not three (every cell: mean +/- 95% CI over its independent units).
Only trials with status "ok" enter any statistic or ranking; diverged and errored ones are counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.metrics import choose_metrics
from analysis.stats import (
    BOOTSTRAP_MIN_SEEDS,
    Interval,
    bootstrap_ci,
    holm,
    holm_levels,
    mean_ci,
    no_spread,
    paired_p_value,
)
from trainables.files.results_columns import UNIT_COLUMN, axis_columns, is_gan_axis

GAIN_COLUMNS = ("gain", "gain_lo", "gain_hi", "boot_lo", "boot_hi", "p_value", "p_holm", "adj_lo", "adj_hi",
                "adj_level", "family_size", "n_pairs", "spread", "baseline", "n_repeats", "local_lo", "local_hi",
                "local_p", "local_p_holm")


def design_axes(df: pd.DataFrame) -> list[str]:
    return axis_columns(df.columns)


def varying_axes(df: pd.DataFrame) -> list[str]:
    """Design axes with more than one value among trials (GAN axes judged on R > 0 trials only)."""
    blanked = blank_gan_axes(df)
    return [a for a in design_axes(df) if blanked[a].replace("", np.nan).nunique(dropna=True) > 1]


def blank_gan_axes(df: pd.DataFrame) -> pd.DataFrame:
    """R = 0 trials use no GAN, so alpha/arch/gan_*/mix_filter mean nothing for them: set those to NaN.

    results.csv has them blank already, but a report over several folders fills a setting that differs
    between folders (gan_epochs, say) on every row of a folder, R = 0 rows too (analysis/merge.py). Blanked,
    one R = 0 cell serves as the baseline of every GAN arm (every alpha, every arch).
    """
    df = df.copy()
    no_gan = df["ratio"].fillna(0) == 0
    for column in design_axes(df):
        if is_gan_axis(column):
            df[column] = df[column].astype(object)
            df.loc[no_gan, column] = np.nan
            df.loc[df[column].eq(""), column] = np.nan
    return df


def _ok_values(df: pd.DataFrame, metric: str) -> pd.DataFrame | None:
    if metric not in df:
        return None
    ok = blank_gan_axes(df[df["status"] == "ok"])
    ok = ok[pd.to_numeric(ok[metric], errors="coerce").notna()]
    if ok.empty:
        return None
    ok[metric] = pd.to_numeric(ok[metric])
    ok[UNIT_COLUMN] = pd.to_numeric(ok[UNIT_COLUMN]).astype(int)
    return ok


def per_seed(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One value per (cell, unit, seed) from ok trials; duplicates (e.g. R = 0 run once per alpha)
    averaged. Under a nested design the seeds of one unit are its classifier repeats."""
    by = [*design_axes(df), UNIT_COLUMN, "seed"]
    ok = _ok_values(df, metric)
    if ok is None:
        return pd.DataFrame(columns=[*by, "value"])
    out = ok.groupby(by, dropna=False, sort=True)[metric].mean()
    return out.rename("value").reset_index()


def per_unit(df: pd.DataFrame, metric: str, seeds: pd.DataFrame | None = None) -> pd.DataFrame:
    """One value per (cell, independent unit): the mean of the unit's classifier repeats, with their
    count in `repeats`. Every test and every cell CI runs over these rows, never over repeats. `seeds`:
    per_seed(df, metric) when the caller has it already."""
    axes = design_axes(df)
    seeds = per_seed(df, metric) if seeds is None else seeds
    if seeds.empty:
        return pd.DataFrame(columns=[*axes, UNIT_COLUMN, "value", "repeats"])
    grouped = seeds.groupby([*axes, UNIT_COLUMN], dropna=False, sort=True)["value"]
    return pd.concat([grouped.mean(), grouped.size().rename("repeats")], axis=1).reset_index()


def cell_stats(df: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Per cell: mean, std, n (independent units), ci_lo, ci_hi over units, repeats (classifier trials
    behind them), ci_kind, failed-trial counts and a note.

    A cell with one unit but several classifier repeats gets the interval of its repeats, with
    ci_kind = "classifier repeats": it measures classifier noise for that one GAN, not a general spread.
    """
    metric = metric or choose_metrics(df).reported
    axes = design_axes(df)
    seeds = per_seed(df, metric)
    units = per_unit(df, metric, seeds)
    rows = []
    # units are seeds averaged per unit: both group into the same cells, in the same sorted order.
    for (key, group), (_, repeated) in zip(units.groupby(axes, dropna=False, sort=True),
                                           seeds.groupby(axes, dropna=False, sort=True), strict=True):
        ci, kind = mean_ci(group["value"]), "units"
        repeats = int(group["repeats"].sum())
        if ci.n == 1 and repeats > 1:
            noise = mean_ci(repeated["value"])
            ci, kind = Interval(ci.mean, noise.std, 1, noise.lo, noise.hi), "classifier repeats"
        rows.append({**dict(zip(axes, key, strict=True)), "mean": ci.mean, "std": ci.std, "n": ci.n,
                     "ci_lo": ci.lo, "ci_hi": ci.hi, "repeats": repeats, "ci_kind": kind})
    cells = pd.DataFrame(rows, columns=[*axes, "mean", "std", "n", "ci_lo", "ci_hi", "repeats", "ci_kind"])
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
    cells["repeats"] = cells["repeats"].fillna(0).astype(int)
    cells["note"] = [_cell_note(r) for r in cells.itertuples()]
    for axis in axes:
        cells[axis] = _restore_type(cells[axis])
    return cells.sort_values(axes, na_position="first", key=sort_key).reset_index(drop=True)


def _cell_note(row) -> str:
    parts = []
    if row.n == 1:
        parts.append(f"one unit (one real subset and its GAN): CI over its {row.repeats} classifier repeats only"
                     if row.repeats > 1 else "one seed only: no CI")
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
    """Holm's family: every candidate the best-R pick ranks (analysis/selection.py), i.e. all GAN arms
    x ratios with the non-GAN axes equal (size, classifier, real, augment, ...). Correcting over the
    ratios of one arm only would let a pick over 9 arm x ratio cells pass as a choice among 3."""
    return [a for a in axes if a != "ratio" and not is_gan_axis(a)]


def _paired(values: pd.DataFrame, df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """R > 0 (and synthetic-only) rows joined with the real R = 0 row of the same pairing keys and `by`."""
    keys = pairing_keys(df)
    is_base = (values["ratio"].fillna(0) == 0) & values["real"].astype(bool)
    base = (values[is_base].groupby([*keys, *by], dropna=False)["value"].mean()
            .rename("base_value").reset_index())
    others = values[~is_base].copy()
    for frame in (others, base):
        frame[keys] = frame[keys].astype(object)
    return others.merge(base, on=[*keys, *by], how="inner")


def _t_interval(diff: np.ndarray, level: float) -> tuple[float, float]:
    if not np.isfinite(level) or len(diff) < 2:
        return np.nan, np.nan
    ci = mean_ci(diff, 1 - level)
    return ci.lo, ci.hi


def gains(df: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Per cell with R > 0 (or synthetic-only): the gain over the real-only R = 0 cell, paired by
    independent unit (the same real subset; classifier repeats inside a unit averaged first).

    Synthetic-only cells (real=False) are compared with the real R = 0 baseline too: their "gain" is
    what replacing the real images by synthetic ones costs (Abadi Table 2).
    Columns: axes, gain, gain_lo, gain_hi (95% t CI over units, before correction), boot_lo, boot_hi (BCa
    bootstrap, >= 5 units), p_value (paired t over units), p_holm (Holm over the family, see
    family_keys), adj_lo, adj_hi (the t interval at Holm's level for this test: it excludes 0 exactly
    when p_holm < 0.05), adj_level, family_size, n_pairs (complete unit pairs), spread (False: every
    unit differed by the same amount), baseline, and the classifier-noise view for cells with few
    units: n_repeats (repeat pairs by seed), local_lo, local_hi, local_p, local_p_holm.
    """
    metric = metric or choose_metrics(df).reported
    axes = design_axes(df)
    seeds = per_seed(df, metric)
    by_unit = _paired(per_unit(df, metric, seeds), df, [UNIT_COLUMN])
    by_seed = _paired(seeds, df, [UNIT_COLUMN, "seed"])
    seed_diffs = {key: (g["value"] - g["base_value"]).to_numpy()
                  for key, g in by_seed.groupby(axes, dropna=False, sort=True)}
    rows = []
    for key, group in by_unit.groupby(axes, dropna=False, sort=True):
        diff = (group["value"] - group["base_value"]).to_numpy()
        ci = mean_ci(diff)
        boot = bootstrap_ci(diff) if len(diff) >= BOOTSTRAP_MIN_SEEDS else (np.nan, np.nan)
        local = seed_diffs.get(key, np.array([]))
        rows.append({**dict(zip(axes, key, strict=True)), "gain": ci.mean, "gain_lo": ci.lo, "gain_hi": ci.hi,
                     "boot_lo": boot[0], "boot_hi": boot[1], "p_value": paired_p_value(diff),
                     "p_holm": np.nan, "adj_lo": np.nan, "adj_hi": np.nan, "adj_level": np.nan,
                     "family_size": 0, "n_pairs": len(diff), "spread": not no_spread(diff),
                     "baseline": float(group["base_value"].mean()), "n_repeats": len(local),
                     "local_lo": np.nan, "local_hi": np.nan, "local_p": paired_p_value(local),
                     "local_p_holm": np.nan, "_diff": diff, "_local": local})
    out = pd.DataFrame(rows, columns=[*axes, *GAIN_COLUMNS, "_diff", "_local"])
    if len(out):
        family = family_keys(axes)
        out[family] = out[family].astype(object)
        for _, members in out.groupby(family, dropna=False, sort=False):
            _correct_family(out, members.index)
    return out.drop(columns=["_diff", "_local"])


def _correct_family(out: pd.DataFrame, index: pd.Index) -> None:
    """Holm over every candidate of one family, and the intervals that agree with it. A candidate that
    could not be tested (one unit, no spread) still counts as a candidate: it enters with p = 1."""
    members = out.loc[index]
    out.loc[index, "family_size"] = len(index)
    for p_column, adjusted, diffs, lo, hi, level in (
            ("p_value", "p_holm", "_diff", "adj_lo", "adj_hi", "adj_level"),
            ("local_p", "local_p_holm", "_local", "local_lo", "local_hi", None)):
        raw = members[p_column].to_numpy(dtype=float)
        counted = np.where(np.isfinite(raw), raw, 1.0)
        p_adj, levels = holm(counted), holm_levels(counted)
        for position, (row, diff) in enumerate(zip(index, members[diffs], strict=True)):
            out.at[row, adjusted] = p_adj[position] if np.isfinite(raw[position]) else np.nan
            out.at[row, lo], out.at[row, hi] = _t_interval(diff, levels[position])
            if level:
                out.at[row, level] = levels[position]


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
