"""The best ratio R: chosen on validation, reported on test, judged with Holm-adjusted p-values.

Choosing the R with the highest *test* mean and then reporting its test gain is the winner's curse:
with k ratios the maximum of k noisy means is biased upwards. So the choice ranks cells on the mean
over seeds of `val_acc_max` (analysis/metrics.py), and the test gain of the chosen R is reported with
its paired CI, its raw p-value and its Holm-adjusted p-value over every ratio of its family; the
verdict uses the adjusted one. A study without a validation column is ranked on the reported metric
and every row says "chosen on test: optimistic".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.cells import cells_with_gains, sort_key, varying_axes
from analysis.columns import is_gan_axis
from analysis.load import tidy_trials
from analysis.metrics import SELECTION_METRIC, choose_metrics
from analysis.stats import VERDICT_HELPS, VERDICT_HURTS, VERDICT_WEAK, verdict

BEST_COLUMNS = ("best_ratio", "chosen_on", "chosen_on_test", "select_mean", "mean", "n", "baseline", "gain",
                "gain_lo", "gain_hi", "boot_lo", "boot_hi", "p_value", "p_holm", "verdict", "ratios_tested",
                "ratios_helped", "ratios_hurt", "ratios_lower")


def pick_best(candidates: pd.DataFrame) -> tuple[pd.Series | None, bool]:
    """The candidate cell with the highest selection mean (ties: the smaller R), and whether the choice
    fell back to the reported (test) mean because no candidate has a validation value."""
    candidates = candidates[candidates["n"] > 0]
    if candidates.empty:
        return None, False
    on_test = "select_mean" not in candidates or candidates["select_mean"].isna().all()
    rank = "mean" if on_test else "select_mean"
    ordered = candidates.assign(_rank=candidates[rank].fillna(-np.inf))
    ordered = ordered.sort_values(["_rank", "ratio"], ascending=[False, True], kind="stable")
    return ordered.iloc[0].drop("_rank"), on_test


def _uses_weak_gan(df: pd.DataFrame, values: dict, weak: Mapping[str, str]) -> bool:
    """Whether any ok trial of the cell given by `values` read a GAN that was too weak to judge."""
    if not weak or "gan_key" not in df:
        return False
    mask = df["status"] == "ok"
    for axis, value in values.items():
        if axis in df:
            mask &= df[axis].isna() if pd.isna(value) else (df[axis] == value)
    return bool(df.loc[mask, "gan_key"].isin(list(weak)).any())


def _ratio_counts(group: pd.DataFrame) -> dict:
    """How the R > 0 cells of one size fared against R = 0: tested, helped and hurt (Holm), and how many
    had a lower mean than R = 0 (all of them: R = 0 is the best choice there)."""
    tested = group[group["gain"].notna()]
    verdicts = [verdict(r["gain"], r["p_holm"]) for _, r in tested.iterrows()]
    return {"ratios_tested": len(tested), "ratios_helped": verdicts.count(VERDICT_HELPS),
            "ratios_hurt": verdicts.count(VERDICT_HURTS), "ratios_lower": int((tested["gain"] < 0).sum())}


def best_ratio_table(df: pd.DataFrame, metric: str | None = None, select_on: str | None = None,
                     weak: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Best R > 0 per size (and per any other varying non-GAN axis: classifier, real, augment, ...).

    Columns: the grouping axes (size first), best_ratio, the GAN settings of the winner when they vary,
    chosen_on (the selection metric), chosen_on_test, select_mean (its mean), mean (of `metric`), n,
    baseline (R = 0 mean), gain, gain_lo, gain_hi (t CI), boot_lo, boot_hi, p_value, p_holm, verdict, and
    for the whole size: ratios_tested, ratios_helped, ratios_hurt (Holm), ratios_lower (mean below R = 0).
    Only ok trials rank; a cell whose every trial diverged or errored cannot be best. `weak` (GAN key ->
    reason, analysis.gan_judgement.weak_gans) makes the verdict of a cell that read such a GAN
    VERDICT_WEAK, never "helps" or "hurts".
    Accepts a raw results.csv frame too (the CLI's summary reads the file directly).
    """
    df = tidy_trials(df)
    choice = choose_metrics(df)
    metric, select_on = metric or choice.reported, select_on or choice.selection
    merged = cells_with_gains(df, metric, select_on)
    merged = merged[(merged["n"] > 0) & (merged["ratio"].fillna(0) > 0)]
    if merged.empty:
        return pd.DataFrame(columns=["size", *BEST_COLUMNS])
    varying = [a for a in varying_axes(df) if a != "ratio"]
    group_axes = ["size"] + [a for a in varying if a != "size" and not is_gan_axis(a)]
    gan_shown = [a for a in varying if is_gan_axis(a)]
    rows = []
    for key, group in merged.groupby(group_axes, dropna=False, sort=True):
        best, on_test = pick_best(group)
        if best is None:
            continue
        chosen_on = metric if on_test else select_on
        rows.append({**dict(zip(group_axes, key, strict=True)), "best_ratio": best["ratio"],
                     **{a: best[a] for a in gan_shown}, "chosen_on": chosen_on,
                     "chosen_on_test": chosen_on != SELECTION_METRIC,
                     "select_mean": best["select_mean"], "mean": best["mean"], "n": int(best["n"]),
                     **{c: best[c] for c in ("baseline", "gain", "gain_lo", "gain_hi", "boot_lo", "boot_hi",
                                             "p_value", "p_holm")},
                     "verdict": VERDICT_WEAK if _uses_weak_gan(
                         df, {**dict(zip(group_axes, key, strict=True)), "ratio": best["ratio"],
                              **{a: best[a] for a in gan_shown}}, weak or {})
                     else verdict(best["gain"], best["p_holm"], best["gain_lo"], best["gain_hi"], int(best["n"])),
                     **_ratio_counts(group)})
    out = pd.DataFrame(rows)
    return out.sort_values(group_axes, key=sort_key).reset_index(drop=True)
